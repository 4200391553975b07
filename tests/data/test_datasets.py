"""Dataset layouts, checks, the model grid and pair sampling on tiny NIfTI files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hwreg.config import DataConfig, GridCentre, Layout
from hwreg.data import (
    check_dataset,
    find_subjects,
    prepare_subject,
    sample_batches,
    split,
)
from hwreg.data.grid import model_grid, remap_labels, resample, unmap_labels
from hwreg.data.nifti import Volume
from hwreg.errors import DataError, UserError
from tests.conftest import write_nifti


def test_ibsr_layout_found_and_checked(ibsr_dataset: Callable[..., Path]) -> None:
    root = ibsr_dataset(n=3)
    summaries = check_dataset(DataConfig(root=root))
    assert [s.id for s in summaries] == ["IBSR_01", "IBSR_02", "IBSR_03"]
    assert summaries[0].shape == (16, 12, 16)  # (X, Y, Z, 1) storage squeezed
    assert summaries[0].spacing == (1.0, 1.5, 1.0)
    assert summaries[0].label_ids == (2, 41)


def test_ibsr_unstripped_image_name_accepted(ibsr_dataset: Callable[..., Path]) -> None:
    root = ibsr_dataset(n=2)
    strip = root / "IBSR_02" / "IBSR_02_ana_strip.nii.gz"
    strip.rename(root / "IBSR_02" / "IBSR_02_ana.nii.gz")
    assert find_subjects(DataConfig(root=root))[1].image.name == "IBSR_02_ana.nii.gz"


def test_glob_layout_matches_by_star_parts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for sid in ("OASIS_0001", "OASIS_0002"):
        write_nifti(tmp_path / sid / "aligned_norm.nii.gz", rng.uniform(size=(6, 6, 6)))
        write_nifti(tmp_path / sid / "aligned_seg35.nii.gz", np.ones((6, 6, 6), np.uint8))
    cfg = DataConfig(root=tmp_path, layout=Layout.glob)
    subjects = find_subjects(cfg)
    assert [s.id for s in subjects] == ["OASIS_0001", "OASIS_0002"]
    assert all(s.labels.parent == s.image.parent for s in subjects)
    (tmp_path / "OASIS_0002" / "aligned_seg35.nii.gz").unlink()
    with pytest.raises(DataError, match=r"OASIS_0002/aligned_norm\.nii\.gz: no label map"):
        find_subjects(cfg)


@pytest.mark.parametrize(
    ("breakage", "fault"),
    [
        ("missing_label", r"IBSR_02_seg_ana\.nii\.gz: label file missing"),
        ("nan", r"IBSR_02_ana_strip\.nii\.gz: contains 1 NaN/Inf voxels"),
        ("shape", r"IBSR_02_seg_ana\.nii\.gz: shape \(16, 12, 15\) does not match"),
        ("affine", r"IBSR_02_seg_ana\.nii\.gz: affine does not match"),
        ("float_labels", r"IBSR_02_seg_ana\.nii\.gz: label map has non-integer values"),
        ("truncated", r"IBSR_02_ana_strip\.nii\.gz: "),
    ],
)
def test_check_names_bad_file(ibsr_dataset: Callable[..., Path], breakage: str,
                              fault: str) -> None:
    root = ibsr_dataset(n=3)
    folder = root / "IBSR_02"
    image, labels = folder / "IBSR_02_ana_strip.nii.gz", folder / "IBSR_02_seg_ana.nii.gz"
    if breakage == "missing_label":
        labels.unlink()
    elif breakage == "nan":
        data = np.ones((16, 12, 16), np.float32)
        data[1, 2, 3] = np.nan
        write_nifti(image, data, np.diag([1.0, 1.5, 1.0, 1.0]))
    elif breakage == "shape":
        write_nifti(labels, np.ones((16, 12, 15), np.uint8), np.diag([1.0, 1.5, 1.0, 1.0]))
    elif breakage == "affine":
        write_nifti(labels, np.ones((16, 12, 16), np.uint8), np.diag([1.0, 1.0, 1.0, 1.0]))
    elif breakage == "float_labels":
        write_nifti(labels, np.full((16, 12, 16), 2.5, np.float32),
                    np.diag([1.0, 1.5, 1.0, 1.0]))
    elif breakage == "truncated":
        image.write_bytes(image.read_bytes()[:200])
    with pytest.raises(DataError, match=fault):
        check_dataset(DataConfig(root=root))


def test_missing_dataset_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found"):
        find_subjects(DataConfig(root=tmp_path / "nope"))
    with pytest.raises(DataError, match="no IBSR_XX subject folders"):
        find_subjects(DataConfig(root=tmp_path))


def test_resample_identity_and_shift() -> None:
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    vol = Volume(data, affine)
    same = model_grid((4, 5, 6), 2.0, affine[:3, :3] @ np.array([1.5, 2.0, 2.5]))
    assert np.allclose(resample(vol, None, same, order=1), data, atol=1e-5)
    assert np.array_equal(resample(vol, None, same, order=0), data)
    # a grid shifted by one source voxel (+2 mm) along x reads data[i + 1]
    shifted = model_grid((4, 5, 6), 2.0, affine[:3, :3] @ np.array([2.5, 2.0, 2.5]))
    out = resample(vol, None, shifted, order=0)
    assert np.array_equal(out[:3], data[1:]) and np.array_equal(out[3], np.zeros((5, 6)))


def test_label_remap_round_trip() -> None:
    labels = np.array([0, 2, 41, 7, 60, 99], dtype=np.int32)
    idx = remap_labels(labels, [2, 41, 60])
    assert idx.tolist() == [0, 1, 2, 0, 3, 0]
    assert unmap_labels(idx, [2, 41, 60]).tolist() == [0, 2, 41, 0, 60, 0]


def test_prepare_subject_on_model_grid(ibsr_dataset: Callable[..., Path]) -> None:
    root = ibsr_dataset(n=2)
    cfg = DataConfig(root=root, grid_shape=(8, 8, 8), grid_spacing=2.0,
                     grid_centre=GridCentre.fov, label_ids=[41, 2])
    prep = prepare_subject(find_subjects(cfg)[0], cfg)
    assert prep.image.shape == prep.labels.shape == (8, 8, 8)
    assert prep.image.min() >= 0 and prep.image.max() == 1.0
    assert set(np.unique(prep.labels).tolist()) == {0, 1, 2}  # 41 -> 1, 2 -> 2
    assert prep.grid.spacing == (2.0, 2.0, 2.0)


def test_split_and_batches(ibsr_dataset: Callable[..., Path]) -> None:
    root = ibsr_dataset(n=5)
    cfg = DataConfig(root=root, grid_shape=(8, 8, 8), n_train=3, n_test=2, seed=3)
    subjects = find_subjects(cfg)
    train, test = split(subjects, cfg)
    assert len(train) == 3 and len(test) == 2 and not {s.id for s in train} & {s.id for s in test}
    assert split(subjects, cfg) == (train, test)  # deterministic
    prepared = [prepare_subject(s, cfg) for s in train]
    batch = next(sample_batches(prepared, 4, np.random.default_rng(0)))
    assert batch.fixed_image.shape == batch.moving_label.shape == (4, 1, 8, 8, 8)
    assert set(np.unique(batch.fixed_label).tolist()) <= {0.0, 1.0}
    for b in range(4):  # the binary masks are the sampled label of each pair
        assert batch.fixed_label[b].sum() > 0 and batch.moving_label[b].sum() > 0
    with pytest.raises(UserError, match="at least 2"):
        next(sample_batches(prepared[:1], 2, np.random.default_rng(0)))
