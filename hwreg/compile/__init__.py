"""FINN 3D compile path: QONNX -> integer NDHWC graph -> FINN hardware layers -> folding,
estimates, code generation (and a bitstream where Vivado exists).

Importing this package registers the project's 3D hardware ops with FINN (see
:mod:`hwreg.compile.ops`).
"""

from hwreg.compile import ops as ops
