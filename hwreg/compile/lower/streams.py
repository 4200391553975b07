"""Passes on the graph's boundary and layout: NDHWC streams, 8-bit input codes, output scale,
stable tensor names."""

from __future__ import annotations

import json
from collections.abc import MutableSequence

import numpy as np
from onnx import NodeProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes

from hwreg.compile.layout import INPUT_SCALE, TO_NCDHW, TO_NDHWC
from hwreg.compile.lower.graph import (
    META_IN_GRID,
    META_OUT_GRID,
    META_OUT_SCALE,
    META_TENSOR_MAP,
    SWG3D,
    UPSAMPLE3D,
    add_initializer,
    attrs_of,
    is_integer,
    scalar_mul,
    tensor_map,
)
from hwreg.compile.lower.thresholds import quant_params
from hwreg.errors import UserError

#: Ops that compute the same on NCDHW volumes and on (D*H*W, C) streams (per-tensor constants).
_ELEMENTWISE = {"Quant", "Relu", "Add", "Mul", "MultiThreshold"}
#: Ops that may remain when the layout changes (the layout pairs themselves are removed).
_STREAM_OPS = _ELEMENTWISE | {SWG3D, UPSAMPLE3D, "MatMul", "Transpose", "Reshape"}
#: The graph input's name once it carries the 8-bit codes.
INPUT_NAME = "global_in"


def _grid(shape: list[int]) -> str:
    return ",".join(str(v) for v in shape[2:])


def _replace(names: MutableSequence[str], old: str, new: str) -> None:
    """Replace every ``old`` in a node's input or output list by ``new``."""
    for i, name in enumerate(names):
        if name == old:
            names[i] = new


class ConvertToNDHWCStreams(Transformation):
    """Switch the whole graph from NCDHW volumes to ``(D*H*W, C)`` NDHWC streams, once.

    In: a graph whose input and output are ``(1, C, D, H, W)``, every 3D op already lowered
    (:mod:`.volume`), so only layout pairs, stream ops and elementwise ops with per-tensor
    constants remain. Out: every layout pair removed (a lowered op's output keeps the QONNX
    tensor name it wrote through its pair), input ``(D*H*W, C)``, output ``(D'*H'*W', C')``,
    metadata ``META_IN_GRID`` = ``D,H,W`` and ``META_OUT_GRID`` = ``D',H',W'``. Exact: the
    output is the old output permuted NCDHW -> NDHWC when the input is permuted the same way.
    No change (``False``) once the input is not 5D.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        g = model.graph
        in_shape = model.get_tensor_shape(g.input[0].name)
        out_shape = model.get_tensor_shape(g.output[0].name)
        if in_shape is None or len(in_shape) != 5:
            return model, False
        for shape in (in_shape, out_shape):
            if shape is None or len(shape) != 5 or shape[0] != 1:
                raise UserError(f"expected a (1, C, D, H, W) input and output, got {in_shape} "
                                f"and {out_shape}")
        for node in g.node:
            self._check(model, node)
        for node in list(g.node):
            perm = tuple(attrs_of(node).get("perm", ())) if node.op_type == "Transpose" else ()
            if perm == TO_NDHWC:  # x -> Transpose -> Reshape -> s: readers of s read x
                reshape = model.find_consumers(node.output[0])[0]
                for reader in model.find_consumers(reshape.output[0]):
                    _replace(reader.input, reshape.output[0], node.input[0])
                g.node.remove(node)
                g.node.remove(reshape)
            elif perm == TO_NCDHW:  # s -> Reshape -> Transpose -> y: the writer of s writes y
                reshape = model.find_producer(node.input[0])
                writer = model.find_producer(reshape.input[0])
                _replace(writer.output, reshape.input[0], node.output[0])
                g.node.remove(node)
                g.node.remove(reshape)
        model.set_tensor_shape(g.input[0].name, [int(np.prod(in_shape[2:])), in_shape[1]])
        model.set_tensor_shape(g.output[0].name, [int(np.prod(out_shape[2:])), out_shape[1]])
        del g.value_info[:]  # every shape changes; inferred again below
        model.set_metadata_prop(META_IN_GRID, _grid(in_shape))
        model.set_metadata_prop(META_OUT_GRID, _grid(out_shape))
        return model.transform(InferShapes()), True

    @staticmethod
    def _check(model: ModelWrapper, node: NodeProto) -> None:
        op = node.op_type
        if op not in _STREAM_OPS:
            raise UserError(f"{node.name}: op {op} is not supported by the 3D compile path")
        if op == "Quant":
            quant_params(model, node)  # per-tensor only
        consts = [model.get_initializer(t) for t in node.input if t]
        if (op in ("Add", "Mul") and len(model.get_tensor_shape(node.output[0]) or []) == 5
                and any(c is not None and c.size > 1 for c in consts)):
            raise UserError(f"{node.name}: {op} by a non-scalar constant on an NCDHW tensor is "
                            "not supported")
        if op == "Transpose":
            perm = tuple(attrs_of(node).get("perm", ()))
            pair = (model.find_consumers(node.output[0]) if perm == TO_NDHWC
                    else [model.find_producer(node.input[0])] if perm == TO_NCDHW else [])
            if len(pair) != 1 or pair[0] is None or pair[0].op_type != "Reshape" or (
                    perm == TO_NCDHW and (model.find_producer(pair[0].input[0]) is None
                                          or len(model.find_consumers(pair[0].input[0])) != 1)):
                raise UserError(f"{node.name}: only the layout Transposes of lowered 3D ops are "
                                f"supported (perm {perm})")


class ConvertInputQuantToCodes(Transformation):
    """Make the graph input the 8-bit input codes, once.

    In: graph input ``x`` read only by ``q = Quant(x, scale 2**-8, 8 bits, unsigned)``.
    Out: graph input ``global_in`` (datatype ``UINT8``, same shape) and
    ``q = Mul(global_in, 2**-8)``. Exact: ``Quant(x) == Mul(round(clip(x * 256, 0, 255)), 2**-8)``
    for every ``x``, i.e. the host prologue (:func:`hwreg.runtime.host.prologue`) computes the
    new input. No change (``False``) once no ``Quant`` reads the input.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        inp = model.graph.input[0].name
        readers = model.find_consumers(inp)
        q = next((n for n in readers if n.op_type == "Quant" and n.input[0] == inp), None)
        if q is None:
            return model, False
        scale, _, bits, signed, _ = quant_params(model, q)
        if scale != INPUT_SCALE or bits != 8 or signed:
            raise UserError(f"{q.name}: expected the uint8 input quantiser "
                            f"(scale 2**-8), got scale {scale}, {bits} bits")
        if len(readers) != 1:
            raise UserError(f"the graph input {inp} must be read by its quantiser only")
        model.rename_tensor(inp, INPUT_NAME)
        model.set_tensor_datatype(INPUT_NAME, DataType["UINT8"])
        s_name = add_initializer(model, "input_scale", np.array(INPUT_SCALE, np.float32))
        mul = helper.make_node("Mul", [INPUT_NAME, s_name], [q.output[0]], name=q.name)
        index = list(model.graph.node).index(q)
        model.graph.node.remove(q)
        model.graph.node.insert(index, mul)
        return model, True


class ExtractOutputScale(Transformation):
    """Make the graph output the integer output codes, once.

    In: graph output ``y = Mul(codes, s)``, ``codes`` an integer tensor, ``s`` a scalar.
    Out: graph output ``codes`` (the ``Mul`` removed), metadata ``META_OUT_SCALE = repr(s)``.
    Exact: new output times ``s`` equals the old output. No change (``False``) once the output
    is not such a ``Mul``.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        out = model.graph.output[0]
        mul = model.find_producer(out.name)
        found = None if mul is None else scalar_mul(model, mul)
        if found is None or not is_integer(model, found[0]):
            return model, False
        codes, _, scale = found
        model.graph.node.remove(mul)
        vi = next((v for v in model.graph.value_info if v.name == codes), None)
        if vi is not None:
            model.graph.value_info.remove(vi)  # now the graph output's value info
        out.name = codes
        model.set_metadata_prop(META_OUT_SCALE, repr(scale))
        return model, True


#: Tensor name prefixes in graph order: op type -> ((input index or "out", prefix), ...).
_NAMES = {SWG3D: (("out", "im2col"),), "MatMul": ((1, "weights"), ("out", "acc")),
          "MultiThreshold": ((1, "thresholds"), ("out", "act")),
          UPSAMPLE3D: (("out", "upsampled"),), "Add": (("out", "sum"),)}


class GiveStreamTensorNames(Transformation):
    """Name the integer graph's tensors ``<kind>_<i>`` with one counter in graph order.

    Kinds: ``im2col`` (window output), ``weights``, ``acc`` (MatMul output), ``thresholds``,
    ``act`` (MultiThreshold output), ``upsampled``, ``sum`` (skip Add output) — the names the
    lowering has always produced, so builds and folding configs stay comparable. Rewrites
    ``META_TENSOR_MAP`` to the new names, in graph order. Only renames; ``False`` once the
    names are in place.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        counter = 0
        rename: dict[str, str] = {}
        for node in model.graph.node:
            for where, prefix in _NAMES.get(node.op_type, ()):
                rename[node.output[0] if where == "out" else node.input[where]] = \
                    f"{prefix}_{counter}"
                counter += 1
        pending = {old: new for old, new in rename.items() if old != new}
        taken = {t for n in model.graph.node for t in [*n.input, *n.output]} - set(pending)
        assert not taken & set(pending.values()), "stream tensor names already taken"
        mapping = {k: rename.get(v, v) for k, v in tensor_map(model).items()}
        order = {t: i for i, t in enumerate(rename.values())}
        ordered = json.dumps(dict(sorted(mapping.items(),
                                         key=lambda kv: order.get(kv[1], len(order)))))
        map_changed = bool(mapping) and model.get_metadata_prop(META_TENSOR_MAP) != ordered
        if map_changed:
            model.set_metadata_prop(META_TENSOR_MAP, ordered)
        for i, old in enumerate(pending):  # via temporary names: a target may be a source
            model.rename_tensor(old, f"__rename_{i}")
        for i, new in enumerate(pending.values()):
            model.rename_tensor(f"__rename_{i}", new)
        return model, bool(pending) or map_changed
