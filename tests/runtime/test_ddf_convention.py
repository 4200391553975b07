"""The written DDF follows ITK/ANTs (a FIXED point x maps to x + d(x) in MOVING, LPS mm), checked
with scipy, independent of hwreg's torch sampling; the torch map-back matches the scipy code it
replaced."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy import ndimage

from hwreg.data.nifti import Volume
from hwreg.runtime.register import map_to_fixed, register_files
from tests.conftest import write_nifti

_LPS = np.array([-1.0, -1.0, 1.0])


def _apply_ddf_scipy(ddf_path: Path, moving: Path, order: int) -> np.ndarray:
    """Warp MOVING onto the DDF's grid the ITK way: y = x + d(x), d read as LPS mm."""
    img = nib.load(str(ddf_path))
    disp = np.asarray(img.dataobj)[:, :, :, 0, :].astype(np.float64)  # (X, Y, Z, 3) LPS mm
    idx = np.indices(img.shape[:3], dtype=np.float64).reshape(3, -1)
    x = img.affine[:3, :3] @ idx + img.affine[:3, 3:4]  # RAS mm
    y = x + (disp.reshape(-1, 3) * _LPS).T  # LPS -> RAS
    mov = nib.load(str(moving))
    data = np.asarray(mov.dataobj).reshape(mov.shape[:3])
    inv = np.linalg.inv(mov.affine)
    vox = inv[:3, :3] @ y + inv[:3, 3:4]
    out = ndimage.map_coordinates(data, vox, order=order, mode="constant", cval=0,
                                  prefilter=False)
    return out.reshape(img.shape[:3])


def test_known_shift_signs_included(tmp_path: Path, zero_model: Path) -> None:
    """MOVING is FIXED moved by t = (+6, -4, +3) mm (RAS): with a zero network DDF the centring
    alone must give d = t everywhere, stored as LPS (-6, +4, +3); applying it to MOVING gives
    FIXED back."""
    rng = np.random.default_rng(0)
    data = np.zeros((14, 18, 12), np.float32)
    data[3:11, 4:15, 2:10] = rng.uniform(20, 100, (8, 11, 8))
    # FIXED stored LPS-like (x and y flipped) and anisotropic, so stored axes are not RAS
    fixed_affine = np.array([[-2.0, 0, 0, 30], [0, -1.5, 0, 20], [0, 0, 2.5, -10], [0, 0, 0, 1]])
    t = np.array([6.0, -4.0, 3.0])
    moving_affine = fixed_affine.copy()
    moving_affine[:3, 3] += t
    fixed = write_nifti(tmp_path / "fixed.nii.gz", data, fixed_affine)
    moving = write_nifti(tmp_path / "moving.nii.gz", data, moving_affine)
    label = write_nifti(tmp_path / "label.nii.gz", (data > 50).astype(np.int16) * 7,
                        moving_affine)
    out = tmp_path / "out"
    register_files(fixed, moving, out, model=zero_model, moving_label=label)
    disp = np.asarray(nib.load(out / "ddf.nii.gz").dataobj)
    np.testing.assert_allclose(disp, np.broadcast_to(t * _LPS, disp.shape), atol=1e-4)
    np.testing.assert_allclose(_apply_ddf_scipy(out / "ddf.nii.gz", moving, 1), data, atol=1e-3)
    warped = np.asarray(nib.load(out / "warped.nii.gz").dataobj)
    np.testing.assert_allclose(warped, data, atol=1e-3)
    warped_label = np.asarray(nib.load(out / "warped_label.nii.gz").dataobj)
    np.testing.assert_array_equal(warped_label, (data > 50) * 7)
    np.testing.assert_array_equal(_apply_ddf_scipy(out / "ddf.nii.gz", label, 0), warped_label)


def test_nonzero_ddf_applied_by_scipy_matches_outputs(tmp_path: Path, tiny_model: Path) -> None:
    """A real (non-zero, non-constant) network DDF: scipy applying ddf.nii.gz to MOVING
    reproduces warped.nii.gz and warped_label.nii.gz (oblique FIXED, LAS 4D MOVING)."""
    from tests.runtime.conftest import make_pair

    fixed, moving, label, _ = make_pair(tmp_path)
    out = tmp_path / "out"
    register_files(fixed, moving, out, model=tiny_model, moving_label=label)
    disp = np.asarray(nib.load(out / "ddf.nii.gz").dataobj)
    assert np.ptp(disp[..., 0, 0]) > 0.5  # the field varies: not a bare translation
    warped = np.asarray(nib.load(out / "warped.nii.gz").dataobj)
    np.testing.assert_allclose(_apply_ddf_scipy(out / "ddf.nii.gz", moving, 1), warped,
                               atol=2e-3)
    ref_label = _apply_ddf_scipy(out / "ddf.nii.gz", label, 0)
    got_label = np.asarray(nib.load(out / "warped_label.nii.gz").dataobj)
    assert (ref_label != got_label).mean() < 0.01  # only float ties at label borders may differ


def _reference_map_back(ddf: np.ndarray, grid_f: np.ndarray, grid_m: np.ndarray,
                        shape: tuple[int, int, int], affine: np.ndarray,
                        moving: Volume) -> tuple[np.ndarray, np.ndarray]:
    """The scipy implementation the torch map-back replaced (float64, per voxel)."""
    idx = np.indices(shape, dtype=np.float64).reshape(3, -1)
    world = affine[:3, :3] @ idx + affine[:3, 3:4]
    inv_f = np.linalg.inv(grid_f)
    p = inv_f[:3, :3] @ world + inv_f[:3, 3:4]
    u = np.stack([ndimage.map_coordinates(ddf[k], p, order=1, mode="nearest", prefilter=False)
                  for k in range(3)])
    y = grid_m[:3, :3] @ (p + u) + grid_m[:3, 3:4]
    disp = ((y - world) * _LPS[:, None]).T.reshape(*shape, 1, 3)
    inv_m = np.linalg.inv(moving.affine)
    vox = inv_m[:3, :3] @ y + inv_m[:3, 3:4]
    warped = ndimage.map_coordinates(moving.data, vox, order=1, mode="constant", cval=0,
                                     prefilter=False).reshape(shape)
    return disp, warped


@pytest.mark.parametrize("oblique", [False, True])  # separable path, grid_sample path
def test_map_back_matches_scipy_reference(oblique: bool) -> None:
    rng = np.random.default_rng(1)
    ddf = rng.normal(0, 1.5, (3, 6, 8, 5)).astype(np.float32)
    grid_f, grid_m = np.diag([3.0, 3, 3, 1]), np.diag([3.0, 3, 3, 1])
    grid_f[:3, 3], grid_m[:3, 3] = [-5, -7, -4], [-4, -6, -5]
    affine = np.array([[0, -1.5, 0, 20], [0, 0, 2.0, -30], [-1.2, 0, 0, 10], [0, 0, 0, 1]])
    if oblique:  # rotate FIXED's grid 20 degrees about z
        c, s = np.cos(0.35), np.sin(0.35)
        affine = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]) @ affine
    moving = Volume(rng.uniform(0, 1, (15, 9, 14)).astype(np.float32),
                    np.array([[2.0, 0, 0, -15], [0, 2.5, 0, -10], [0, 0, 1.5, -8], [0, 0, 0, 1]]))
    shape = (13, 17, 11)
    disp, warped, _ = map_to_fixed(torch.from_numpy(ddf), grid_f, grid_m, shape, affine, moving)
    ref_disp, ref_warped = _reference_map_back(ddf, grid_f, grid_m, shape, affine, moving)
    assert 0.05 < (ref_warped != 0).mean() < 1  # part of FIXED maps outside MOVING
    np.testing.assert_allclose(disp, ref_disp, atol=1e-4)
    np.testing.assert_allclose(warped, ref_warped, atol=1e-4)
