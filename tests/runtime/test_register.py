"""Label-free registration of NIfTI pairs: outputs in FIXED's space, bad inputs, --force."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from hwreg.checkpoint import atomic_save
from hwreg.cli import main
from hwreg.config import DataConfig
from hwreg.model import ModelConfig, build_model
from hwreg.run import RunConfig
from hwreg.train import model_dict
from tests.conftest import write_nifti


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny W4A4 model file with a non-trivial head (so the DDF is not zero)."""
    torch.manual_seed(0)
    cfg = RunConfig(data=DataConfig(grid_shape=(8, 12, 8), grid_spacing=4.0),
                    model=ModelConfig(preset="tiny", weight_bits=4, act_bits=4))
    model = build_model(cfg.model)
    torch.nn.init.normal_(model.head.weight, std=0.3)
    model.train()
    for _ in range(3):  # let the activation quantizers collect statistics
        model(torch.rand(1, 1, 8, 12, 8), torch.rand(1, 1, 8, 12, 8))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    atomic_save(model_dict(cfg, model.eval(), 0, {}), path)
    return path


def _pair(tmp_path: Path) -> tuple[Path, Path, Path, np.ndarray]:
    rng = np.random.default_rng(0)
    fixed_affine = np.array([[0, -1.5, 0, 20], [0, 0, 2.0, -30], [-1.2, 0, 0, 10], [0, 0, 0, 1]])
    fixed = write_nifti(tmp_path / "fixed.nii.gz", rng.uniform(0, 100, (13, 17, 11))
                        .astype(np.float32), fixed_affine)
    moving_data = np.zeros((15, 9, 14), np.float32)
    moving_data[3:12, 2:7, 4:11] = rng.uniform(50, 100, (9, 5, 7))
    moving_affine = np.diag([-2.0, 2.5, 1.5, 1.0])  # LAS, anisotropic
    moving = write_nifti(tmp_path / "moving.nii.gz", moving_data[..., None], moving_affine)
    labels = np.zeros((15, 9, 14), np.int16)
    labels[3:8, 2:7, 4:11], labels[8:12, 2:7, 4:11] = 17, 1000
    label = write_nifti(tmp_path / "label.nii.gz", labels, moving_affine)
    return fixed, moving, label, fixed_affine


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``hwreg register ...`` in-process (fast); stderr captured as a user sees it."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["register", *args])
    return subprocess.CompletedProcess(args, code, "", err.getvalue())


def test_register_subprocess_bad_input_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hwreg.cli", "register", str(tmp_path / "a"),
                             str(tmp_path / "b"), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"hwreg: error: {tmp_path / 'a'}: file not found"


def test_outputs_in_fixed_space(tmp_path: Path, tiny_model: Path) -> None:
    fixed, moving, label, fixed_affine = _pair(tmp_path)
    out = tmp_path / "out"
    result = run_cli(str(fixed), str(moving), "--out", str(out), "--model", str(tiny_model),
                     "--moving-label", str(label))
    assert result.returncode == 0, result.stderr
    for name in ("warped.nii.gz", "ddf.nii.gz", "warped_label.nii.gz"):
        img = nib.load(out / name)
        assert img.shape[:3] == (13, 17, 11), name
        assert np.allclose(img.affine, fixed_affine), name
    ddf = nib.load(out / "ddf.nii.gz")
    assert ddf.shape == (13, 17, 11, 1, 3) and ddf.header.get_intent()[0] == "vector"
    assert np.isfinite(ddf.get_fdata()).all()
    warped_label = np.asarray(nib.load(out / "warped_label.nii.gz").dataobj)
    assert set(np.unique(warped_label).tolist()) <= {0, 17, 1000}  # ids kept, no blending
    assert warped_label.dtype == np.int16


def test_existing_outputs_need_force(tmp_path: Path, tiny_model: Path) -> None:
    fixed, moving, _, _ = _pair(tmp_path)
    out = tmp_path / "out"
    assert run_cli(str(fixed), str(moving), "--out", str(out), "--model",
                   str(tiny_model)).returncode == 0
    before = (out / "warped.nii.gz").stat().st_mtime_ns
    again = run_cli(str(fixed), str(moving), "--out", str(out), "--model", str(tiny_model))
    assert again.returncode == 2 and "--force" in again.stderr
    assert (out / "warped.nii.gz").stat().st_mtime_ns == before
    forced = run_cli(str(fixed), str(moving), "--out", str(out), "--model", str(tiny_model),
                     "--force")
    assert forced.returncode == 0


@pytest.mark.parametrize("fault", ["missing", "corrupt", "2d", "4d", "nan", "label_shape"])
def test_bad_inputs_write_nothing(tmp_path: Path, tiny_model: Path, fault: str) -> None:
    fixed, moving, label, _ = _pair(tmp_path)
    bad, args = moving, [str(fixed), str(moving)]
    if fault == "missing":
        bad = tmp_path / "nope.nii.gz"
        args = [str(fixed), str(bad)]
    elif fault == "corrupt":
        moving.write_bytes(moving.read_bytes()[:100])
    elif fault == "2d":
        write_nifti(moving, np.ones((5, 5), np.float32))
    elif fault == "4d":
        write_nifti(moving, np.ones((5, 5, 5, 3), np.float32))
    elif fault == "nan":
        write_nifti(moving, np.full((5, 5, 5), np.nan, np.float32))
    elif fault == "label_shape":
        bad = label
        write_nifti(label, np.ones((4, 4, 4), np.int16))
    out = tmp_path / "out"
    result = run_cli(*args, "--out", str(out), "--model", str(tiny_model),
                     "--moving-label", str(label))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert bad.name in result.stderr
    assert not out.exists()


def test_unknown_model_name(tmp_path: Path) -> None:
    fixed, moving, _, _ = _pair(tmp_path)
    result = run_cli(str(fixed), str(moving), "--out", str(tmp_path / "o"), "--model", "nope")
    assert result.returncode == 2 and "demo-w4a4" in result.stderr
