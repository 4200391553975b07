"""Label-driven registration loss (after Hu et al. 2018, label-reg).

``loss = mean over scales s of (1 - Dice(G_s * fixed_label, G_s * warped_moving_label))
         + weight * regulariser(ddf) [+ image_weight * image_term(fixed, warped_moving)]``

where ``G_s`` is a Gaussian filter of ``s`` voxels (``s = 0`` leaves the label as it is; the
label-reg default scales are 0, 1, 2, 4, 8, 16) and the regulariser is the bending energy of the
DDF (or, as an option, the squared gradient norm). The optional image term (``1 - LNCC`` or MSE)
is off by default: the product is label-driven. Labels are soft/binary ``(B, L, D, H, W)``
tensors; DDFs are ``(B, 3, D, H, W)`` in voxels (:mod:`hwreg.warp`).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional

from hwreg.warp import warp_image


class ImageSimilarity(enum.StrEnum):
    """Optional image term (label Dice stays the main, label-driven loss)."""

    none = "none"  #: labels only (label-reg)
    lncc = "lncc"  #: 1 - local normalised cross-correlation (robust to intensity changes)
    mse = "mse"  #: mean squared intensity difference


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
    #: Optional image similarity between the fixed and the warped moving image.
    image: ImageSimilarity = ImageSimilarity.none
    #: Weight of the image term.
    image_weight: float = 0.0
    #: LNCC window (voxels, odd).
    lncc_window: int = 5


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


@functools.lru_cache(maxsize=64)
def smoothing_matrix(n: int, sigma: float) -> torch.Tensor:
    """``(n, n)`` matrix ``M`` with ``M @ x`` = the zero-padded convolution of a length-``n``
    signal with :func:`gaussian_kernel` (``sigma`` voxels, truncated at 3 sigma and ``n - 1``)."""
    kernel = gaussian_kernel(sigma, max_radius=n - 1)
    r = kernel.numel() // 2
    idx = torch.arange(n)
    offset = idx[None, :] - idx[:, None]  # offset[j, i] = i - j: out[j] = sum_i k[i - j] x[i]
    taps = kernel[(offset + r).clamp(0, 2 * r)]
    return torch.where(offset.abs() <= r, taps, torch.zeros(()))


def gaussian_smooth_multi(volume: torch.Tensor, sigmas: Sequence[float]) -> list[torch.Tensor]:
    """:func:`gaussian_smooth` at several scales: separable, one banded matrix product per axis.

    Equals the zero-padded linear convolution with the truncated, normalised discrete kernel
    (a banded matrix product is 3-4x faster than an FFT on CPU at these sizes, backward too).
    """
    out = []
    for sigma in sigmas:
        if sigma <= 0:
            out.append(volume)
            continue
        x = volume
        for axis in range(3):
            m = smoothing_matrix(int(volume.shape[2 + axis]), float(sigma))
            m = m.to(volume.device, volume.dtype)
            # move the axis last, multiply, move it back
            x = torch.movedim(torch.movedim(x, 2 + axis, -1) @ m.T, -1, 2 + axis)
        out.append(x)
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


def lncc(a: torch.Tensor, b: torch.Tensor, window: int = 5, eps: float = 1e-5) -> torch.Tensor:
    """Mean local normalised cross-correlation of ``(B, 1, D, H, W)`` images over cubic windows
    of ``window`` voxels (squared, as VoxelMorph's NCC: in [0, 1], 1 = locally linear)."""
    pad = window // 2

    def mean(x: torch.Tensor) -> torch.Tensor:
        return functional.avg_pool3d(x, window, stride=1, padding=pad, count_include_pad=False)

    mu_a, mu_b = mean(a), mean(b)
    cov = mean(a * b) - mu_a * mu_b
    var_a = (mean(a * a) - mu_a**2).clamp_min(0)
    var_b = (mean(b * b) - mu_b**2).clamp_min(0)
    return (cov**2 / (var_a * var_b + eps)).mean()


def image_loss(fixed: torch.Tensor, warped: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    """The optional image term of ``cfg`` (0 for ``image: none``)."""
    if cfg.image == ImageSimilarity.lncc:
        return 1 - lncc(fixed, warped, cfg.lncc_window)
    if cfg.image == ImageSimilarity.mse:
        return (fixed - warped).pow(2).mean()
    return fixed.new_zeros(())


def registration_loss(ddf: torch.Tensor, fixed_label: torch.Tensor, moving_label: torch.Tensor,
                      cfg: LossConfig, fixed_image: torch.Tensor | None = None,
                      moving_image: torch.Tensor | None = None,
                      ) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss and its parts (``dice_loss``, ``reg``, ``image``) for logging.

    ``ddf``: (B, 3, D, H, W) voxels, fixed -> moving; labels: (B, L, D, H, W) in [0, 1], one
    channel per sampled label; images (B, 1, D, H, W), needed when ``cfg.image`` is not none.
    """
    warped = warp_image(moving_label, ddf)
    dice = multiscale_dice_loss(fixed_label, warped, cfg.dice_sigmas, cfg.pyramid)
    penalty = bending_energy(ddf) if cfg.regulariser == Regulariser.bending else gradient_norm(ddf)
    loss = dice + cfg.reg_weight * penalty
    parts = {"dice_loss": float(dice.detach()), "reg": float(penalty.detach())}
    if cfg.image != ImageSimilarity.none and cfg.image_weight > 0:
        if fixed_image is None or moving_image is None:
            raise ValueError(f"loss.image {cfg.image.value} needs the fixed and moving images")
        term = image_loss(fixed_image, warp_image(moving_image, ddf), cfg)
        loss = loss + cfg.image_weight * term
        parts["image"] = float(term.detach())
    return loss, parts
