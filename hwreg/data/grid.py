"""The model grid: resampling, intensity normalisation and label remapping.

A :class:`Grid` is a shape plus a voxel->world affine. Every volume is resampled onto a model grid
(configurable shape, isotropic spacing, axis-aligned with RAS+, centred on the volume's intensity
centre of mass or its field of view) before it meets the network; outputs are resampled back with
the same machinery. Images: trilinear (order 1); label maps: nearest neighbour (order 0), ids kept.
Outside the source volume: 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hwreg.config import GridCentre
from hwreg.data.nifti import Volume
from hwreg.data.sampling import resample_affine


@dataclass(frozen=True)
class Grid:
    """A voxel grid: ``shape`` (X, Y, Z) and ``affine`` (4x4, voxel index -> world mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each array axis."""
        cols = np.linalg.norm(self.affine[:3, :3], axis=0)
        return tuple(float(c) for c in cols)  # type: ignore[return-value]

    def world_coords(self) -> np.ndarray:
        """World coordinates (mm) of every voxel centre, shape (3, X, Y, Z)."""
        idx = np.indices(self.shape, dtype=np.float64).reshape(3, -1)
        world = self.affine[:3, :3] @ idx + self.affine[:3, 3:4]
        return world.reshape(3, *self.shape)


def volume_grid(vol: Volume) -> Grid:
    """The grid a volume is stored on."""
    return Grid(vol.shape, vol.affine)


def centre_of(vol: Volume, how: GridCentre = GridCentre.mass) -> np.ndarray:
    """World position (mm, (3,)) of a volume's intensity centre of mass or field-of-view centre."""
    if how == GridCentre.mass:
        weights = np.clip(vol.data, 0, None)
        # marginal sums in float64 (same value as ndimage.center_of_mass, one pass per axis pair)
        m0 = weights.sum(axis=(1, 2), dtype=np.float64)
        m12 = weights.sum(axis=0, dtype=np.float64)
        total = m0.sum()
        if total > 0:
            idx = np.array([m0 @ np.arange(len(m0)), m12.sum(1) @ np.arange(m12.shape[0]),
                            m12.sum(0) @ np.arange(m12.shape[1])]) / total
            return vol.affine[:3, :3] @ idx + vol.affine[:3, 3]
    idx = (np.array(vol.shape, dtype=np.float64) - 1) / 2
    return vol.affine[:3, :3] @ idx + vol.affine[:3, 3]


def model_grid(shape: Sequence[int], spacing: float, centre: np.ndarray) -> Grid:
    """An RAS-aligned grid of ``shape`` voxels of ``spacing`` mm whose centre lies at ``centre``."""
    shape3 = tuple(int(s) for s in shape)
    if len(shape3) != 3 or min(shape3) < 1:
        raise ValueError(f"grid shape must be 3 positive ints, got {tuple(shape)}")
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = np.asarray(centre, dtype=np.float64) - spacing * (np.array(shape3) - 1) / 2
    return Grid(shape3, affine)  # type: ignore[arg-type]


def resample(vol: Volume | np.ndarray, src_affine: np.ndarray | None, target: Grid,
             order: int) -> np.ndarray:
    """Resample a volume onto ``target`` (order 1: trilinear, 0: nearest); outside -> 0.

    ``vol``: a :class:`Volume`, or an (X, Y, Z) array with its ``src_affine``.
    Returns an array of ``target.shape`` (float32 for order 1, the input dtype for order 0).
    Computed with torch (:mod:`hwreg.data.sampling`), with scipy's ``mode="constant"`` semantics.
    """
    if isinstance(vol, Volume):
        data, src_affine = vol.data, vol.affine
    else:
        data = vol
    if src_affine is None:
        raise ValueError("src_affine is required when resampling a bare array")
    # target voxel -> source voxel: inv(src) @ target
    mapping = np.linalg.solve(src_affine, target.affine)
    return resample_affine(data, mapping, target.shape, order)


def normalise_intensity(data: np.ndarray, upper_percentile: float = 99.5) -> np.ndarray:
    """Scale an image to [0, 1]: 0 stays 0, the ``upper_percentile`` of non-zero voxels -> 1.

    Negative values are clipped to 0 and values above the percentile to 1, so every image that
    enters the network has the same range (needed for an integer-quantised input).
    """
    data = np.clip(data.astype(np.float32, copy=False), 0, None)
    nonzero = data[data > 0]
    if nonzero.size == 0:
        return np.zeros_like(data)
    top = float(np.percentile(nonzero, upper_percentile))
    if top <= 0:
        return np.zeros_like(data)
    return np.clip(data / top, 0.0, 1.0)


def remap_labels(labels: np.ndarray, label_ids: Sequence[int]) -> np.ndarray:
    """Map ids ``label_ids[k]`` to ``k + 1`` and everything else to 0 (uint8/int16 as needed)."""
    lut_size = max(int(labels.max(initial=0)), max(label_ids, default=0)) + 1
    lut = np.zeros(lut_size, dtype=np.int32)
    for k, lid in enumerate(label_ids):
        lut[lid] = k + 1
    out = lut[labels]
    return out.astype(np.uint8 if len(label_ids) < 256 else np.int16)


def unmap_labels(index_labels: np.ndarray, label_ids: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`remap_labels`: index ``k + 1`` -> ``label_ids[k]``, 0 -> 0 (int32)."""
    lut = np.array([0, *label_ids], dtype=np.int32)
    return lut[index_labels.astype(np.int64)]
