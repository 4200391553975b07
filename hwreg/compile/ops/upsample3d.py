"""3D nearest-neighbour upsampling by an integer factor as a FINN hardware op.

Streams: input ``(D*H*W, C)`` (NDHWC, pixels in D, H, W order), output
``(sD*sH*sW, C)`` with ``out[d, h, w] = in[d // s, h // s, w // s]`` (PyTorch's
``nn.Upsample(mode="nearest")`` and ONNX Resize nearest/asymmetric/floor for integer factors).

Folding: ``PE`` channels per cycle (``PE`` divides ``C``). The buffer holds two input planes
(rounded up to a power of two): one replayed for the ``s`` output planes it makes while the
next is written; rows and pixels are repeated from it. RTL: ``hdl/hwreg_upsample3d.sv``
(``Scale`` 2 only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from finn.custom_op.fpgadataflow import register_custom_op
from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from qonnx.core.datatype import DataType

from hwreg.compile.ops.common import CONTROL_LUTS, divisors, memory_cost


def upsample_nearest3d(x: np.ndarray, dims: tuple[int, int, int], channels: int,
                       scale: int) -> np.ndarray:
    """Reference: ``x`` (D*H*W, C) NDHWC -> (sD*sH*sW, C)."""
    v = x.reshape(*dims, channels)
    for axis in range(3):
        v = np.repeat(v, scale, axis=axis)
    return v.reshape(-1, channels)


@register_custom_op
class UpsampleNearest3D_hwreg(HWCustomOp):
    """3D nearest upsampling; see the module docstring."""

    def get_nodeattr_types(self) -> dict[str, Any]:
        attrs = {
            "IFMDim": ("ints", True, []),  # (D, H, W)
            "NumChannels": ("i", True, 0),
            "Scale": ("i", False, 2),
            "PE": ("i", False, 1),
            "inputDataType": ("s", True, ""),
            "ram_style": ("s", False, "auto", {"auto", "block", "distributed", "ultra"}),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    def _dims(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.get_nodeattr("IFMDim"))  # type: ignore[return-value]

    def legal_pe(self) -> list[int]:
        """PE values this op supports (divisors of the channel count)."""
        return divisors(int(self.get_nodeattr("NumChannels")))

    def get_normal_input_shape(self, ind: int = 0) -> tuple[int, int]:
        return (int(np.prod(self._dims())), int(self.get_nodeattr("NumChannels")))

    def get_normal_output_shape(self, ind: int = 0) -> tuple[int, int]:
        s = int(self.get_nodeattr("Scale"))
        return (int(np.prod(self._dims())) * s ** 3, int(self.get_nodeattr("NumChannels")))

    def get_folded_input_shape(self, ind: int = 0) -> tuple[int, int, int]:
        n, c = self.get_normal_input_shape()
        pe = int(self.get_nodeattr("PE"))
        return (n, c // pe, pe)

    def get_folded_output_shape(self, ind: int = 0) -> tuple[int, int, int]:
        n, c = self.get_normal_output_shape()
        pe = int(self.get_nodeattr("PE"))
        return (n, c // pe, pe)

    def get_number_output_values(self) -> int:
        return int(np.prod(self.get_folded_output_shape()[:-1]))

    def get_input_datatype(self, ind: int = 0) -> Any:
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind: int = 0) -> Any:
        return self.get_input_datatype()

    def get_instream_width(self, ind: int = 0) -> int:
        return int(self.get_nodeattr("PE")) * self.get_input_datatype().bitwidth()

    def get_outstream_width(self, ind: int = 0) -> int:
        return self.get_instream_width()

    def infer_node_datatype(self, model: Any) -> None:
        idt = model.get_tensor_datatype(self.onnx_node.input[0])
        self.set_nodeattr("inputDataType", idt.name)
        model.set_tensor_datatype(self.onnx_node.output[0], idt)

    def verify_node(self) -> list[str]:
        pe = int(self.get_nodeattr("PE"))
        return [] if pe in self.legal_pe() else [f"PE {pe} is not one of {self.legal_pe()}"]

    def execute_node(self, context: dict[str, np.ndarray], graph: Any) -> None:
        x = context[self.onnx_node.input[0]]
        y = upsample_nearest3d(x, self._dims(), int(self.get_nodeattr("NumChannels")),
                               int(self.get_nodeattr("Scale")))
        context[self.onnx_node.output[0]] = y.astype(np.float32)

    def get_exp_cycles(self) -> int:
        # one output word per cycle; input words are read while the first copy streams out
        return self.get_number_output_values()

    def buffer_pixels(self) -> int:
        """Pixels held by the buffer: two input planes rounded up to a power of two."""
        _, h, w = self._dims()
        return 1 << max(1, (2 * h * w - 1).bit_length())

    def _buffer(self) -> tuple[int, int]:
        c, pe = int(self.get_nodeattr("NumChannels")), int(self.get_nodeattr("PE"))
        return self.get_instream_width(), self.buffer_pixels() * c // pe

    def bram_estimation(self, fpgapart: str) -> int:
        return memory_cost(*self._buffer(), str(self.get_nodeattr("ram_style")))["BRAM_18K"]

    def uram_estimation(self, fpgapart: str) -> int:
        return memory_cost(*self._buffer(), str(self.get_nodeattr("ram_style")))["URAM"]

    def lut_estimation(self, fpgapart: str) -> int:
        mem = memory_cost(*self._buffer(), str(self.get_nodeattr("ram_style")))["LUT"]
        return CONTROL_LUTS + self.get_outstream_width() + mem

    def dsp_estimation(self, fpgapart: str) -> int:
        return 0
