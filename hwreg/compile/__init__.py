"""FINN 3D compile path: QONNX -> integer NDHWC graph -> FINN hardware layers -> folding,
FIFO depths (:mod:`.fifos`), estimates of every layer and buffer, code generation (and a
bitstream where Vivado exists).

Importing :mod:`hwreg.compile.ops` registers the project's 3D hardware ops with FINN; the build
steps and the emulator import it. The package itself imports nothing heavy, so the ``hwreg`` CLI
starts without loading FINN.
"""
