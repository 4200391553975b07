"""Property-based tests (hypothesis) of the NIfTI and config readers: whatever the bytes or the
values, a reader returns a valid result or raises the one-line user error; nothing else escapes.
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwreg.data.nifti import load_image, load_labels
from hwreg.errors import UserError
from hwreg.run import load_run_config

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_nifti_bytes() -> bytes:
    img = nib.Nifti1Image(np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2),
                          np.diag([2.0, 1.0, 1.5, 1.0]))
    return img.to_bytes()


VALID = _valid_nifti_bytes()
HEADER = 348  # bytes of a NIfTI-1 header


def _read_or_refuse(path: Path, labels: bool) -> None:
    """Read ``path``: either a one-line UserError naming it, or a volume that passes the checks."""
    try:
        vol = (load_labels if labels else load_image)(path)
    except UserError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    _check_volume(vol, labels)


def _check_volume(vol: object, labels: bool) -> None:
    data = vol.data  # type: ignore[attr-defined]
    assert data.ndim == 3 and min(data.shape) >= 1
    assert np.isfinite(vol.affine).all()  # type: ignore[attr-defined]
    assert all(s > 0 for s in vol.spacing)  # type: ignore[attr-defined]
    if labels:
        assert data.dtype == np.int32 and (data >= 0).all()
    else:
        assert data.dtype == np.float32 and np.isfinite(data).all()


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)),
                      min_size=1, max_size=12),
       cut=st.one_of(st.none(), st.integers(0, len(VALID))),
       labels=st.booleans())
def test_nifti_reader_on_corrupted_bytes(tmp_path: Path, edits: list[tuple[int, int]],
                                         cut: int | None, labels: bool) -> None:
    raw = bytearray(VALID)
    for pos, value in edits:
        raw[pos if pos < len(raw) else 0] = value
    if cut is not None:
        raw = raw[:cut]
    path = tmp_path / "x.nii"
    path.write_bytes(bytes(raw))
    _read_or_refuse(path, labels)


@SETTINGS
@given(shape=st.lists(st.integers(1, 5), min_size=3, max_size=3),
       dtype=st.sampled_from(["uint8", "int16", "int32", "float32", "float64", "complex64",
                              "int8", "uint16"]),
       diag=st.lists(st.sampled_from([0.0, -1.0, 0.5, 1.0, 3.0, math.inf, math.nan]),
                     min_size=3, max_size=3),
       shear=st.sampled_from([0.0, 1.0, 1e9]),
       fill=st.sampled_from([0.0, 1.0, -3.0, 2.5, 1e6, math.nan, math.inf]),
       labels=st.booleans())
def test_nifti_reader_on_strange_headers_and_values(tmp_path: Path, shape: list[int], dtype: str,
                                                    diag: list[float], shear: float,
                                                    fill: float, labels: bool) -> None:
    affine = np.diag([*diag, 1.0])
    affine[0, 1] = shear
    with np.errstate(invalid="ignore", over="ignore"):
        data = np.full(shape, fill).astype(dtype)
    path = tmp_path / "x.nii.gz"
    try:
        img = nib.Nifti1Image(data, affine)
        img.to_filename(str(path))
    except Exception:  # nibabel refuses to write it: nothing for our reader to read
        return
    _read_or_refuse(path, labels)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)

#: Real keys of a run config, so that values (not only unknown keys) are exercised.
KEYS = {
    "data": ["root", "layout", "grid_shape", "grid_spacing", "grid_centre", "label_ids",
             "n_train", "n_test", "seed", "source", "atlas"],
    "model": ["preset", "channels", "weight_bits", "act_bits", "head_level", "overrides",
              "cascade", "flips"],
    "loss": ["dice_sigmas", "regulariser", "reg_weight", "image", "lncc_window"],
    "train": ["steps", "batch_size", "lr", "eval_every", "checkpoint_every", "device",
              "threads", "init_from"],
}


@st.composite
def run_configs(draw: st.DrawFn) -> object:
    if draw(st.booleans()):
        return draw(values)  # anything at all
    cfg: dict = {}
    for section, keys in KEYS.items():
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
            cfg[section] = {k: draw(values) for k in chosen}
    return cfg


@SETTINGS
@given(cfg=run_configs())
def test_config_reader_on_arbitrary_yaml(tmp_path: Path, cfg: object) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    try:
        run = load_run_config(path)
    except UserError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    run.validate()  # whatever loads is valid
    assert run.train.lr > 0 and math.isfinite(run.train.lr)
    assert all(s >= 1 for s in run.data.grid_shape) and run.data.grid_spacing > 0


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_config_reader_on_arbitrary_bytes(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "run.yaml"
    path.write_bytes(raw)
    try:
        load_run_config(path)
    except UserError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)


@pytest.mark.parametrize("text", ["train:\n  lr: .nan\n", "data:\n  grid_spacing: -.inf\n",
                                  "train:\n  checkpoint_every: 0\n"])
def test_config_nan_and_zero_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=str(path)):
        load_run_config(path)
