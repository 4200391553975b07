"""Torch resampling (hwreg.data.sampling) against scipy.ndimage, the implementation it replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.nn import functional

from hwreg.config import GridCentre
from hwreg.data.grid import centre_of, model_grid, resample
from hwreg.data.nifti import Volume
from hwreg.data.sampling import (
    affine_planes,
    affine_slab,
    grid_sample_points,
    lerp_axis,
    lerp_planes,
    resample_affine,
    sample_at,
    separable_plan,
)


def _mapping(rng: np.random.Generator) -> np.ndarray:
    """A random oblique, anisotropic target->source voxel map that reaches outside the source."""
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    m = np.eye(4)
    m[:3, :3] = q @ np.diag(rng.uniform(0.6, 1.7, 3))
    # target centre (4.5, 5.5, 3.5) -> near the source centre (5, 3, 4), give or take 3 voxels
    m[:3, 3] = np.array([5.0, 3.0, 4.0]) - m[:3, :3] @ np.array([4.5, 5.5, 3.5]) \
        + rng.uniform(-3, 3, 3)
    return m


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trilinear_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 100, (11, 7, 9)).astype(np.float32)
    m, shape = _mapping(rng), (10, 12, 8)
    ours = resample_affine(data, m, shape, order=1)
    ref = ndimage.affine_transform(data, m[:3, :3], m[:3, 3], shape, order=1, mode="constant",
                                   cval=0, prefilter=False)
    assert ours.dtype == np.float32 and 0 < (ours == 0).sum() < ours.size  # some points outside
    np.testing.assert_allclose(ours, ref, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint16])
def test_nearest_matches_scipy_and_keeps_ids(dtype: type) -> None:
    rng = np.random.default_rng(3)
    data = rng.choice(np.array([0, 17, 1000, 30000], dtype), size=(11, 7, 9))
    m, shape = _mapping(rng), (10, 12, 8)
    ours = resample_affine(data, m, shape, order=0)
    ref = ndimage.affine_transform(data, m[:3, :3], m[:3, 3], shape, order=0, mode="constant",
                                   cval=0, prefilter=False)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, ref)


def test_known_values_and_border_modes() -> None:
    src = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)  # (C, X, Y, Z), one-voxel Y and Z
    pos = torch.tensor([[-1e-9, 0, 0], [0, 0, 0], [1.5, 0, 0], [2.0, 0, 0], [2.5, 0, 0],
                        [1.0, 1e-9, 0]], dtype=torch.float64)
    assert sample_at(src, pos, 1)[0].tolist() == [0.0, 1.0, 2.5, 3.0, 0.0, 0.0]
    assert sample_at(src, pos, 1, outside="border")[0].tolist() == [1.0, 1.0, 2.5, 3.0, 3.0, 2.0]
    assert sample_at(src, pos, 0)[0].tolist() == [0.0, 1.0, 3.0, 3.0, 0.0, 0.0]  # halves up


def test_model_grid_resample_and_centre_match_scipy() -> None:
    rng = np.random.default_rng(4)
    data = np.zeros((30, 26, 22), np.float32)
    data[5:25, 4:20, 6:18] = rng.uniform(10, 50, (20, 16, 12))
    affine = np.array([[-1.0, 0, 0, 40], [0, 1.2, 0, -20], [0, 0, 0.9, 5], [0, 0, 0, 1]])
    vol = Volume(data, affine)
    centre = centre_of(vol, GridCentre.mass)
    idx = np.array(ndimage.center_of_mass(data.astype(np.float64)))
    np.testing.assert_allclose(centre, affine[:3, :3] @ idx + affine[:3, 3], atol=1e-9)
    grid = model_grid((8, 12, 8), 3.0, centre)
    m = np.linalg.solve(affine, grid.affine)
    ref = ndimage.affine_transform(data, m[:3, :3], m[:3, 3], grid.shape, order=1,
                                   mode="constant", cval=0, prefilter=False)
    np.testing.assert_allclose(resample(vol, None, grid, order=1), ref, atol=1e-3)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_points_equals_one_call(threads: int, mode: str) -> None:
    """Split over threads (and a remainder), the values are those of one grid_sample call."""
    rng = torch.Generator().manual_seed(0)
    src = torch.rand(1, 2, 5, 6, 7, generator=rng)
    grid = torch.rand(301, 3, generator=rng) * 2.4 - 1.2  # some points outside
    want = functional.grid_sample(src, grid.view(1, 1, 1, -1, 3), mode=mode,
                                  padding_mode="zeros", align_corners=True).view(2, -1)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = grid_sample_points(src, grid, mode, "zeros")
    finally:
        torch.set_num_threads(before)
    assert got.shape == (2, 301) and torch.equal(got, want)


def test_affine_planes_is_affine_slab_component_major() -> None:
    matrix = np.array([[0.3, 0.1, 0.0, 2.5], [0.0, -0.7, 0.2, 1.0], [0.05, 0.0, 1.1, -4.0],
                       [0.0, 0.0, 0.0, 1.0]])
    shape = (9, 7, 5)
    whole = torch.full((3, 2, *shape), np.nan)  # a strided view between components, as in use
    for a, b in ((0, 4), (4, 9)):
        got = affine_planes(matrix, shape, a, b, whole[:, 1, a:b])
        assert torch.equal(got, affine_slab(matrix, shape, a, b).permute(3, 0, 1, 2))
    assert torch.isnan(whole[:, 0]).all()  # nothing outside the view written


def test_lerp_planes_matches_lerp_axis() -> None:
    x = torch.rand(3, 6, 4, 5)
    matrix = np.diag([0.37, 1.0, 1.0, 1.0])
    matrix[0, 3] = -0.4  # clamped at the low border
    plan = separable_plan(matrix, (6, 4, 5), (17, 4, 5))
    assert plan is not None
    for a, b in ((0, 17), (3, 11)):
        got = lerp_planes(x, plan[0], a, b)
        assert got.shape == (3, b - a, 4, 5)
        assert torch.allclose(got, lerp_axis(x, 1, plan[0], a, b), atol=1e-6, rtol=0)
