"""Registration metrics on numpy volumes: Dice, centroid TRE, Jacobian determinant, folding.

Contract: volumes are ``(D, H, W)`` arrays on the canonical grid and DDFs are ``(3, D, H, W)`` in
voxels, fixed -> moving, as defined in :mod:`hwreg.warp`. ``spacing`` is the voxel size in mm
along (D, H, W). Every function checks shapes and raises ``ValueError`` naming both shapes on a
mismatch. Label maps are compared on the fixed grid: ``fixed_labels`` against the moving labels
already warped onto it (``warped_labels``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "dice",
    "dice_per_label",
    "folding_percent",
    "jacobian_determinant",
    "label_centroids",
    "mean_dice",
    "tre",
]


def _check_same_shape(a: np.ndarray, b: np.ndarray, what_a: str, what_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what_a} has shape {a.shape}, {what_b} has shape {b.shape}")


def _check_spacing(spacing: Sequence[float]) -> np.ndarray:
    s = np.asarray(spacing, dtype=np.float64)
    if s.shape != (3,):
        raise ValueError(f"spacing must be three values (D, H, W) in mm, got {tuple(spacing)}")
    return s


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap ``2 |A & B| / (|A| + |B|)`` of two masks.

    Args:
        a: mask of any shape, bool or 0/1 (any non-zero counts as inside).
        b: mask of the same shape.

    Returns:
        Dice in [0, 1]; 1.0 when both masks are empty (two empty sets agree perfectly).
    """
    _check_same_shape(a, b, "mask a", "mask b")
    ma, mb = np.asarray(a) != 0, np.asarray(b) != 0
    total = int(ma.sum()) + int(mb.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(ma, mb).sum()) / total


def dice_per_label(
    fixed_labels: np.ndarray, warped_labels: np.ndarray, label_ids: Sequence[int]
) -> dict[int, float]:
    """Dice of each label id between two integer label maps of the same shape.

    Labels absent from both volumes are skipped (they are not in the result): they carry no
    information about the registration. A label present in only one volume scores 0.0.

    Returns:
        ``{label_id: dice}`` in the order of ``label_ids``.
    """
    _check_same_shape(fixed_labels, warped_labels, "fixed labels", "warped labels")
    out: dict[int, float] = {}
    for label in label_ids:
        a, b = fixed_labels == label, warped_labels == label
        if a.any() or b.any():
            out[int(label)] = dice(a, b)
    return out


def mean_dice(
    fixed_labels: np.ndarray, warped_labels: np.ndarray, label_ids: Sequence[int]
) -> float:
    """Mean of :func:`dice_per_label` over the labels present in at least one volume.

    Raises:
        ValueError: if none of ``label_ids`` occurs in either volume.
    """
    scores = dice_per_label(fixed_labels, warped_labels, label_ids)
    if not scores:
        raise ValueError(f"none of the label ids {list(label_ids)} occurs in either volume")
    return float(np.mean(list(scores.values())))


def label_centroids(
    labels: np.ndarray, label_ids: Sequence[int], spacing: Sequence[float]
) -> dict[int, np.ndarray]:
    """Centroid of each label in mm: mean voxel index (D, H, W) times ``spacing``.

    The origin is the voxel (0, 0, 0) (it cancels in the distances TRE takes). Labels absent from
    the volume are left out of the result.

    Returns:
        ``{label_id: (3,) float64 array}`` along (D, H, W), in mm.
    """
    if labels.ndim != 3:
        raise ValueError(f"labels must have shape (D, H, W), got {labels.shape}")
    s = _check_spacing(spacing)
    out: dict[int, np.ndarray] = {}
    for label in label_ids:
        index = np.argwhere(labels == label)  # (n_voxels, 3)
        if len(index):
            out[int(label)] = index.mean(axis=0) * s
    return out


def tre(
    fixed_labels: np.ndarray,
    warped_labels: np.ndarray,
    label_ids: Sequence[int],
    spacing: Sequence[float],
) -> float:
    """Target registration error: RMS centroid distance in mm over labels present in both.

    As in Hu et al. 2018 (label-driven weakly-supervised registration), the landmarks are label
    centroids: ``sqrt(mean_l |c_fixed(l) - c_warped(l)|^2)`` over the labels of ``label_ids``
    found in both volumes.

    Args:
        fixed_labels: ``(D, H, W)`` integer label map of the fixed image.
        warped_labels: ``(D, H, W)`` moving label map warped onto the fixed grid.
        label_ids: ids to use.
        spacing: voxel size in mm along (D, H, W).

    Raises:
        ValueError: on a shape mismatch, or if no label id occurs in both volumes.
    """
    _check_same_shape(fixed_labels, warped_labels, "fixed labels", "warped labels")
    cf = label_centroids(fixed_labels, label_ids, spacing)
    cw = label_centroids(warped_labels, label_ids, spacing)
    common = [label for label in cf if label in cw]
    if not common:
        raise ValueError(
            f"TRE needs a label present in both volumes; label ids {list(label_ids)}: "
            f"fixed has {sorted(cf)}, warped has {sorted(cw)}"
        )
    sq = [float(np.sum((cf[label] - cw[label]) ** 2)) for label in common]
    return float(np.sqrt(np.mean(sq)))


def jacobian_determinant(ddf: np.ndarray) -> np.ndarray:
    """Jacobian determinant ``det(I + grad u)`` of the map ``p -> p + u(p)`` at every voxel.

    Derivatives are ``np.gradient`` differences: central inside, one-sided at the borders; along
    an axis of length 1 the derivative is taken as 0. Because the DDF is in voxels, the result
    equals the determinant of the physical (mm) map for any axis-aligned spacing S:
    ``det(S J S^-1) = det J``.

    Args:
        ddf: ``(3, D, H, W)`` voxels, channel k = displacement along axis k.

    Returns:
        ``(D, H, W)`` float64; 1 is volume preserving, <= 0 is folding.
    """
    u = np.asarray(ddf, dtype=np.float64)
    if u.ndim != 4 or u.shape[0] != 3:
        raise ValueError(f"ddf must have shape (3, D, H, W), got {u.shape}")
    # j[k][l] = d p'_k / d p_l with p' = p + u(p)
    j = [[np.zeros(u.shape[1:]) for _ in range(3)] for _ in range(3)]
    for k in range(3):
        for axis in range(3):
            if u.shape[1 + axis] > 1:
                j[k][axis] = np.gradient(u[k], axis=axis)
        j[k][k] = j[k][k] + 1.0
    return (
        j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1])
        - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
        + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0])
    )


def folding_percent(ddf: np.ndarray) -> float:
    """Percentage (0-100) of voxels whose Jacobian determinant is <= 0.

    Args:
        ddf: ``(3, D, H, W)`` voxels (see :func:`jacobian_determinant`).
    """
    return 100.0 * float(np.mean(jacobian_determinant(ddf) <= 0))
