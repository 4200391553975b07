"""Lower the exported QONNX graph to an integer-only NDHWC graph (FINN's streamlined form).

Contract: input is the cleaned-up QONNX export of ``RegNet.core`` (ops ``Quant``, ``Conv``
(3D, float bias), ``Relu``, ``Resize`` (nearest x2), ``Add``); output is a graph whose tensors are
all integers in the ``(D*H*W, C)`` stream layout (:mod:`hwreg.compile.layout`) built from:

- ``ConvolutionInputGenerator3D_hwreg`` (3D im2col) + ``MatMul`` with integer weights
  ``(K**3*C_in, C_out)`` — the Conv3d lowering;
- ``MultiThreshold`` (per output channel, ``out_bias`` = lowest code) — each activation
  quantiser with the conv's scales and float bias absorbed into integer thresholds;
- ``UpsampleNearest3D_hwreg`` for ``Resize``; ``Add`` of two integer streams for the skips.

Why not FINN's own streamlining transforms: they are 4D-minded (``LowerConvsToMatMul``, transpose
absorption, channel-axis guesses of ``MultiThreshold``) and compute thresholds in float and
round them afterwards. Here every threshold is the smallest integer accumulator value whose
float32 evaluation ``round((acc * s_in * s_w + bias) / s_act)`` (the arithmetic of Brevitas and
of qonnx execution, both power-of-two scales) reaches the code, found by evaluating that float32
expression, so thresholds reproduce the float model's rounding exactly, ties included.
The graph input becomes the 8-bit input codes (the host quantises, :func:`layout.prologue`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.quant import quant
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from hwreg.compile.layout import INPUT_SCALE
from hwreg.compile.ops import out_dim
from hwreg.errors import UserError

#: Metadata keys written on the lowered graph (read by emulation and the epilogue).
META_OUT_SCALE = "hwreg_output_scale"
META_OUT_GRID = "hwreg_output_grid"
META_IN_GRID = "hwreg_input_grid"
#: JSON {QONNX tensor name: lowered integer tensor name} of every quantised activation.
META_TENSOR_MAP = "hwreg_tensor_map"


@dataclass
class _Stream:
    """An integer stream in the new graph: ``value = codes * scale``; dims (D, H, W)."""

    name: str
    scale: float
    dtype: DataType
    dims: tuple[int, int, int]
    channels: int


@dataclass
class _Acc:
    """A pending conv accumulator: ``value = acc * scale + bias[c]`` (then optionally ReLU)."""

    name: str
    scale: float
    bias: np.ndarray  # (C_out,) float32
    dims: tuple[int, int, int]
    channels: int
    relu: bool = False


def _quant_params(model: ModelWrapper, node) -> tuple[float, float, int, bool, bool]:
    scale = model.get_initializer(node.input[1])
    zp = model.get_initializer(node.input[2])
    bits = model.get_initializer(node.input[3])
    if scale is None or zp is None or bits is None or np.size(scale) != 1 or np.any(zp != 0):
        raise UserError(f"{node.name}: only per-tensor, zero-point-free Quant nodes are "
                        "supported")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    rounding = attrs.get("rounding_mode", b"ROUND")
    if (rounding.decode() if isinstance(rounding, bytes) else rounding) != "ROUND":
        raise UserError(f"{node.name}: rounding mode {rounding!r} is not supported")
    return (float(scale), float(zp), int(bits), bool(attrs.get("signed", 1)),
            bool(attrs.get("narrow", 0)))


def code_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """Integer range of a quantiser."""
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1 - int(narrow)


def quantised_code(acc: np.ndarray, acc_scale: float, bias: np.ndarray, act_scale: float,
                   lo: int, hi: int, relu: bool) -> np.ndarray:
    """The float32 reference: codes of ``Quant(Relu?(acc * acc_scale + bias))``.

    ``acc`` broadcasts against ``bias`` (C,) on its last axis.
    """
    v = (acc.astype(np.float64) * acc_scale).astype(np.float32) + bias.astype(np.float32)
    if relu:
        v = np.maximum(v, np.float32(0))
    return np.clip(np.round(v / np.float32(act_scale)), lo, hi)


def thresholds(acc_scale: float, bias: np.ndarray, act_scale: float, lo: int, hi: int,
               relu: bool) -> np.ndarray:
    """Integer thresholds ``(C, hi - lo)``: ``T[c, j]`` = least integer ``acc`` whose code is
    ``>= lo + j + 1`` (see module docstring)."""
    targets = np.arange(lo + 1, hi + 1, dtype=np.float64)[:, None]  # (m, 1)
    exact = ((targets - 0.5) * act_scale - bias[None, :].astype(np.float64)) / acc_scale
    guess = np.ceil(exact)  # (m, C); float32 rounding moves the true boundary a little

    def reached(acc: np.ndarray) -> np.ndarray:
        return quantised_code(acc, acc_scale, bias, act_scale, lo, hi, relu) >= targets

    # bracket the boundary (widen until code(low) < target <= code(high)), then bisect; the
    # code is monotonic in acc, so this finds the least integer acc reaching each target
    width = np.full(guess.shape, 4.0)
    for _ in range(64):
        low, high = guess - width, guess + width
        bad = reached(low) | ~reached(high)
        if not bad.any():
            break
        width = np.where(bad, width * 4, width)
    else:
        raise AssertionError("threshold bracket not found")  # internal error
    while np.any(high - low > 1):
        mid = np.floor((low + high) / 2)
        hit = reached(mid)
        high, low = np.where(hit, mid, high), np.where(hit, low, mid)
    return high.T.astype(np.float32)  # (C, m)


class LowerToIntegerNDHWC(Transformation):
    """Rebuild the QONNX graph of ``RegNet.core`` as an integer NDHWC graph; see module
    docstring. Applies once (returns ``changed=False``)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        g = model.graph
        in_shape = model.get_tensor_shape(g.input[0].name)  # (1, C, D, H, W)
        if len(in_shape) != 5 or in_shape[0] != 1:
            raise UserError(f"expected a (1, C, D, H, W) input, got {in_shape}")
        nodes: list = []
        inits: dict[str, tuple[np.ndarray, DataType]] = {}
        streams: dict[str, _Stream | _Acc] = {}
        in_dims = tuple(int(v) for v in in_shape[2:])
        counter = iter(range(10 ** 6))

        def fresh(prefix: str) -> str:
            return f"{prefix}_{next(counter)}"

        for node in g.node:
            op = node.op_type
            if op == "Quant" and model.get_initializer(node.input[0]) is not None:
                continue  # weight quantiser: consumed by its Conv
            if op == "Quant" and node.input[0] == g.input[0].name:
                scale, _, bits, signed, _ = _quant_params(model, node)
                if scale != INPUT_SCALE or bits != 8 or signed:
                    raise UserError(f"{node.name}: expected the uint8 input quantiser "
                                    f"(scale 2**-8), got scale {scale}, {bits} bits")
                streams[node.output[0]] = _Stream("global_in", scale, DataType["UINT8"],
                                                  in_dims, int(in_shape[1]))
            elif op == "Conv":
                streams[node.output[0]] = self._conv(model, node, streams, nodes, inits, fresh)
            elif op == "Relu":
                src = streams[node.input[0]]
                if not isinstance(src, _Acc):
                    raise UserError(f"{node.name}: Relu must follow a Conv")
                streams[node.output[0]] = _Acc(src.name, src.scale, src.bias, src.dims,
                                               src.channels, relu=True)
            elif op == "Quant":
                streams[node.output[0]] = self._act(model, node, streams, nodes, inits, fresh)
            elif op == "Resize":
                streams[node.output[0]] = self._resize(model, node, streams, nodes, fresh)
            elif op == "Add":
                streams[node.output[0]] = self._add(node, streams, nodes, fresh)
            else:
                raise UserError(f"{node.name}: op {op} is not supported by the 3D compile path")
        self.tensor_map = {k: v.name for k, v in streams.items()
                           if isinstance(v, _Stream) and v.name != "global_in"}
        out = streams.get(g.output[0].name)
        if not isinstance(out, _Stream):
            raise UserError("the graph output must be a quantised activation")
        return self._build(model, nodes, inits, in_dims, int(in_shape[1]), out), False

    # -- per-op lowering ---------------------------------------------------------------------
    def _conv(self, model, node, streams, nodes, inits, fresh) -> _Acc:
        src = streams[node.input[0]]
        if not isinstance(src, _Stream):
            raise UserError(f"{node.name}: Conv input must be a quantised activation")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        k = list(attrs["kernel_shape"])
        strides, pads = list(attrs.get("strides", [1] * 3)), list(attrs.get("pads", [0] * 6))
        if (len(k) != 3 or len(set(k)) != 1 or len(set(strides)) != 1 or len(set(pads)) != 1
                or attrs.get("group", 1) != 1 or set(attrs.get("dilations", [1])) != {1}):
            raise UserError(f"{node.name}: only cubic, dense, undilated Conv3d with equal "
                            f"strides and paddings is supported (kernel {k}, strides {strides},"
                            f" pads {pads})")
        wq = model.find_producer(node.input[1])
        if wq is None or wq.op_type != "Quant":
            raise UserError(f"{node.name}: weights must come from a Quant node")
        w_scale, _, w_bits, w_signed, w_narrow = _quant_params(model, wq)
        w_float = model.get_initializer(wq.input[0])
        w_int = quant(w_float, np.float32(w_scale), np.float32(0), np.float32(w_bits),
                      w_signed, w_narrow, "ROUND") / w_scale
        w_int = np.round(w_int).astype(np.float32)  # (C_out, C_in, K, K, K)
        c_out, c_in = w_int.shape[:2]
        bias = (model.get_initializer(node.input[2]) if len(node.input) > 2 and node.input[2]
                else np.zeros(c_out, dtype=np.float32))
        kk, s, p = k[0], strides[0], pads[0]
        swg_out = fresh("im2col")
        nodes.append(helper.make_node(
            "ConvolutionInputGenerator3D_hwreg", [src.name], [swg_out],
            domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
            ConvKernelDim=[kk] * 3, IFMChannels=c_in, IFMDim=list(src.dims), Stride=[s] * 3,
            Pad=[p] * 3, SIMD=1, inputDataType=src.dtype.name, outputDataType=src.dtype.name,
            name=f"SWG3D_{node.name}"))
        w_mat = w_int.transpose(2, 3, 4, 1, 0).reshape(kk ** 3 * c_in, c_out)  # (kd,kh,kw,ci),co
        w_name = fresh("weights")
        lo, hi = code_range(w_bits, w_signed, w_narrow)
        wdt = DataType[f"INT{w_bits}"] if w_signed else DataType[f"UINT{w_bits}"]
        assert w_mat.min() >= lo and w_mat.max() <= hi
        inits[w_name] = (w_mat, wdt)
        acc = fresh("acc")
        nodes.append(helper.make_node("MatMul", [swg_out, w_name], [acc],
                                      name=f"MatMul_{node.name}"))
        dims = tuple(out_dim(n, kk, s, p) for n in src.dims)
        return _Acc(acc, src.scale * w_scale, np.asarray(bias, dtype=np.float32), dims, c_out)

    def _act(self, model, node, streams, nodes, inits, fresh) -> _Stream:
        src = streams[node.input[0]]
        if not isinstance(src, _Acc):
            raise UserError(f"{node.name}: activation Quant must follow a Conv (+ Relu)")
        scale, _, bits, signed, narrow = _quant_params(model, node)
        lo, hi = code_range(bits, signed, narrow)
        thr = thresholds(src.scale, src.bias, scale, lo, hi, src.relu)
        t_name, out = fresh("thresholds"), fresh("act")
        inits[t_name] = (thr, DataType["INT32"])
        odt = DataType[f"INT{bits}"] if signed else DataType[f"UINT{bits}"]
        nodes.append(helper.make_node(
            "MultiThreshold", [src.name, t_name], [out], domain="qonnx.custom_op.general",
            out_dtype=odt.name, out_scale=1.0, out_bias=float(lo), data_layout="NC",
            name=f"MultiThreshold_{node.name}"))
        return _Stream(out, scale, odt, src.dims, src.channels)

    def _resize(self, model, node, streams, nodes, fresh) -> _Stream:
        src = streams[node.input[0]]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        scales = model.get_initializer(node.input[2]) if len(node.input) > 2 else None
        if (not isinstance(src, _Stream) or attrs.get("mode", b"nearest") != b"nearest"
                or scales is None or list(scales) != [1, 1, 2, 2, 2]):
            raise UserError(f"{node.name}: only nearest x2 upsampling of a quantised "
                            "activation is supported")
        out = fresh("upsampled")
        nodes.append(helper.make_node(
            "UpsampleNearest3D_hwreg", [src.name], [out], domain="finn.custom_op.fpgadataflow",
            backend="fpgadataflow", IFMDim=list(src.dims), NumChannels=src.channels, Scale=2,
            PE=1, inputDataType=src.dtype.name, name=f"Upsample3D_{node.name}"))
        dims = tuple(2 * n for n in src.dims)
        return _Stream(out, src.scale, src.dtype, dims, src.channels)  # type: ignore[arg-type]

    def _add(self, node, streams, nodes, fresh) -> _Stream:
        a, b = streams[node.input[0]], streams[node.input[1]]
        if not (isinstance(a, _Stream) and isinstance(b, _Stream)) or a.scale != b.scale:
            raise UserError(f"{node.name}: skip addends must be quantised activations with one "
                            "scale (share the activation quantiser)")
        lo = a.dtype.min() + b.dtype.min()
        hi = a.dtype.max() + b.dtype.max()
        odt = DataType.get_smallest_possible(hi if lo >= 0 else -max(hi + 1, -lo))
        out = fresh("sum")
        nodes.append(helper.make_node("Add", [a.name, b.name], [out], name=f"Add_{node.name}"))
        return _Stream(out, a.scale, odt, a.dims, a.channels)

    # -- assemble ------------------------------------------------------------------------------
    def _build(self, model, nodes, inits, in_dims, in_ch, out: _Stream) -> ModelWrapper:
        n_in = int(np.prod(in_dims))
        inp = helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [n_in, in_ch])
        n_out = int(np.prod(out.dims))
        outp = helper.make_tensor_value_info(out.name, TensorProto.FLOAT, [n_out, out.channels])
        graph = helper.make_graph(nodes, "hwreg_integer", [inp], [outp])
        new = ModelWrapper(qonnx_make_model(graph, producer_name="hwreg"))
        for name, (arr, dt) in inits.items():
            new.set_initializer(name, arr)
            new.set_tensor_datatype(name, dt)
        new.set_tensor_datatype("global_in", DataType["UINT8"])
        new = new.transform(InferShapes()).transform(InferDataTypes())
        new = new.transform(GiveUniqueNodeNames())
        for t in [*new.graph.input, *new.graph.output, *new.graph.value_info]:
            new.set_tensor_layout(t.name, ["N", "C"])  # (pixels, channels) streams
        new.set_metadata_prop(META_OUT_SCALE, repr(out.scale))
        new.set_metadata_prop(META_OUT_GRID, ",".join(str(v) for v in out.dims))
        new.set_metadata_prop(META_TENSOR_MAP, json.dumps(self.tensor_map))
        new.set_metadata_prop(META_IN_GRID, ",".join(str(v) for v in in_dims))
        return new
