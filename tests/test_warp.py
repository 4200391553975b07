"""Tests of hwreg.warp: the DDF convention on tiny hand-computed volumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.nn import functional

from hwreg.warp import (
    identity_grid,
    upsample_ddf,
    warp_image,
    warp_image_np,
    warp_labels,
    warp_labels_np,
    warp_onehot,
)

SHAPE = (6, 7, 8)


def _cube(shape: tuple[int, int, int] = SHAPE, start: int = 2, value: int = 1) -> np.ndarray:
    """A 2x2x2 cube of ``value`` at ``[start:start+2]`` along every axis."""
    vol = np.zeros(shape, dtype=np.int64)
    vol[start : start + 2, start : start + 2, start : start + 2] = value
    return vol


def _constant_ddf(shape: tuple[int, int, int], vector: tuple[float, float, float]) -> np.ndarray:
    """``(3, D, H, W)`` DDF equal to ``vector`` everywhere."""
    return np.broadcast_to(np.asarray(vector, dtype=np.float64)[:, None, None, None], (3, *shape))


def test_identity_grid_values() -> None:
    grid = identity_grid((2, 3, 4), dtype=torch.float64)
    assert grid.shape == (3, 2, 3, 4)
    assert grid[:, 1, 2, 3].tolist() == [1.0, 2.0, 3.0]
    assert torch.equal(grid[2, 0, 0], torch.arange(4, dtype=torch.float64))


def test_identity_ddf_returns_input() -> None:
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, *SHAPE, generator=gen)
    labels = torch.randint(0, 5, (2, 1, *SHAPE), generator=gen)
    ddf = torch.zeros(2, 3, *SHAPE)
    torch.testing.assert_close(warp_image(image, ddf), image, rtol=0, atol=1e-6)
    assert torch.equal(warp_labels(labels, ddf), labels)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_one_voxel_shift_moves_cube_by_one_voxel(axis: int) -> None:
    moving = _cube(value=3)
    vector = [0.0, 0.0, 0.0]
    vector[axis] = 1.0
    ddf = _constant_ddf(SHAPE, tuple(vector))
    # warped(p) = moving(p + e_axis): the cube at [2:4] appears at [1:3] along `axis`
    expected = np.zeros(SHAPE, dtype=np.int64)
    index = [slice(2, 4)] * 3
    index[axis] = slice(1, 3)
    expected[tuple(index)] = 3
    assert np.array_equal(warp_labels_np(moving, ddf), expected)
    image = warp_image_np((moving > 0).astype(np.float32), ddf)
    np.testing.assert_allclose(image, (expected > 0).astype(np.float64), rtol=0, atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_sampling_outside_reads_zero(axis: int) -> None:
    moving = np.ones(SHAPE)
    vector = [0.0, 0.0, 0.0]
    vector[axis] = -1.0
    ddf = _constant_ddf(SHAPE, tuple(vector))
    expected = np.ones(SHAPE)
    index = [slice(None)] * 3
    index[axis] = 0  # p - e_axis is outside for the first slice
    expected[tuple(index)] = 0.0
    np.testing.assert_allclose(warp_image_np(moving, ddf), expected, rtol=0, atol=1e-6)
    assert np.array_equal(warp_labels_np(moving.astype(np.int32), ddf), expected.astype(np.int32))
    far = _constant_ddf(SHAPE, (100.0, 0.0, 0.0))
    assert np.array_equal(warp_image_np(moving, far), np.zeros(SHAPE))


def test_half_voxel_shift_interpolates_linearly() -> None:
    moving = np.arange(4, dtype=np.float64)[:, None, None] * np.ones((4, 2, 3))
    out = warp_image_np(moving, _constant_ddf((4, 2, 3), (0.5, 0.0, 0.0)))
    # values 0, 1, 2, 3 along axis 0 sampled at 0.5, 1.5, 2.5, 3.5 (the last half outside)
    np.testing.assert_allclose(out[:, 0, 0], [0.5, 1.5, 2.5, 1.5], rtol=0, atol=1e-9)


def test_rejects_image_axis_of_length_one() -> None:
    with pytest.raises(ValueError, match="length >= 2"):
        warp_image_np(np.ones((1, 3, 4)), np.zeros((3, 1, 3, 4)))


def test_matches_scipy_map_coordinates() -> None:
    """An independent trilinear reference (scipy, order 1, zeros outside) on a random DDF."""
    rng = np.random.default_rng(1)
    shape = (5, 6, 7)
    image = rng.uniform(size=shape)
    ddf = rng.uniform(-2.0, 2.0, size=(3, *shape))
    coords = np.indices(shape) + ddf  # positions p + ddf(p), axis order (D, H, W)
    ref = ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)
    inside = np.all([(coords[k] >= 0) & (coords[k] <= n - 1) for k, n in enumerate(shape)], 0)
    # scipy's "constant" mode fades linearly to cval only beyond the last voxel: compare inside
    np.testing.assert_allclose(warp_image_np(image, ddf)[inside], ref[inside], rtol=0, atol=1e-9)


def test_gradcheck_image_and_ddf() -> None:
    gen = torch.Generator().manual_seed(2)
    shape = (3, 4, 5)
    image = torch.rand(1, 2, *shape, generator=gen, dtype=torch.float64, requires_grad=True)
    ddf = 2.0 * torch.rand(1, 3, *shape, generator=gen, dtype=torch.float64) - 1.0
    ddf.requires_grad_(True)
    assert torch.autograd.gradcheck(warp_image, (image, ddf), eps=1e-6, atol=1e-6)


def test_warp_onehot_is_trilinear_warp() -> None:
    # one_hot puts K last: (D, H, W, K) -> (K, D, H, W)
    onehot = functional.one_hot(torch.from_numpy(_cube()), 2).permute(3, 0, 1, 2)[None].double()
    ddf = torch.full((1, 3, *SHAPE), 0.5, dtype=torch.float64)
    out = warp_onehot(onehot, ddf)
    assert out.shape == onehot.shape
    torch.testing.assert_close(out, warp_image(onehot, ddf), rtol=0, atol=0)
    # a corner of the cube at 3.5 on every axis is 1/8 inside
    assert out[0, 1, 3, 3, 3].item() == 0.125


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_warp_labels_keeps_large_ids_and_dtype(dtype: torch.dtype) -> None:
    labels = torch.zeros(1, 1, 4, 4, 4, dtype=dtype)
    labels[0, 0, 1, 1, 1] = 1000
    labels[0, 0, 2, 2, 2] = 70000
    labels[0, 0, 3, 3, 3] = 2**24 + 1  # not representable in float32
    ddf = torch.full((1, 3, 4, 4, 4), 1.2)  # rounds to a one-voxel shift on every axis
    out = warp_labels(labels, ddf)
    assert out.dtype == dtype
    expected = torch.zeros_like(labels)
    expected[0, 0, 0, 0, 0] = 1000
    expected[0, 0, 1, 1, 1] = 70000
    expected[0, 0, 2, 2, 2] = 2**24 + 1
    assert torch.equal(out, expected)


def test_warp_labels_np_keeps_dtype() -> None:
    labels = _cube(value=60000).astype(np.uint16)
    out = warp_labels_np(labels, np.zeros((3, *SHAPE)))
    assert out.dtype == np.uint16
    assert np.array_equal(out, labels)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_upsample_constant_ddf_rescales(axis: int) -> None:
    old, new = [3, 3, 3], [3, 3, 3]
    old[axis], new[axis] = 5, 9
    vector = [0.0, 0.0, 0.0]
    vector[axis] = 1.0
    ddf = torch.from_numpy(_constant_ddf(tuple(old), tuple(vector)).copy())[None]
    out = upsample_ddf(ddf, tuple(new))
    assert out.shape == (1, 3, *new)
    vector[axis] = 2.0  # one voxel of a 5-long axis is two voxels of a 9-long axis
    expected = torch.from_numpy(_constant_ddf(tuple(new), tuple(vector)).copy())[None]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_upsample_affine_ddf_is_same_physical_map() -> None:
    old, new = (3, 5, 4), (5, 9, 7)
    m = torch.tensor([[0.1, 0.2, -0.1], [0.0, -0.3, 0.2], [0.25, 0.1, 0.05]], dtype=torch.float64)
    t = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    p = identity_grid(old, dtype=torch.float64)
    ddf = (torch.einsum("kl,lijm->kijm", m, p) + t.view(3, 1, 1, 1))[None]
    # physical position x = p * s_old = q * s_new, so q = S p with S = diag((new-1)/(old-1)):
    # in new voxels u_new(q) = S u_old(S^-1 q) = S M S^-1 q + S t
    s = torch.tensor([(b - 1) / (a - 1) for a, b in zip(old, new, strict=True)])
    s = s.double()
    q = identity_grid(new, dtype=torch.float64)
    m_new = torch.diag(s) @ m @ torch.diag(1.0 / s)
    expected = torch.einsum("kl,lijm->kijm", m_new, q) + (s * t).view(3, 1, 1, 1)
    torch.testing.assert_close(upsample_ddf(ddf, new), expected[None], rtol=0, atol=1e-12)


def test_upsample_rejects_length_one_axis() -> None:
    with pytest.raises(ValueError, match=r"axis 0 of length 1 to 4"):
        upsample_ddf(torch.zeros(1, 3, 1, 2, 2), (4, 2, 2))


def test_shape_mismatch_names_both_shapes() -> None:
    image = torch.zeros(1, 1, 4, 5, 6)
    ddf = torch.zeros(1, 3, 4, 5, 7)
    with pytest.raises(ValueError, match=r"\(1, 1, 4, 5, 6\).*\(1, 3, 4, 5, 7\)"):
        warp_image(image, ddf)
    with pytest.raises(ValueError, match=r"\(1, 1, 4, 5, 6\).*\(1, 3, 4, 5, 7\)"):
        warp_labels(image.long(), ddf)
    with pytest.raises(ValueError, match=r"\(3, 4, 5, 7\).*\(4, 5, 6\)"):
        warp_image_np(np.zeros((4, 5, 6)), np.zeros((3, 4, 5, 7)))
    with pytest.raises(ValueError, match=r"\(1, 2, 4, 5, 6\)"):
        warp_image(image, torch.zeros(1, 2, 4, 5, 6))


def test_rejects_float_labels() -> None:
    with pytest.raises(ValueError, match="integer"):
        warp_labels(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 3, 2, 2, 2))


def test_integrate_constant_velocity_is_the_same_shift() -> None:
    # the flow of a constant field for unit time is that constant shift (away from the borders)
    from hwreg.warp import integrate_velocity

    v = torch.from_numpy(_constant_ddf((12, 12, 12), (0.8, -0.4, 0.2)))[None]
    u = integrate_velocity(v, 4)
    assert torch.allclose(u[..., 4:8, 4:8, 4:8], v[..., 4:8, 4:8, 4:8], atol=1e-5)
    assert torch.equal(integrate_velocity(v, 0), v)
    with pytest.raises(ValueError, match="steps"):
        integrate_velocity(v, -1)
