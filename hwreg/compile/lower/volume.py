"""Passes on the NCDHW volume graph: each 3D op becomes its stream op, wrapped in layout nodes.

The graph stays executable in qonnx with the same float32 values: a lowered op reads its
``(1, C, D, H, W)`` input through ``Transpose(NCDHW -> NDHWC)`` + ``Reshape((D*H*W, C))`` and
writes its output back through ``Reshape((1, D', H', W', C'))`` + ``Transpose(NDHWC -> NCDHW)``.
:class:`~hwreg.compile.lower.streams.ConvertToNDHWCStreams` later removes these layout pairs.
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.quant import quant
from qonnx.transformation.base import Transformation

from hwreg.compile.layout import TO_NCDHW, TO_NDHWC
from hwreg.compile.lower.graph import (
    HW_DOMAIN,
    SWG3D,
    UPSAMPLE3D,
    add_initializer,
    attrs_of,
    fresh_name,
    integer_dtype,
    remove_if_unused,
)
from hwreg.compile.lower.thresholds import code_range, quant_params
from hwreg.compile.ops import out_dim
from hwreg.errors import UserError


def volume_shape(model: ModelWrapper, node: NodeProto) -> tuple[int, tuple[int, int, int]]:
    """``(C, (D, H, W))`` of the node's first input, which must be ``(1, C, D, H, W)``."""
    shape = model.get_tensor_shape(node.input[0])
    if shape is None or len(shape) != 5 or shape[0] != 1:
        raise UserError(f"{node.name}: expected a (1, C, D, H, W) input, got {shape}")
    return int(shape[1]), (int(shape[2]), int(shape[3]), int(shape[4]))


def to_stream(model: ModelWrapper, volume: str, channels: int, dims: tuple[int, int, int],
              prefix: str) -> tuple[list[NodeProto], str]:
    """Layout nodes ``(1, C, D, H, W) -> (D*H*W, C)``; returns them and the stream tensor."""
    ndhwc, stream = fresh_name(model, f"{prefix}_ndhwc"), fresh_name(model, f"{prefix}_stream")
    stream_shape = [int(np.prod(dims)), channels]
    shape = add_initializer(model, f"{prefix}_shape", np.array(stream_shape, np.int64))
    model.set_tensor_shape(ndhwc, [1, *dims, channels])
    model.set_tensor_shape(stream, stream_shape)
    return [helper.make_node("Transpose", [volume], [ndhwc], perm=list(TO_NDHWC),  # -> NDHWC
                             name=f"{prefix}_to_ndhwc"),
            helper.make_node("Reshape", [ndhwc, shape], [stream], name=f"{prefix}_to_stream")
            ], stream


def to_volume(model: ModelWrapper, stream: str, volume: str, channels: int,
              dims: tuple[int, ...], prefix: str) -> list[NodeProto]:
    """Layout nodes ``(D*H*W, C) -> (1, C, D, H, W)`` writing ``volume``."""
    ndhwc = fresh_name(model, f"{prefix}_out_ndhwc")
    shape = add_initializer(model, f"{prefix}_out_shape",
                            np.array([1, *dims, channels], np.int64))
    model.set_tensor_shape(ndhwc, [1, *dims, channels])
    return [helper.make_node("Reshape", [stream, shape], [ndhwc], name=f"{prefix}_to_volume"),
            helper.make_node("Transpose", [ndhwc], [volume], perm=list(TO_NCDHW),  # -> NCDHW
                             name=f"{prefix}_to_ncdhw")]


def replace_node(model: ModelWrapper, node: NodeProto, new: list[NodeProto]) -> None:
    """Put ``new`` where ``node`` is in the node list and remove ``node``."""
    index = list(model.graph.node).index(node)
    model.graph.node.remove(node)
    for offset, n in enumerate(new):
        model.graph.node.insert(index + offset, n)


class _OneNodePerApplication(Transformation):
    """Rewrite the first node of type ``op_type`` per application (``changed``, every new
    tensor's shape set); no change once none is left."""

    op_type = ""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        node = next((n for n in model.graph.node if n.op_type == self.op_type), None)
        if node is None:
            return model, False
        self.rewrite(model, node)
        return model, True

    def rewrite(self, model: ModelWrapper, node: NodeProto) -> None:
        """Replace ``node`` in ``model`` (in place)."""
        raise NotImplementedError


class LowerConv3dToMatMul(_OneNodePerApplication):
    """Lower one 3D ``Conv`` per application to 3D im2col + integer ``MatMul``.

    In: ``y = Conv(x, Quant(W), b?)``, ``x`` (1, C_in, D, H, W), ``W`` a float initializer
    (C_out, C_in, K, K, K) behind a per-tensor weight ``Quant`` (scale ``s_w``, ``w`` bits), ``b``
    (C_out,) float; cubic kernel, equal strides and pads, dense, undilated.
    Out: ``x -> to-stream (D*H*W, C_in) -> ConvolutionInputGenerator3D_hwreg
    (D'*H'*W', K**3*C_in) -> MatMul(W_int) (D'*H'*W', C_out) -> Mul(s_w) -> Add(b)? ->
    to-volume -> y``, with ``W_int`` the integer weight codes ``(K**3*C_in, C_out)``, rows in
    ``(kd, kh, kw, c_in)`` order, datatype ``INT<w>``/``UINT<w>``; the weight ``Quant`` is removed.
    Exact: the same float32 values as the Conv while accumulators stay below 2**24 steps (every
    product is an integer times power-of-two scales), which the export check guarantees.
    """

    op_type = "Conv"

    def rewrite(self, model: ModelWrapper, node: NodeProto) -> None:
        attrs = attrs_of(node)
        k = list(attrs["kernel_shape"])
        strides, pads = list(attrs.get("strides", [1] * 3)), list(attrs.get("pads", [0] * 6))
        if (len(k) != 3 or len(set(k)) != 1 or len(set(strides)) != 1 or len(set(pads)) != 1
                or attrs.get("group", 1) != 1 or set(attrs.get("dilations", [1])) != {1}):
            raise UserError(f"{node.name}: only cubic, dense, undilated Conv3d with equal "
                            f"strides and paddings is supported (kernel {k}, strides {strides},"
                            f" pads {pads})")
        wq = model.find_producer(node.input[1])
        w_float = None if wq is None else model.get_initializer(wq.input[0])
        if wq is None or wq.op_type != "Quant" or w_float is None:
            raise UserError(f"{node.name}: weights must come from a Quant node")
        w_scale, _, w_bits, w_signed, w_narrow = quant_params(model, wq)
        w_int = quant(w_float, np.float32(w_scale), np.float32(0), np.float32(w_bits),
                      w_signed, w_narrow, "ROUND") / w_scale
        w_int = np.round(w_int).astype(np.float32)  # (C_out, C_in, K, K, K)
        c_out = w_int.shape[0]
        c_in, dims = volume_shape(model, node)
        kk, s, p = k[0], strides[0], pads[0]
        w_mat = w_int.transpose(2, 3, 4, 1, 0).reshape(kk ** 3 * c_in, c_out)  # (kd,kh,kw,ci),co
        lo, hi = code_range(w_bits, w_signed, w_narrow)
        assert w_mat.min() >= lo and w_mat.max() <= hi
        out_dims = tuple(out_dim(n, kk, s, p) for n in dims)
        prefix = node.name
        new, stream = to_stream(model, node.input[0], c_in, dims, prefix)
        n_out = int(np.prod(out_dims))
        cols, acc, scaled = (fresh_name(model, f"{prefix}_{t}") for t in ("im2col", "acc", "mul"))
        model.set_tensor_shape(cols, [n_out, kk ** 3 * c_in])
        model.set_tensor_shape(acc, [n_out, c_out])
        model.set_tensor_shape(scaled, [n_out, c_out])
        dt = model.get_tensor_datatype(node.input[0]).name
        new.append(helper.make_node(
            SWG3D, [stream], [cols], domain=HW_DOMAIN, backend="fpgadataflow",
            ConvKernelDim=[kk] * 3, IFMChannels=c_in, IFMDim=list(dims), Stride=[s] * 3,
            Pad=[p] * 3, SIMD=1, inputDataType=dt, outputDataType=dt, name=f"{prefix}_swg"))
        w_name = add_initializer(model, f"{prefix}_weights", w_mat,
                                 integer_dtype(w_bits, w_signed))
        s_name = add_initializer(model, f"{prefix}_wscale", np.array(w_scale, np.float32))
        new += [helper.make_node("MatMul", [cols, w_name], [acc], name=f"{prefix}_matmul"),
                helper.make_node("Mul", [acc, s_name], [scaled], name=f"{prefix}_wscale")]
        if len(node.input) > 2 and node.input[2]:
            bias = model.get_initializer(node.input[2])
            if bias is None:
                raise UserError(f"{node.name}: the bias must be a constant")
            b_name = add_initializer(model, f"{prefix}_bias", bias.astype(np.float32))
            biased = fresh_name(model, f"{prefix}_biased")
            model.set_tensor_shape(biased, [n_out, c_out])
            new.append(helper.make_node("Add", [scaled, b_name], [biased],
                                        name=f"{prefix}_bias"))
            scaled = biased
        new += to_volume(model, scaled, node.output[0], c_out, out_dims, prefix)
        replace_node(model, node, new)
        remove_if_unused(model, wq)


class ConvertResizeToUpsample3D(_OneNodePerApplication):
    """Convert one nearest x2 ``Resize`` per application to ``UpsampleNearest3D_hwreg``.

    In: ``y = Resize(x, scales=[1, 1, 2, 2, 2], mode=nearest)``, ``x`` (1, C, D, H, W).
    Out: ``x -> to-stream (D*H*W, C) -> UpsampleNearest3D_hwreg (8*D*H*W, C) -> to-volume
    (1, C, 2D, 2H, 2W) -> y``. Exact: nearest upsampling only copies values.
    """

    op_type = "Resize"

    def rewrite(self, model: ModelWrapper, node: NodeProto) -> None:
        attrs = attrs_of(node)
        scales = model.get_initializer(node.input[2]) if len(node.input) > 2 else None
        if (attrs.get("mode", b"nearest") != b"nearest" or scales is None
                or list(scales) != [1, 1, 2, 2, 2]):
            raise UserError(f"{node.name}: only nearest x2 upsampling of a quantised "
                            "activation is supported")
        c, dims = volume_shape(model, node)
        prefix = node.name
        new, stream = to_stream(model, node.input[0], c, dims, prefix)
        up = fresh_name(model, f"{prefix}_upsampled")
        model.set_tensor_shape(up, [8 * int(np.prod(dims)), c])
        new.append(helper.make_node(
            UPSAMPLE3D, [stream], [up], domain=HW_DOMAIN, backend="fpgadataflow",
            IFMDim=list(dims), NumChannels=c, Scale=2, PE=1,
            inputDataType=model.get_tensor_datatype(node.input[0]).name,
            name=f"{prefix}_upsample"))
        new += to_volume(model, up, node.output[0], c, tuple(2 * n for n in dims), prefix)
        replace_node(model, node, new)
