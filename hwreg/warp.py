"""Dense displacement fields (DDFs) and warping: the one place the DDF convention is defined.

The DDF convention (every other module refers here)
---------------------------------------------------
* Volumes are torch tensors ``(B, C, D, H, W)``. The spatial axes D, H, W are exactly the array
  axes 0, 1, 2 of the canonical (RAS+) NIfTI volume: D = R/L (x), H = A/P (y), W = S/I (z).
* A DDF is a float tensor ``(B, 3, D, H, W)`` in VOXELS of the grid it is defined on. Channel k
  is the displacement along spatial axis k (0 -> D, 1 -> H, 2 -> W).
* Direction is fixed -> moving sampling: ``warped(p) = moving(p + ddf(p))`` for every voxel p of
  the fixed grid (the DDF's grid). The identity is ``ddf = 0``.
* Positions outside the moving volume read as zero (``padding_mode="zeros"``) and voxel indices
  are voxel centres (``align_corners=True``: index i <-> normalised ``-1 + 2 i / (n - 1)``).
  Interpolation is trilinear for images and nearest neighbour (ties to even) for label maps.

Images are sampled with ``torch.nn.functional.grid_sample(mode="bilinear",
padding_mode="zeros", align_corners=True)`` (fast on CPU and GPU, differentiable). Its
normalise/unnormalise round trip is off by ~1 ulp for most axis lengths, so an integer shift of an
image is exact only to ~1e-6; label maps never go through it: :func:`warp_labels` rounds the
sampling position and gathers the id, so ids are exact.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "identity_grid",
    "integrate_velocity",
    "upsample_ddf",
    "warp_image",
    "warp_image_np",
    "warp_labels",
    "warp_labels_np",
    "warp_onehot",
]


def identity_grid(
    shape: tuple[int, int, int],
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Voxel coordinates of a grid: ``(3, D, H, W)`` with ``grid[k, i0, i1, i2] == i_k``."""
    if len(shape) != 3 or any(int(n) < 1 for n in shape):
        raise ValueError(f"grid shape must be three positive sizes (D, H, W), got {tuple(shape)}")
    axes = [torch.arange(int(n), device=device, dtype=dtype) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0)


def _check_ddf(ddf: torch.Tensor) -> None:
    if ddf.dim() != 5 or ddf.shape[1] != 3:
        raise ValueError(f"ddf must have shape (B, 3, D, H, W), got {tuple(ddf.shape)}")
    if not ddf.is_floating_point():
        raise ValueError(f"ddf must be a float tensor, got dtype {ddf.dtype}")


def _check_pair(volume: torch.Tensor, ddf: torch.Tensor, what: str) -> None:
    """Check ``volume (B, C, D, H, W)`` against ``ddf (B, 3, D, H, W)``: same B and D, H, W."""
    _check_ddf(ddf)
    if volume.dim() != 5:
        raise ValueError(f"{what} must have shape (B, C, D, H, W), got {tuple(volume.shape)}")
    if volume.shape[0] != ddf.shape[0] or volume.shape[2:] != ddf.shape[2:]:
        raise ValueError(
            f"{what} shape {tuple(volume.shape)} does not match ddf shape {tuple(ddf.shape)}: "
            "expected the same batch size and spatial shape (D, H, W)"
        )


def _sample_positions(ddf: torch.Tensor) -> torch.Tensor:
    """Moving-grid positions ``p + ddf(p)``: ``(B, 3, N)`` voxels, N = D*H*W in C order.

    Computed in at least float32 so half-precision DDFs do not lose sub-voxel resolution.
    """
    dtype = torch.promote_types(ddf.dtype, torch.float32)
    grid = identity_grid(tuple(ddf.shape[2:]), device=ddf.device, dtype=dtype)
    return (grid.unsqueeze(0) + ddf.to(dtype)).flatten(2)


def _flat_index(
    index: list[torch.Tensor], shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """C-order flat index of per-axis indices ``(B, N)`` and a mask of the in-bounds ones.

    Out-of-bounds indices are clamped so the gather is safe; the caller zeroes them by the mask.
    """
    valid = torch.ones_like(index[0], dtype=torch.bool)
    flat = torch.zeros_like(index[0])
    for ik, n in zip(index, shape, strict=True):
        valid = valid & (ik >= 0) & (ik < n)
        flat = flat * n + ik.clamp(0, n - 1)
    return flat, valid


def warp_image(image: torch.Tensor, ddf: torch.Tensor) -> torch.Tensor:
    """Trilinear warp of a moving image onto the DDF's (fixed) grid.

    Args:
        image: ``(B, C, D, H, W)`` float, the moving image.
        ddf: ``(B, 3, D, H, W)`` float, voxels, fixed -> moving (see the module docstring).

    Returns:
        ``(B, C, D, H, W)`` with ``out[b, c, p] = image[b, c, p + ddf[b, :, p]]``, trilinear,
        zero outside the image, in ``image.dtype``. Differentiable w.r.t. ``image`` and ``ddf``.

    Raises:
        ValueError: if the shapes are not as above (the message gives both shapes).
    """
    _check_pair(image, ddf, "image")
    if not image.is_floating_point():
        raise ValueError(f"image must be a float tensor, got dtype {image.dtype}")
    shape = tuple(image.shape[2:])
    if min(shape) < 2:
        raise ValueError(f"image axes must have length >= 2 to be warped, got {tuple(image.shape)}")
    dtype = torch.promote_types(image.dtype, torch.float32)
    pos = _sample_positions(ddf).reshape(ddf.shape[0], 3, *shape).to(dtype)  # (B, 3, D, H, W)
    # voxel index i -> normalised -1 + 2 i / (n - 1); a length-1 axis maps to 0 (its only voxel)
    norm = torch.stack([pos[:, k] * (2.0 / (n - 1)) - 1.0 for k, n in enumerate(shape)],
                       dim=-1)  # (B, D, H, W, 3) in (D, H, W) order
    grid = norm.flip(-1)  # last dim (D, H, W) -> (W, H, D) = (x, y, z), grid_sample's order
    out = torch.nn.functional.grid_sample(image.to(dtype), grid, mode="bilinear",
                                          padding_mode="zeros", align_corners=True)
    return out.to(image.dtype)


def warp_onehot(prob: torch.Tensor, ddf: torch.Tensor) -> torch.Tensor:
    """Trilinear warp of soft or one-hot label maps (the training-time label warp).

    Args:
        prob: ``(B, K, D, H, W)`` float, one channel per label (one-hot or probabilities).
        ddf: ``(B, 3, D, H, W)`` float, voxels, fixed -> moving.

    Returns:
        ``(B, K, D, H, W)`` warped channels; each channel is warped as by :func:`warp_image`, so
        the result is differentiable w.r.t. ``ddf`` (use it in a Dice loss). Channels of a
        one-hot input still sum to at most 1 (less where the position leaves the volume).
    """
    return warp_image(prob, ddf)


def warp_labels(labels: torch.Tensor, ddf: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour warp of an integer label map; ids are preserved exactly.

    Args:
        labels: ``(B, 1, D, H, W)`` integer (or bool) label ids of the moving volume.
        ddf: ``(B, 3, D, H, W)`` float, voxels, fixed -> moving.

    Returns:
        ``(B, 1, D, H, W)`` in ``labels.dtype``: ``out[p] = labels[round(p + ddf(p))]`` with ties
        rounded to even, and 0 where that voxel is outside the volume. The ids are gathered, never
        interpolated, so any id the dtype holds (e.g. above 2**24) comes back unchanged. Not
        differentiable.

    Raises:
        ValueError: if the shapes are not as above or ``labels`` is a float tensor.
    """
    _check_pair(labels, ddf, "labels")
    if labels.shape[1] != 1:
        raise ValueError(f"labels must have one channel (B, 1, D, H, W), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    b = labels.shape[0]
    pos = _sample_positions(ddf.detach().double())  # (B, 3, N), float64 for exact rounding
    index = [torch.round(pos[:, k]).long() for k in range(3)]
    flat, valid = _flat_index(index, tuple(labels.shape[2:]))
    values = torch.gather(labels.reshape(b, -1), 1, flat)  # (B, N)
    out = torch.where(valid, values, torch.zeros_like(values))
    return out.reshape(labels.shape)


def upsample_ddf(ddf: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Resize a DDF to a new grid covering the same physical extent, keeping it in voxels.

    A host-side co-design op: the network may predict a half-resolution DDF, which is upsampled
    to the image grid before warping. Each component is resized trilinearly with
    ``align_corners=True`` (corner voxel centres coincide) and component k is multiplied by
    ``(new_n_k - 1) / (old_n_k - 1)``, so the result is in voxels of the NEW grid and describes
    the same physical map.

    Args:
        ddf: ``(B, 3, d, h, w)`` float, voxels of the old grid.
        shape: the new grid ``(D, H, W)``.

    Returns:
        ``(B, 3, D, H, W)`` float, voxels of the new grid.

    Raises:
        ValueError: on a malformed DDF or shape, or an old axis of length 1 resized to more than
            one voxel (a one-voxel axis has no extent, so its scale is undefined).
    """
    _check_ddf(ddf)
    new = tuple(int(n) for n in shape)
    if len(new) != 3 or any(n < 1 for n in new):
        raise ValueError(f"new grid shape must be three positive sizes (D, H, W), got {shape}")
    old = tuple(ddf.shape[2:])
    scale = []
    for k, (n_old, n_new) in enumerate(zip(old, new, strict=True)):
        if n_old == 1:
            if n_new != 1:
                raise ValueError(
                    f"cannot upsample axis {k} of length 1 to {n_new}: ddf shape "
                    f"{tuple(ddf.shape)}, new shape {new}"
                )
            scale.append(1.0)
        else:
            scale.append((n_new - 1) / (n_old - 1))
    resized = torch.nn.functional.interpolate(ddf, size=new, mode="trilinear", align_corners=True)
    factor = torch.tensor(scale, dtype=resized.dtype, device=resized.device)
    return resized * factor.view(1, 3, 1, 1, 1)


def _check_np_pair(volume: np.ndarray, ddf: np.ndarray, what: str) -> None:
    if volume.ndim != 3:
        raise ValueError(f"{what} must have shape (D, H, W), got {volume.shape}")
    if ddf.shape != (3, *volume.shape):
        raise ValueError(
            f"ddf shape {ddf.shape} does not match {what} shape {volume.shape}: "
            f"expected {(3, *volume.shape)}"
        )


def warp_image_np(image: np.ndarray, ddf: np.ndarray) -> np.ndarray:
    """Numpy wrapper of :func:`warp_image` for one volume, computed in float64.

    Args:
        image: ``(D, H, W)`` moving image, any real dtype.
        ddf: ``(3, D, H, W)`` voxels, fixed -> moving.

    Returns:
        ``(D, H, W)`` float64 warped image.
    """
    _check_np_pair(image, ddf, "image")
    img = torch.tensor(np.asarray(image), dtype=torch.float64)[None, None]  # (1, 1, D, H, W)
    field = torch.tensor(np.asarray(ddf), dtype=torch.float64)[None]  # (1, 3, D, H, W)
    return warp_image(img, field)[0, 0].numpy()


def warp_labels_np(labels: np.ndarray, ddf: np.ndarray) -> np.ndarray:
    """Numpy wrapper of :func:`warp_labels` for one volume.

    Args:
        labels: ``(D, H, W)`` integer or bool label ids.
        ddf: ``(3, D, H, W)`` voxels, fixed -> moving.

    Returns:
        ``(D, H, W)`` warped ids in ``labels.dtype`` (carried through int64, bit for bit).
    """
    _check_np_pair(labels, ddf, "labels")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise ValueError(f"labels must be an integer array, got dtype {labels.dtype}")
    ids = torch.from_numpy(labels.astype(np.int64))[None, None]  # (1, 1, D, H, W)
    field = torch.tensor(np.asarray(ddf), dtype=torch.float64)[None]  # (1, 3, D, H, W)
    return warp_labels(ids, field)[0, 0].numpy().astype(labels.dtype)


def integrate_velocity(velocity: torch.Tensor, steps: int) -> torch.Tensor:
    """Scaling and squaring: the DDF of the flow of a stationary velocity field.

    A host-side co-design op (the accelerator predicts ``velocity``): ``u = velocity / 2**steps``,
    then ``steps`` times ``u <- u + u(p + u(p))`` (the map composed with itself, trilinear, zero
    beyond the grid as in :func:`warp_image`). A smooth small velocity gives a map without
    folding. ``steps = 0`` returns ``velocity`` unchanged.

    Args:
        velocity: ``(B, 3, D, H, W)`` float, voxels.
        steps: number of squarings (>= 0).

    Returns:
        ``(B, 3, D, H, W)`` float, voxels, fixed -> moving.
    """
    _check_ddf(velocity)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    ddf = velocity / float(2**steps)
    for _ in range(steps):
        ddf = ddf + warp_image(ddf, ddf)
    return ddf
