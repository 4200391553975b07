"""The host side of the accelerator: what runs before and after the hardware graph.

Host prologue (:func:`prologue`): float ``(B, 2, D, H, W)`` in [0, 1] -> 8-bit codes
``round(clip(x * 256, 0, 255))`` -> NDHWC -> ``(B, D*H*W, 2)`` (the stream layout of
:mod:`hwreg.compile.layout`).
Host epilogue (:func:`epilogue`): integer codes ``(B, D'*H'*W', 3)`` -> ``(B, 3, D', H', W')``
codes; the DDF is ``codes * output_scale`` (then upsampled x2 on the host when
``head_level = 1``, :func:`hwreg.warp.upsample_ddf`).
"""

from __future__ import annotations

import numpy as np

from hwreg.compile.layout import INPUT_SCALE, TO_NCDHW, TO_NDHWC


def prologue(x: np.ndarray) -> np.ndarray:
    """Host prologue: ``x`` (B, C, D, H, W) float in [0, 1] -> codes (B, D*H*W, C) float."""
    codes = np.round(np.clip(x.astype(np.float64) / INPUT_SCALE, 0, 255))
    b, c = x.shape[:2]
    return codes.transpose(TO_NDHWC).reshape(b, -1, c).astype(np.float32)  # NCDHW -> NDHWC


def epilogue(codes: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """Host epilogue: codes (B, D*H*W, C) -> (B, C, D, H, W) integer codes."""
    b, _, c = codes.shape
    v = codes.reshape(b, *grid, c).transpose(TO_NCDHW)  # NDHWC -> NCDHW
    return np.round(v).astype(np.int64)
