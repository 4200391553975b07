"""NDHWC layout of the hardware graph.

qonnx knows layouts up to 4D only (``NCHW``/``NHWC``); a layout is just a list of axis names, so
the 5D ones live here. Inside the hardware graph every stream is one volume flattened to
``(D*H*W, C)``: pixels in (D, H, W) order, channels fastest — NDHWC with the batch of 1 and the
spatial axes merged, which FINN's MVAU, thresholding, elementwise and duplicate ops treat as a
plain ``(vectors, channels)`` matrix. The 3D ops carry the spatial shape as attributes.

The host puts volumes into this layout and takes the DDF out of it: :mod:`hwreg.runtime.host`
(``prologue``, ``epilogue``).
"""

from __future__ import annotations

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
