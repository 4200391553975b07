"""3D sliding-window generator (the im2col of a Conv3d) as a FINN hardware op.

Streams: input ``(D*H*W, C)`` (one NDHWC volume, pixels in D, H, W order, channels fastest);
output ``(OD*OH*OW, K*K*K*C)``: one row per output voxel holding its window in (kd, kh, kw, c)
order, c fastest, so that the following MVAU's weight matrix is ``W[co, ci, kd, kh, kw]``
transposed to ``(kd, kh, kw, ci, co)`` and reshaped to ``(K**3 * C, C_out)``. Zero padding
(``Pad`` voxels on each side of each axis) and stride are done inside the generator.

Folding: ``SIMD`` elements leave per cycle. ``SIMD`` divides ``C`` (channel folding), or is
``C * m`` with ``m`` dividing ``K**3`` (``m`` window positions per cycle, FINN's
``parallel_window``). The buffer holds ``(K-1)`` whole planes plus ``K`` rows (rounded up to a
power of two), the 3D analogue of FINN's line buffer, replicated ``m``
times for ``m`` reads per cycle. RTL: ``hdl/hwreg_swg3d.sv``.

Not named ``Im2Col``: FINN's ``InferConvInpGen`` matches that op type in any domain.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from finn.custom_op.fpgadataflow import register_custom_op
from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from qonnx.core.datatype import DataType

from hwreg.compile.ops.common import CONTROL_LUTS, divisors, memory_cost


def out_dim(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output size of one axis of a padded, strided window."""
    return (size + 2 * pad - kernel) // stride + 1


def im2col3d(x: np.ndarray, dims: tuple[int, int, int], channels: int, kernel: int,
             stride: int, pad: int) -> np.ndarray:
    """Reference 3D im2col: ``x`` (D*H*W, C) NDHWC -> (OD*OH*OW, K**3 * C), window (kd,kh,kw,c)."""
    d, h, w = dims
    v = x.reshape(d, h, w, channels)
    vp = np.pad(v, ((pad, pad), (pad, pad), (pad, pad), (0, 0)))
    od, oh, ow = (out_dim(n, kernel, stride, pad) for n in dims)
    cols = np.empty((od, oh, ow, kernel, kernel, kernel, channels), dtype=x.dtype)
    for kd in range(kernel):
        for kh in range(kernel):
            for kw in range(kernel):
                cols[:, :, :, kd, kh, kw, :] = vp[kd:kd + stride * od:stride,
                                                  kh:kh + stride * oh:stride,
                                                  kw:kw + stride * ow:stride, :]
    return cols.reshape(od * oh * ow, kernel ** 3 * channels)


@register_custom_op
class ConvolutionInputGenerator3D_hwreg(HWCustomOp):
    """3D sliding-window generator; see the module docstring."""

    def get_nodeattr_types(self) -> dict[str, Any]:
        attrs = {
            "ConvKernelDim": ("ints", True, []),  # (K_D, K_H, K_W), all equal
            "IFMChannels": ("i", True, 0),
            "IFMDim": ("ints", True, []),  # (D, H, W)
            "Stride": ("ints", True, []),  # (S_D, S_H, S_W), all equal
            "Pad": ("ints", True, []),  # symmetric zero padding per axis, all equal
            "SIMD": ("i", False, 1),
            "inputDataType": ("s", True, ""),
            "outputDataType": ("s", False, ""),
            "ram_style": ("s", False, "auto", {"auto", "block", "distributed", "ultra"}),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    # -- geometry ------------------------------------------------------------------------------
    def _geom(self) -> tuple[tuple[int, int, int], int, int, int, int]:
        dims = tuple(int(v) for v in self.get_nodeattr("IFMDim"))
        k = int(self.get_nodeattr("ConvKernelDim")[0])
        s = int(self.get_nodeattr("Stride")[0])
        p = int(self.get_nodeattr("Pad")[0])
        return dims, int(self.get_nodeattr("IFMChannels")), k, s, p  # type: ignore[return-value]

    def get_ofm_dim(self) -> tuple[int, int, int]:
        """Output grid (OD, OH, OW)."""
        dims, _, k, s, p = self._geom()
        return tuple(out_dim(n, k, s, p) for n in dims)  # type: ignore[return-value]

    def legal_simd(self) -> list[int]:
        """SIMD values this op supports (see module docstring), ascending."""
        _, c, k, _, _ = self._geom()
        return sorted(set(divisors(c)) | {c * m for m in divisors(k ** 3)})

    def _in_simd(self) -> int:
        return min(int(self.get_nodeattr("SIMD")), self._geom()[1])

    def get_normal_input_shape(self, ind: int = 0) -> tuple[int, int]:
        dims, c, _, _, _ = self._geom()
        return (int(np.prod(dims)), c)

    def get_normal_output_shape(self, ind: int = 0) -> tuple[int, int]:
        _, c, k, _, _ = self._geom()
        return (int(np.prod(self.get_ofm_dim())), k ** 3 * c)

    def get_folded_input_shape(self, ind: int = 0) -> tuple[int, int, int]:
        n, c = self.get_normal_input_shape()
        si = self._in_simd()
        return (n, c // si, si)

    def get_folded_output_shape(self, ind: int = 0) -> tuple[int, int, int]:
        n, cols = self.get_normal_output_shape()
        simd = int(self.get_nodeattr("SIMD"))
        return (n, cols // simd, simd)

    def get_number_output_values(self) -> int:
        return int(np.prod(self.get_folded_output_shape()[:-1]))

    # -- datatypes and streams ----------------------------------------------------------------
    def get_input_datatype(self, ind: int = 0) -> Any:
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind: int = 0) -> Any:
        return self.get_input_datatype()

    def get_instream_width(self, ind: int = 0) -> int:
        return self._in_simd() * self.get_input_datatype().bitwidth()

    def get_outstream_width(self, ind: int = 0) -> int:
        return int(self.get_nodeattr("SIMD")) * self.get_output_datatype().bitwidth()

    def infer_node_datatype(self, model: Any) -> None:
        idt = model.get_tensor_datatype(self.onnx_node.input[0])
        self.set_nodeattr("inputDataType", idt.name)
        self.set_nodeattr("outputDataType", idt.name)
        model.set_tensor_datatype(self.onnx_node.output[0], idt)

    def verify_node(self) -> list[str]:
        msgs = []
        simd = int(self.get_nodeattr("SIMD"))
        if simd not in self.legal_simd():
            msgs.append(f"SIMD {simd} is not one of {self.legal_simd()}")
        k = self.get_nodeattr("ConvKernelDim")
        if len(set(k)) != 1 or len(set(self.get_nodeattr("Stride"))) != 1:
            msgs.append("only cubic kernels and equal strides are supported")
        return msgs

    # -- execution ----------------------------------------------------------------------------
    def execute_node(self, context: dict[str, np.ndarray], graph: Any) -> None:
        dims, c, k, s, p = self._geom()
        x = context[self.onnx_node.input[0]]
        context[self.onnx_node.output[0]] = im2col3d(x, dims, c, k, s, p).astype(np.float32)

    # -- cycles and resources -----------------------------------------------------------------
    def get_exp_cycles(self) -> int:
        n_in, c = self.get_normal_input_shape()
        read = n_in * c // self._in_simd()
        return int(max(read, self.get_number_output_values()))

    def reader_schedule(self) -> tuple[np.ndarray, np.ndarray]:
        """Per output voxel, in stream order, over two volumes back to back (the second's pixel
        indices offset by ``D*H*W``): ``(newest, need)``, the newest input pixel its window
        reads and the oldest pixel the RTL keeps while on it (the start of its window's first
        row, or first plane when the next output plane starts at the same clipped plane:
        ``need_lo`` of ``hdl/hwreg_swg3d.sv``), both as linear pixel indices. Shapes
        ``(2*OD*OH*OW,)``."""
        (d, h, w), _, k, s, p = self._geom()
        od_n, oh_n, ow_n = self.get_ofm_dim()
        od, oh, ow = np.meshgrid(np.arange(od_n), np.arange(oh_n), np.arange(ow_n),
                                 indexing="ij")  # (OD, OH, OW): voxel raster order
        bd, bh, bw = od * s - p, oh * s - p, ow * s - p
        newest = (np.minimum(bd + k - 1, d - 1) * h * w + np.minimum(bh + k - 1, h - 1) * w
                  + np.minimum(bw + k - 1, w - 1)).ravel()
        lo_d, lo_h = np.maximum(bd, 0) * h * w, np.maximum(bh, 0) * w
        keep = (od < od_n - 1) & (np.maximum(bd + s, 0) * h * w == lo_d)
        need = np.where(keep, lo_d, lo_d + lo_h).ravel()
        npix = d * h * w
        return (np.concatenate([newest, newest + npix]).astype(np.int64),
                np.concatenate([need, need + npix]).astype(np.int64))

    def buffer_span(self) -> int:
        """Pixels the buffer must hold so that the reader never waits for a pixel the writer
        was not allowed to write: over every pair of consecutive output voxels (row, plane and
        volume ends included) the next window's newest pixel minus the oldest pixel kept for
        the current one, + 1; at least ``(K-1)*H*W + K*W``. A stride-``s`` generator frees
        only one input plane per output plane but needs ``s`` new ones before the next plane's
        first window: about ``(K+s-2)`` planes."""
        (_, h, w), _, k, _, _ = self._geom()
        newest, need = self.reader_schedule()
        return max((k - 1) * h * w + k * w, int(np.max(newest[1:] - need[:-1])) + 1)

    def buffer_pixels(self) -> int:
        """Pixels held by the window buffer: :meth:`buffer_span` rounded up to a power of two
        (the RTL's circular buffer)."""
        return 1 << max(1, (self.buffer_span() - 1).bit_length())

    def input_backlog(self) -> int:
        """Input pixels that can wait in front of the generator (beyond handshake bursts)
        when its output is taken no slower than the input arrives on average and the input
        arrives at a steady rate, one pixel per ``T`` cycles (the bottleneck rate): its output
        consumer then takes a voxel at most every ``rho*T`` cycles, ``rho = D*H*W /
        (OD*OH*OW)``, so the reader issues voxel ``v`` at ``r(v) = max(a(newest(v)), r(v-1)
        + rho*T)`` and lags the arrival of ``newest(v)`` by ``lag(v) = max_{u<=v} rho*(v-u) -
        (newest(v) - newest(u))`` pixels (Lindley's recursion). The writer takes every
        arrived pixel up to ``need + L`` (``L`` = :meth:`buffer_pixels` >= :meth:`buffer_span`,
        so the reader never waits for the writer), and while the reader is on ``v`` at most
        ``newest(v) + 1 + lag(v)`` pixels have arrived: the input FIFO holds at most
        ``max_v newest(v) + 1 + lag(v) - need(v) - L`` pixels, 0 when the buffer absorbs it."""
        newest, need = self.reader_schedule()
        rho = self.get_normal_input_shape()[0] / int(np.prod(self.get_ofm_dim()))
        g = rho * np.arange(len(newest)) - newest
        lag = g - np.minimum.accumulate(g)
        over = np.max(newest + 1 + lag - need) - self.buffer_pixels()
        return max(0, math.ceil(over))

    def _buffer(self) -> tuple[int, int]:
        """(width_bits, depth) of one buffer bank: one word per input beat."""
        c = self._geom()[1]
        si = self._in_simd()
        return si * self.get_input_datatype().bitwidth(), self.buffer_pixels() * (c // si)

    def _banks(self) -> int:
        # parallel window: M = SIMD / C window positions per cycle, one replicated bank each
        simd, c = int(self.get_nodeattr("SIMD")), self._geom()[1]
        return simd // c if simd > c else 1

    def bram_estimation(self, fpgapart: str) -> int:
        width, depth = self._buffer()
        style = str(self.get_nodeattr("ram_style"))
        return memory_cost(width, depth, style)["BRAM_18K"] * self._banks()

    def uram_estimation(self, fpgapart: str) -> int:
        width, depth = self._buffer()
        style = str(self.get_nodeattr("ram_style"))
        return memory_cost(width, depth, style)["URAM"] * self._banks()

    def lut_estimation(self, fpgapart: str) -> int:
        width, depth = self._buffer()
        style = str(self.get_nodeattr("ram_style"))
        mem = memory_cost(width, depth, style)["LUT"] * self._banks()
        # output multiplexing: one mux input per output bit per bank
        return CONTROL_LUTS + 2 * self.get_outstream_width() * self._banks() + mem

    def dsp_estimation(self, fpgapart: str) -> int:
        return 0
