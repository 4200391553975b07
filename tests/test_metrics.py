"""Tests of hwreg.metrics on hand-computed cubes and fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwreg.metrics import (
    dice,
    dice_per_label,
    folding_percent,
    jacobian_determinant,
    label_centroids,
    mean_dice,
    tre,
)

SHAPE = (6, 7, 8)


def _box(start: tuple[int, int, int], size: int = 2) -> tuple[slice, slice, slice]:
    return tuple(slice(s, s + size) for s in start)  # type: ignore[return-value]


def _grid(shape: tuple[int, int, int]) -> np.ndarray:
    """``(3, D, H, W)`` voxel coordinates."""
    return np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")).astype(float)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_dice_of_cube_and_shifted_cube(axis: int) -> None:
    a = np.zeros(SHAPE, dtype=bool)
    b = np.zeros(SHAPE, dtype=bool)
    a[_box((1, 1, 1))] = True
    start = [1, 1, 1]
    start[axis] = 2
    b[_box(tuple(start))] = True
    assert dice(a, b) == 2 * 4 / (8 + 8)
    assert dice(a, a) == 1.0
    assert dice(a.astype(np.uint8), b.astype(np.uint8)) == 0.5


def test_dice_both_empty_is_one() -> None:
    assert dice(np.zeros(SHAPE), np.zeros(SHAPE)) == 1.0
    one = np.zeros(SHAPE)
    one[0, 0, 0] = 1
    assert dice(one, np.zeros(SHAPE)) == 0.0


def test_dice_per_label_skips_absent_labels() -> None:
    fixed = np.zeros(SHAPE, dtype=np.int32)
    warped = np.zeros(SHAPE, dtype=np.int32)
    fixed[_box((0, 0, 0))] = 1
    warped[_box((0, 0, 1))] = 1  # overlap 4 of 8 + 8
    fixed[_box((3, 3, 3))] = 2
    warped[_box((3, 3, 3))] = 2
    fixed[5, 6, 7] = 4  # only in fixed: Dice 0
    scores = dice_per_label(fixed, warped, [1, 2, 3, 4])
    assert scores == {1: 0.5, 2: 1.0, 4: 0.0}
    assert mean_dice(fixed, warped, [1, 2, 3, 4]) == 0.5
    with pytest.raises(ValueError, match="none of the label ids"):
        mean_dice(fixed, warped, [7])


def test_label_centroids_in_mm() -> None:
    labels = np.zeros(SHAPE, dtype=np.int32)
    labels[_box((1, 2, 3))] = 5  # mean index (1.5, 2.5, 3.5)
    cents = label_centroids(labels, [5, 6], (1.0, 2.0, 3.0))
    assert list(cents) == [5]
    assert np.array_equal(cents[5], np.array([1.5, 5.0, 10.5]))


def test_tre_anisotropic_spacing() -> None:
    fixed = np.zeros(SHAPE, dtype=np.int32)
    warped = np.zeros(SHAPE, dtype=np.int32)
    fixed[_box((0, 0, 0))] = 1
    warped[_box((0, 1, 0))] = 1  # one voxel along axis 1: 2 mm
    fixed[_box((3, 3, 3))] = 2
    warped[_box((3, 3, 4))] = 2  # one voxel along axis 2: 3 mm
    fixed[5, 6, 7] = 3  # only in fixed: ignored
    value = tre(fixed, warped, [1, 2, 3], spacing=(1.0, 2.0, 3.0))
    assert math.isclose(value, math.sqrt((4 + 9) / 2), rel_tol=0, abs_tol=1e-12)
    assert tre(fixed, fixed, [1, 2], spacing=(1.0, 2.0, 3.0)) == 0.0


def test_tre_without_common_label_raises() -> None:
    fixed = np.zeros(SHAPE, dtype=np.int32)
    warped = np.zeros(SHAPE, dtype=np.int32)
    fixed[0, 0, 0] = 1
    warped[0, 0, 0] = 2
    with pytest.raises(ValueError, match=r"fixed has \[1\], warped has \[2\]"):
        tre(fixed, warped, [1, 2], spacing=(1.0, 1.0, 1.0))


def test_jacobian_of_identity_is_one() -> None:
    ddf = np.zeros((3, *SHAPE))
    assert np.array_equal(jacobian_determinant(ddf), np.ones(SHAPE))
    assert folding_percent(ddf) == 0.0


@pytest.mark.parametrize(
    ("a", "det"),
    [
        # diag(1.5, 1, 1) plus shears above the diagonal: triangular, det = 1.5 * 1 * 1
        ([[1.5, 0.3, -0.2], [0.0, 1.0, 0.4], [0.0, 0.0, 1.0]], 1.5),
        # full coupling: 2 * (1 - 0) - 1 * (0 - 1) + 0 = 3
        ([[2.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]], 3.0),
    ],
)
def test_jacobian_of_affine_map(a: list[list[float]], det: float) -> None:
    p = _grid((4, 5, 6))
    ddf = np.einsum("kl,lijm->kijm", np.asarray(a) - np.eye(3), p)  # u(p) = (A - I) p
    out = jacobian_determinant(ddf)
    assert out.shape == (4, 5, 6)
    np.testing.assert_allclose(out, det, rtol=0, atol=1e-10)
    assert folding_percent(ddf) == 0.0


def test_folding_field() -> None:
    ddf = np.zeros((3, *SHAPE))
    ddf[0] = -2.0 * _grid(SHAPE)[0]  # p0 -> -p0: det = 1 - 2 = -1
    assert np.array_equal(jacobian_determinant(ddf), -np.ones(SHAPE))
    assert folding_percent(ddf) == 100.0


def test_jacobian_axis_of_length_one() -> None:
    ddf = np.zeros((3, 1, 4, 5))
    ddf[1] = 0.5 * _grid((1, 4, 5))[1]  # stretch H by 1.5, no derivative along D
    assert np.array_equal(jacobian_determinant(ddf), np.full((1, 4, 5), 1.5))


def test_shape_mismatch_names_both_shapes() -> None:
    a, b = np.zeros((2, 3, 4)), np.zeros((2, 3, 5))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 3, 5\)"):
        dice(a, b)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 3, 5\)"):
        tre(a, b, [1], (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 5\)"):
        jacobian_determinant(np.zeros((2, 3, 4, 5)))
