"""NDHWC layout of the hardware graph and the host-side prologue/epilogue.

qonnx knows layouts up to 4D only (``NCHW``/``NHWC``); a layout is just a list of axis names, so
the 5D ones live here. Inside the hardware graph every stream is one volume flattened to
``(D*H*W, C)``: pixels in (D, H, W) order, channels fastest — NDHWC with the batch of 1 and the
spatial axes merged, which FINN's MVAU, thresholding, elementwise and duplicate ops treat as a
plain ``(vectors, channels)`` matrix. The 3D ops carry the spatial shape as attributes.

Host prologue (:func:`prologue`): float ``(B, 2, D, H, W)`` in [0, 1] -> 8-bit codes
``round(clip(x * 256, 0, 255))`` -> NDHWC -> ``(B, D*H*W, 2)``.
Host epilogue (:func:`epilogue`): integer codes ``(B, D'*H'*W', 3)`` -> ``(B, 3, D', H', W')``
codes; the DDF is ``codes * output_scale`` (then upsampled x2 on the host when
``head_level = 1``, :func:`hwreg.warp.upsample_ddf`).
"""

from __future__ import annotations

import numpy as np

#: Layout of a 5D activation tensor in PyTorch/ONNX.
NCDHW = ["N", "C", "D", "H", "W"]
#: Channel-last layout of the hardware streams.
NDHWC = ["N", "D", "H", "W", "C"]
#: Permutation NCDHW -> NDHWC (channels to the last axis).
TO_NDHWC = (0, 2, 3, 4, 1)
#: Permutation NDHWC -> NCDHW (channels back to axis 1).
TO_NCDHW = (0, 4, 1, 2, 3)
#: The fixed input quantiser of the network: 8-bit codes with scale 2**-8.
INPUT_SCALE = 2.0 ** -8


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
