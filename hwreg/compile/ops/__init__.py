"""The project's FINN hardware ops. Importing this package registers them in FINN's
``finn.custom_op.fpgadataflow`` domain and their ``_rtl`` variants in ``...fpgadataflow.rtl``
(FINN treats only its own domains as hardware)."""

from hwreg.compile.ops import backends as backends  # registers the _rtl variants
from hwreg.compile.ops.upsample3d import UpsampleNearest3D_hwreg, upsample_nearest3d
from hwreg.compile.ops.window3d import ConvolutionInputGenerator3D_hwreg, im2col3d, out_dim

#: Op types of the project's own hardware ops.
HWREG_OPS = ("ConvolutionInputGenerator3D_hwreg", "UpsampleNearest3D_hwreg")

__all__ = [
    "HWREG_OPS",
    "ConvolutionInputGenerator3D_hwreg",
    "UpsampleNearest3D_hwreg",
    "im2col3d",
    "out_dim",
    "upsample_nearest3d",
]
