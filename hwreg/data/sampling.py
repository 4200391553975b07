"""Resampling with torch: the one sampler of the host path (model grid in, native grid out).

Contract (that of ``scipy.ndimage.map_coordinates(mode="constant", cval=0, prefilter=False)``,
which it replaces, so outputs match the earlier scipy code to float32 rounding):

* a target point reads the source at a voxel position ``c`` (3,) of the source array;
* ``order=1``: trilinear (``torch.nn.functional.grid_sample``, ``align_corners=True``: index i is
  the centre of voxel i); ``order=0``: nearest, halves rounded up (``floor(c + 0.5)``), the value
  gathered, never interpolated, so any integer id comes back exactly;
* ``outside="zeros"``: a position outside ``[0, n - 1]`` on any axis reads 0 (no partial weights
  at the border, as scipy); ``outside="border"``: positions are clamped into the volume (scipy's
  ``mode="nearest"``).

Work is done in slabs along the target's first axis (:func:`slabs`), so the temporaries
(positions in float64, the sampling grid) stay a few tens of MB for any volume size. Positions are
computed in float64 and handed to ``grid_sample`` in float32 (about 1e-5 voxel at 256 voxels).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

_TORCH_INDEXABLE = tuple(np.dtype(t) for t in (np.bool_, np.uint8, np.int8, np.int16, np.int32,
                                                np.int64, np.float32, np.float64))
#: target points per slab: bounds the float64 position temporaries to ~25 MB
SLAB_POINTS = 1 << 20


def slabs(shape: tuple[int, int, int], points: int = SLAB_POINTS) -> Iterator[tuple[int, int]]:
    """Ranges ``[a, b)`` of the first axis of ``shape``, each about ``points`` voxels."""
    plane = max(1, shape[1] * shape[2])
    step = max(1, points // plane)
    for a in range(0, shape[0], step):
        yield a, min(shape[0], a + step)


def slab_indices(shape: tuple[int, int, int], a: int, b: int) -> torch.Tensor:
    """Voxel indices ``(n, 3)`` float64 of planes ``a..b-1`` of ``shape``, C order."""
    axes = [torch.arange(a, b, dtype=torch.float64),
            torch.arange(shape[1], dtype=torch.float64),
            torch.arange(shape[2], dtype=torch.float64)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


def apply_affine(matrix: np.ndarray, points: torch.Tensor) -> torch.Tensor:
    """``matrix`` (4, 4) applied to ``points`` (n, 3) float64 -> (n, 3) float64."""
    m = torch.from_numpy(np.asarray(matrix, dtype=np.float64))
    return torch.addmm(m[:3, 3], points, m[:3, :3].T)


def normaliser(shape: tuple[int, ...]) -> np.ndarray:
    """4x4: voxel index -> ``grid_sample``'s normalised coordinates (``align_corners=True``),
    axes reversed to its (z, y, x) order; a one-voxel axis maps to 0 (its only voxel)."""
    m = np.zeros((4, 4))
    m[3, 3] = 1.0
    for k, n in enumerate(shape):
        row = 2 - k  # axis k is coordinate 2 - k of grid_sample's (z, y, x) = (W, H, D)
        if n > 1:
            m[row, k], m[row, 3] = 2.0 / (n - 1), -1.0
    return m


def affine_slab(matrix: np.ndarray, shape: tuple[int, int, int], a: int, b: int) -> torch.Tensor:
    """``matrix`` (4, 4) applied to every voxel index of planes ``a..b-1`` of ``shape``.

    Returns ``(b - a, Y, Z, 3)`` float32: the sum of three per-axis terms broadcast over the
    slab (one pass over the output, no index arrays): the fast path for large targets.
    """
    m = torch.from_numpy(np.asarray(matrix, np.float64)[:3])  # (3, 4)
    terms = [torch.arange(lo, hi, dtype=torch.float64)[:, None] * m[:, k]
             for k, (lo, hi) in enumerate(((a, b), (0, shape[1]), (0, shape[2])))]
    ti = (terms[0] + m[:, 3]).float()[:, None, None]  # (d, 1, 1, 3), translation folded in
    return ti + (terms[1].float()[:, None] + terms[2].float()[None])[None]  # (d, Y, Z, 3)


def affine_planes(matrix: np.ndarray, shape: tuple[int, int, int], a: int, b: int,
                  out: torch.Tensor) -> torch.Tensor:
    """:func:`affine_slab` component-major, written into ``out`` ``(3, b - a, Y, Z)`` float32 (a
    view may be strided between components): the same values, one pass over the output."""
    m = torch.from_numpy(np.asarray(matrix, np.float64)[:3])  # (3, 4)
    terms = [torch.arange(lo, hi, dtype=torch.float64)[:, None] * m[:, k]
             for k, (lo, hi) in enumerate(((a, b), (0, shape[1]), (0, shape[2])))]
    ti = (terms[0] + m[:, 3]).float().T.contiguous()  # (3, d), translation folded in
    plane = terms[1].float().T[:, :, None] + terms[2].float().T[:, None]  # (3, Y, Z)
    return torch.add(ti[:, :, None, None], plane[:, None], out=out)


@dataclass(frozen=True)
class AxisLerp:
    """Linear interpolation along one axis: target index t reads source indices ``i0[t]`` and
    ``i1[t]`` of source axis ``axis`` with weight ``w[t]`` on ``i1`` (positions clamped)."""

    axis: int
    i0: torch.Tensor
    i1: torch.Tensor
    w: torch.Tensor


def separable_plan(matrix: np.ndarray, src_shape: tuple[int, ...],
                   shape: tuple[int, int, int]) -> list[AxisLerp] | None:
    """Per target axis, the 1D interpolation of an axis-aligned ``matrix`` (target voxel ->
    source voxel; each target axis moves exactly one source axis), with border clamping
    (``outside="border"``); ``None`` when ``matrix`` mixes axes (an oblique grid)."""
    lin = np.asarray(matrix, np.float64)[:3, :3]
    nonzero = np.abs(lin) > 1e-9 * np.abs(lin).max()
    if not ((nonzero.sum(0) == 1).all() and (nonzero.sum(1) == 1).all()):
        return None
    plan = []
    for j in range(3):
        k = int(np.flatnonzero(nonzero[:, j])[0])  # source axis that target axis j moves
        n = src_shape[k]
        c = np.clip(lin[k, j] * np.arange(shape[j]) + matrix[k][3], 0, n - 1)
        i0 = np.minimum(np.floor(c), max(n - 2, 0)).astype(np.int64)
        plan.append(AxisLerp(k, torch.from_numpy(i0), torch.from_numpy(np.minimum(i0 + 1, n - 1)),
                             torch.from_numpy(c - i0).float()))
    return plan


def lerp_axis(x: torch.Tensor, dim: int, step: AxisLerp, a: int = 0,
              b: int | None = None) -> torch.Tensor:
    """Interpolate ``x`` along ``dim`` by ``step`` (target indices ``a..b-1`` of it)."""
    i0, i1, w = step.i0[a:b], step.i1[a:b], step.w[a:b]
    shape = [1] * x.dim()
    shape[dim] = -1
    lo = x.index_select(dim, i0)
    return lo.add_(x.index_select(dim, i1).sub_(lo).mul_(w.view(shape)))


def lerp_planes(x: torch.Tensor, step: AxisLerp, a: int, b: int) -> torch.Tensor:
    """:func:`lerp_axis` along dim 1 of ``x`` ``(C, S, ...)`` for target indices ``a..b-1``:
    each output plane read from its two source planes in one pass (no gathered copies)."""
    out = torch.empty((x.shape[0], b - a, *x.shape[2:]), dtype=x.dtype)
    for t in range(a, b):
        torch.lerp(x[:, int(step.i0[t])], x[:, int(step.i1[t])], float(step.w[t]),
                   out=out[:, t - a])
    return out


def grid_sample_points(src: torch.Tensor, grid: torch.Tensor, mode: str,
                       padding_mode: str) -> torch.Tensor:
    """``grid_sample`` (``align_corners=True``) of ``src`` ``(1, C, D, H, W)`` at normalised
    positions ``grid`` ``(n, 3)`` in (z, y, x) order -> ``(C, n)``, on all torch threads.

    torch's 3D CPU sampler parallelises over the batch only, so one volume runs on one core;
    here the points are split into one batch entry per thread (the source expanded, not
    copied). Each point's value is computed exactly as in one call: the result is the same.
    """
    n, k = grid.shape[0], max(1, min(torch.get_num_threads(), grid.shape[0]))
    m = n // k
    c = src.shape[1]
    main = functional.grid_sample(src.expand(k, *src.shape[1:]), grid[:k * m].view(k, 1, 1, m, 3),
                                  mode=mode, padding_mode=padding_mode, align_corners=True)
    out = main.view(k, c, m).permute(1, 0, 2).reshape(c, k * m)  # (k, C, m) -> (C, k * m)
    if k * m == n:
        return out
    rest = functional.grid_sample(src, grid[k * m:].view(1, 1, 1, -1, 3), mode=mode,
                                  padding_mode=padding_mode, align_corners=True)
    return torch.cat([out, rest.view(c, -1)], dim=1)


def _inside(pos: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """(n,) bool: position (n, 3) lies in ``[0, n_k - 1]`` on every axis."""
    upper = torch.tensor([n - 1 for n in shape], dtype=pos.dtype)
    return ((pos >= 0) & (pos <= upper)).all(dim=1)


def sample_at(src: torch.Tensor, pos: torch.Tensor, order: int,
              outside: str = "zeros") -> torch.Tensor:
    """Values of ``src`` at voxel positions ``pos``.

    Args:
        src: ``(C, X, Y, Z)`` (float for ``order=1``; any dtype for ``order=0``).
        pos: ``(n, 3)`` voxel positions in ``src``'s array axes (float64 preferred).
        order: 1 trilinear, 0 nearest (module docstring).
        outside: ``"zeros"`` or ``"border"`` (module docstring).

    Returns:
        ``(C, n)`` in ``src.dtype`` (float32 at least for ``order=1``).
    """
    if order not in (0, 1) or outside not in ("zeros", "border"):
        raise ValueError(f"order must be 0 or 1 and outside zeros|border, got {order}, {outside}")
    shape = tuple(int(n) for n in src.shape[1:])
    upper = torch.tensor([n - 1 for n in shape], dtype=pos.dtype)
    valid = _inside(pos, shape) if outside == "zeros" else None
    pos = torch.minimum(pos.clamp(min=0), upper)  # inside positions are unchanged
    if order == 0:
        idx = torch.floor(pos + 0.5).long()
        flat = (idx[:, 0] * shape[1] + idx[:, 1]) * shape[2] + idx[:, 2]
        out = src.reshape(src.shape[0], -1)[:, flat]  # (C, n)
        if valid is not None:
            out = out * valid.to(out.dtype) if out.is_floating_point() else out.masked_fill(
                ~valid, 0)
        return out
    # voxel index i -> normalised -1 + 2 i / (n - 1); a one-voxel axis maps to 0 (its only voxel)
    scale = torch.tensor([2.0 / (n - 1) if n > 1 else 0.0 for n in shape], dtype=pos.dtype)
    # axes (x, y, z) -> grid_sample's (z, y, x)
    norm = (pos * scale - (scale > 0).to(pos.dtype)).flip(-1)
    data = src if src.dtype in (torch.float32, torch.float64) else src.float()
    grid = norm.to(data.dtype).view(1, 1, 1, -1, 3)
    out = functional.grid_sample(data[None], grid, mode="bilinear", padding_mode="border",
                                 align_corners=True)[0, :, 0, 0]  # (C, n)
    if valid is not None:
        out = out * valid.to(out.dtype)
    return out


def resample_affine(data: np.ndarray, mapping: np.ndarray, shape: tuple[int, int, int],
                    order: int) -> np.ndarray:
    """Resample ``data`` (X, Y, Z) onto a grid of ``shape``; 0 outside the source.

    ``mapping``: 4x4, target voxel index -> source voxel index. Returns float32 for ``order=1``
    and ``data.dtype`` for ``order=0`` (ids gathered exactly).
    """
    if order == 1:
        src = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[None]
        out = np.empty(shape, np.float32)
    else:
        # torch indexes these dtypes natively; others (uint16, uint32, ...) go through int64
        native = data.dtype in _TORCH_INDEXABLE
        src = torch.from_numpy(np.ascontiguousarray(data if native else data.astype(np.int64)))
        src = src[None]
        out = np.empty(shape, data.dtype)
    flat = torch.from_numpy(out.reshape(-1))
    plane = shape[1] * shape[2]
    for a, b in slabs(shape):
        pos = apply_affine(mapping, slab_indices(shape, a, b))
        flat[a * plane:b * plane] = sample_at(src, pos, order)[0]
    return out
