"""Label-driven registration loss (after Hu et al. 2018, label-reg).

``loss = mean over scales s of (1 - Dice(G_s * fixed_label, G_s * warped_moving_label))
         + weight * regulariser(ddf)``

where ``G_s`` is a Gaussian filter of ``s`` voxels (``s = 0`` leaves the label as it is; the
label-reg default scales are 0, 1, 2, 4, 8, 16) and the regulariser is the bending energy of the
DDF (or, as an option, the squared gradient norm). Labels are soft/binary ``(B, 1, D, H, W)``
tensors; DDFs are ``(B, 3, D, H, W)`` in voxels (:mod:`hwreg.warp`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional

from hwreg.warp import warp_image


class Regulariser(enum.StrEnum):
    """DDF smoothness penalty."""

    bending = "bending"  #: bending energy (second derivatives), label-reg's default
    gradient = "gradient"  #: squared first derivatives (L2 gradient norm)


@dataclass
class LossConfig:
    """Loss terms and weights."""

    #: Gaussian sigmas (voxels) of the multi-scale Dice; 0 = the unsmoothed label.
    dice_sigmas: list[float] = field(default_factory=lambda: [0.0, 1.0, 2.0, 4.0, 8.0, 16.0])
    #: Smoothness penalty on the DDF.
    regulariser: Regulariser = Regulariser.bending
    #: Weight of the smoothness penalty.
    reg_weight: float = 0.5
    #: Smooth large scales on a downsampled label (sigma >= 4: average-pool by sigma/2, then a
    #: Gaussian of 2 voxels): ~10x cheaper on CPU; false = every scale at full resolution.
    pyramid: bool = True


def gaussian_kernel(sigma: float, max_radius: int) -> torch.Tensor:
    """Normalised 1D Gaussian of ``sigma`` voxels, truncated at 3 sigma (and ``max_radius``)."""
    radius = max(1, min(math.ceil(3 * sigma), max_radius))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_smooth(volume: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian filter (``sigma`` voxels, truncated at 3 sigma, zero padding) of
    ``(B, C, D, H, W)`` along D, H, W."""
    return gaussian_smooth_multi(volume, [sigma])[0]


def gaussian_smooth_multi(volume: torch.Tensor, sigmas: Sequence[float]) -> list[torch.Tensor]:
    """:func:`gaussian_smooth` at several scales, computed with one FFT of the padded volume.

    Each axis is zero-padded by the largest kernel radius, so the circular FFT convolution equals
    the zero-padded linear convolution with the truncated, normalised discrete kernel.
    """
    shape = volume.shape[2:]
    radius = max((min(math.ceil(3 * s), n - 1) for s in sigmas if s > 0 for n in shape),
                 default=0)
    if radius == 0:
        return [volume for _ in sigmas]
    padded = [n + radius for n in shape]
    spectrum = torch.fft.rfftn(volume, s=padded, dim=(2, 3, 4))
    out = []
    for sigma in sigmas:
        if sigma <= 0:
            out.append(volume)
            continue
        transfer = None
        for axis, (n, n_pad) in enumerate(zip(shape, padded, strict=True)):
            kernel = gaussian_kernel(sigma, max_radius=n - 1).to(volume.device, volume.dtype)
            r = kernel.numel() // 2
            wrapped = torch.zeros(n_pad, dtype=volume.dtype, device=volume.device)
            wrapped[:r + 1] = kernel[r:]  # offsets 0..r
            wrapped[n_pad - r:] = kernel[:r]  # offsets -r..-1 wrap to the end
            spec = torch.fft.rfft(wrapped) if axis == 2 else torch.fft.fft(wrapped)
            view = [1, 1, 1]
            view[axis] = -1
            spec = spec.view(view)
            transfer = spec if transfer is None else transfer * spec
        smoothed = torch.fft.irfftn(spectrum * transfer, s=padded, dim=(2, 3, 4))
        out.append(smoothed[:, :, : shape[0], : shape[1], : shape[2]])
    return out


def soft_dice(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Soft Dice ``2 sum(ab) / (sum(a^2) + sum(b^2))`` per batch item and channel of
    ``(B, C, D, H, W)`` maps in [0, 1] -> ``(B, C)``. It equals the usual Dice on binary maps and
    is exactly 1 for identical soft (smoothed) maps, so the loss of a perfect match is 0."""
    dims = tuple(range(2, a.dim()))
    inter = (a * b).sum(dims)
    return (2 * inter + eps) / (a.pow(2).sum(dims) + b.pow(2).sum(dims) + eps)


def pool_factor(sigma: float) -> int:
    """Downsampling factor of the pyramid for ``sigma``: the largest power of 2 <= sigma / 2."""
    return 2 ** math.floor(math.log2(sigma / 2)) if sigma >= 4 else 1


def multiscale_dice_loss(fixed: torch.Tensor, warped: torch.Tensor, sigmas: Sequence[float],
                         pyramid: bool = False) -> torch.Tensor:
    """Mean over scales, batch and label channels of ``1 - Dice`` of the smoothed labels.

    With ``pyramid``, a scale ``sigma >= 4`` is computed on both labels average-pooled by
    ``f = pool_factor(sigma)`` and smoothed by ``sigma / f`` (Dice is a ratio of sums, so the
    coarse grid approximates the full-resolution value at a fraction of the cost).
    """
    if not pyramid:
        with torch.no_grad():  # the fixed label is a constant
            fixed_s = gaussian_smooth_multi(fixed, sigmas)
        warped_s = gaussian_smooth_multi(warped, sigmas)
    else:
        fixed_s, warped_s = [], []
        for sigma in sigmas:
            f = pool_factor(sigma)
            a, b = (functional.avg_pool3d(x, f, ceil_mode=True) if f > 1 else x
                    for x in (fixed, warped))
            with torch.no_grad():
                fixed_s.append(gaussian_smooth(a, sigma / f))
            warped_s.append(gaussian_smooth(b, sigma / f))
    losses = [1 - soft_dice(f, w) for f, w in zip(fixed_s, warped_s, strict=True)]
    return torch.stack(losses).mean()


def bending_energy(ddf: torch.Tensor) -> torch.Tensor:
    """Mean bending energy of a DDF ``(B, 3, D, H, W)``: sum of squared second derivatives
    (central differences, interior voxels; mixed terms counted twice)."""
    d = [lambda t: (t[:, :, 2:] - t[:, :, :-2]) / 2,
         lambda t: (t[:, :, :, 2:] - t[:, :, :, :-2]) / 2,
         lambda t: (t[:, :, :, :, 2:] - t[:, :, :, :, :-2]) / 2]
    total = ddf.new_zeros(())
    for i in range(3):
        for j in range(i, 3):
            second = d[j](d[i](ddf))
            total = total + (1 if i == j else 2) * second.pow(2).mean()
    return total


def gradient_norm(ddf: torch.Tensor) -> torch.Tensor:
    """Mean squared first differences of a DDF ``(B, 3, D, H, W)`` along D, H, W."""
    return ((ddf[:, :, 1:] - ddf[:, :, :-1]).pow(2).mean()
            + (ddf[:, :, :, 1:] - ddf[:, :, :, :-1]).pow(2).mean()
            + (ddf[:, :, :, :, 1:] - ddf[:, :, :, :, :-1]).pow(2).mean())


def registration_loss(ddf: torch.Tensor, fixed_label: torch.Tensor, moving_label: torch.Tensor,
                      cfg: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss and its parts (``dice``, ``reg``) for logging.

    ``ddf``: (B, 3, D, H, W) voxels, fixed -> moving; labels: (B, L, D, H, W) in [0, 1], one
    channel per sampled label.
    """
    warped = warp_image(moving_label, ddf)
    dice = multiscale_dice_loss(fixed_label, warped, cfg.dice_sigmas, cfg.pyramid)
    penalty = bending_energy(ddf) if cfg.regulariser == Regulariser.bending else gradient_norm(ddf)
    loss = dice + cfg.reg_weight * penalty
    return loss, {"dice_loss": float(dice.detach()), "reg": float(penalty.detach())}
