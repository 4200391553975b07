"""NIfTI loading contract: RAS+, spacing, 4D squeeze, and one-line errors naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hwreg.data.nifti import check_pair, load_image, load_labels, require_absent, save_nifti
from hwreg.errors import DataError, UserError
from tests.conftest import write_nifti


def test_singleton_4th_dim_squeezed_and_spacing_read(tmp_path: Path) -> None:
    data = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5, 1)
    path = write_nifti(tmp_path / "a.nii.gz", data, np.diag([1.0, 1.5, 2.0, 1.0]))
    vol = load_image(path)
    assert vol.shape == (4, 3, 5)
    assert vol.spacing == (1.0, 1.5, 2.0)
    assert np.array_equal(vol.data, data[..., 0])


def test_non_ras_affine_is_reoriented(tmp_path: Path) -> None:
    # LAS storage (like the deepmriprep atlas): axis 0 runs right-to-left
    data = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2)
    affine = np.diag([-2.0, 1.0, 1.0, 1.0])
    affine[0, 3] = 10.0
    vol = load_labels(write_nifti(tmp_path / "las.nii.gz", data, affine))
    assert np.array_equal(vol.data, data[::-1])  # flipped along axis 0
    assert vol.affine[0, 0] == 2.0  # now R+
    # the world position of the voxel holding value 0 is unchanged: x = 10 - 2*0 = 10
    idx = np.argwhere(vol.data == 0)[0]
    assert (vol.affine @ np.array([*idx, 1]))[0] == 10.0


def test_labels_int32_and_float_integer_labels_accepted(tmp_path: Path) -> None:
    lab = np.array([[[0, 2], [41, 60]]], dtype=np.float32)
    vol = load_labels(write_nifti(tmp_path / "l.nii.gz", lab))
    assert vol.data.dtype == np.int32
    assert np.array_equal(vol.data, lab.astype(np.int32))


@pytest.mark.parametrize(
    ("data", "loader", "fault"),
    [
        (np.zeros((4, 4), np.float32), load_image, "expected a 3D volume, got shape (4, 4)"),
        (np.zeros((4, 4, 4, 2), np.float32), load_image, "expected a 3D volume"),
        (np.full((2, 2, 2), np.nan, np.float32), load_image, "NaN/Inf"),
        (np.full((2, 2, 2), 1.5, np.float32), load_labels, "non-integer values"),
        (np.full((2, 2, 2), -1, np.int16), load_labels, "negative id"),
    ],
    ids=["2d", "real-4d", "nan", "non-integer-labels", "negative-labels"],
)
def test_bad_volumes_name_file_and_fault(tmp_path: Path, data, loader, fault: str) -> None:
    path = write_nifti(tmp_path / "bad.nii.gz", data)
    with pytest.raises(DataError) as err:
        loader(path)
    assert str(path) in str(err.value) and fault in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_and_corrupt_and_missing_files(tmp_path: Path) -> None:
    good = write_nifti(tmp_path / "good.nii.gz", np.ones((8, 8, 8), np.float32))
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(raw[: len(raw) // 2])
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    for path in (truncated, garbage, tmp_path / "missing.nii.gz"):
        with pytest.raises(DataError, match=str(path)):
            load_image(path)


def test_check_pair_shape_and_affine(tmp_path: Path) -> None:
    img = load_image(write_nifti(tmp_path / "i.nii.gz", np.ones((4, 4, 4), np.float32)))
    small = load_labels(write_nifti(tmp_path / "s.nii.gz", np.ones((4, 4, 3), np.uint8)))
    moved = load_labels(write_nifti(tmp_path / "m.nii.gz", np.ones((4, 4, 4), np.uint8),
                                    np.diag([2.0, 1, 1, 1])))
    with pytest.raises(DataError, match=r"s\.nii\.gz: shape \(4, 4, 3\) does not match"):
        check_pair(img, small)
    with pytest.raises(DataError, match=r"m\.nii\.gz: affine does not match"):
        check_pair(img, moved)


def test_save_nifti_round_trip_and_no_overwrite(tmp_path: Path) -> None:
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    affine = np.diag([1.0, 2.0, 3.0, 1.0])
    path = save_nifti(data, affine, tmp_path / "x.nii.gz")
    vol = load_labels(path)
    assert np.array_equal(vol.data, data) and np.allclose(vol.affine, affine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nii.gz"]  # no temp file left
    with pytest.raises(UserError, match="--force"):
        require_absent([path], force=False)
    require_absent([path], force=True)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "float64"])
def test_gzip_voxels_read_as_nibabel_reads_them(tmp_path: Path, dtype: str) -> None:
    """.nii.gz voxels come through ISA-L's gzip: the same values (scaled, reoriented) and dtype
    as nibabel's own reader gives, for scaled integers and a flipped, permuted axis order."""
    import nibabel as nib

    rng = np.random.default_rng(3)
    data = (rng.random((7, 5, 6)) * 100).astype(dtype)
    affine = np.array([[0.0, -2.0, 0, 5], [1.5, 0, 0, -3], [0, 0, 1.0, 2], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    if dtype == "int16":
        img.header.set_slope_inter(0.5, -3.0)
    path = tmp_path / f"x_{dtype}.nii.gz"
    img.to_filename(str(path))
    expected = np.asanyarray(nib.as_closest_canonical(nib.load(str(path))).dataobj)
    vol = load_image(path)
    assert np.array_equal(vol.data, expected.astype(np.float32))
    if dtype == "uint8":  # an integer label map keeps its values
        assert np.array_equal(load_labels(path).data, expected)


def test_corrupt_gzip_voxels_are_one_line_errors(tmp_path: Path) -> None:
    good = write_nifti(tmp_path / "good.nii.gz", np.arange(4000, dtype=np.float32).reshape(
        20, 20, 10))
    raw = bytearray(good.read_bytes())
    for name, edit in (("flipped", lambda b: b[:200] + bytes(x ^ 0xFF for x in b[200:400])
                        + b[400:]),
                       ("cut", lambda b: b[: len(b) - 40]),
                       ("crc", lambda b: b[:-8] + bytes(8))):
        path = tmp_path / f"{name}.nii.gz"
        path.write_bytes(bytes(edit(raw)))
        with pytest.raises(DataError, match=str(path)) as err:
            load_image(path)
        assert "\n" not in str(err.value)
