"""The host side of the accelerator: what runs before and after the hardware graph.

Host prologue (:func:`quantise_input`, :func:`prologue`): float ``(B, 2, D, H, W)`` in [0, 1] ->
8-bit codes ``round(clip(x * 256, 0, 255))`` -> NDHWC -> ``(B, D*H*W, 2)`` (the stream layout of
:mod:`hwreg.compile.layout`). Computed in float32 with torch: the input scale is a power of two,
so ``x * 256`` is exact and the codes equal a float64 computation bit for bit.
Host epilogue (:func:`epilogue`): integer codes ``(B, D'*H'*W', 3)`` -> ``(B, 3, D', H', W')``
codes; :func:`ddf_from_codes` goes on to the DDF, ``codes * output_scale`` upsampled x2 on the
host when ``head_level = 1`` (:func:`hwreg.warp.upsample_ddf`); the map to a NIfTI's native grid
is :func:`hwreg.runtime.register.map_to_fixed`.
"""

from __future__ import annotations

import numpy as np
import torch

from hwreg.compile.layout import INPUT_SCALE, TO_NCDHW, TO_NDHWC
from hwreg.warp import upsample_ddf


def quantise_input(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Host prologue: ``x`` (B, C, D, H, W) float in [0, 1] -> uint8 codes (B, D*H*W, C)."""
    t = torch.as_tensor(x, dtype=torch.float32)
    b, c = t.shape[:2]
    codes = (t * (1.0 / INPUT_SCALE)).round_().clamp_(0, 255).to(torch.uint8)
    return codes.permute(TO_NDHWC).reshape(b, -1, c).numpy()  # NCDHW -> NDHWC


def prologue(x: np.ndarray) -> np.ndarray:
    """Host prologue as the graph's float input: codes (B, D*H*W, C) float32."""
    return quantise_input(x).astype(np.float32)


def epilogue(codes: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """Host epilogue: codes (B, D*H*W, C) -> (B, C, D, H, W) integer codes."""
    b, _, c = codes.shape
    v = codes.reshape(b, *grid, c).transpose(TO_NCDHW)  # NDHWC -> NCDHW
    return np.round(v).astype(np.int64)


def ddf_from_codes(codes: np.ndarray | torch.Tensor, grid: tuple[int, int, int], scale: float,
                   model_grid: tuple[int, int, int]) -> torch.Tensor:
    """Host epilogue to the model-grid DDF.

    Args:
        codes: ``(B, D'*H'*W', 3)`` integer DDF codes from the accelerator (NDHWC).
        grid: the output grid ``(D', H', W')``; scale: the DDF's output scale (voxels per code
            on that grid).
        model_grid: the model's input grid ``(D, H, W)``.

    Returns:
        ``(B, 3, D, H, W)`` float32 DDF in voxels of the model grid (fixed -> moving).
    """
    t = torch.as_tensor(codes)
    b = t.shape[0]
    ddf = (t.reshape(b, *grid, 3).float() * scale).permute(TO_NCDHW)  # NDHWC -> NCDHW
    return upsample_ddf(ddf, model_grid) if tuple(grid) != tuple(model_grid) else ddf
