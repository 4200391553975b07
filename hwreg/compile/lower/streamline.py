"""Streamlining passes on the NDHWC stream graph: scales move down, into integer thresholds.

After the layout and input passes each quantised activation is ``Mul(codes, s)``. These passes
move such scalar ``Mul`` nodes past the window, upsample, MatMul and skip-Add ops, collapse
them into one accumulator scale, and absorb ``Mul(s_acc) -> Add(bias)? -> Relu? -> Quant``
into a ``MultiThreshold`` on the integer accumulator (FINN's streamlining, for 3D streams and
with thresholds exact in float32: :mod:`.thresholds`). Every pass keeps the graph executable
with the same float32 values: all scales are powers of two (Brevitas' export), so scaling
commutes exactly with sums of integers and with float32 rounding.
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from hwreg.compile.lower.graph import (
    SWG3D,
    UPSAMPLE3D,
    add_initializer,
    apply_passes,
    fresh_name,
    insert_after,
    integer_dtype,
    is_integer,
    record_codes,
    remove_if_unused,
    scalar_mul,
    sole_consumer,
)
from hwreg.compile.lower.thresholds import code_range, quant_params, thresholds
from hwreg.errors import UserError

#: Ops that commute with a scalar multiplication of their (first) input.
_LINEAR = (SWG3D, UPSAMPLE3D, "MatMul")


def _move_below(model: ModelWrapper, node: NodeProto, out: str, scale_name: str) -> str:
    """Make ``node`` write a new tensor and insert ``Mul(new, scale)`` writing ``out`` after it;
    returns the new tensor (same shape as ``out``)."""
    new = fresh_name(model, f"{node.name}_int")
    node.output[0] = new
    model.set_tensor_shape(new, model.get_tensor_shape(out))
    insert_after(model, node, helper.make_node("Mul", [new, scale_name], [out],
                                               name=f"{node.name}_scale"))
    return new


class MoveScalarMulPastLinear(Transformation):
    """Move one scalar ``Mul`` past one reader per application.

    In: ``m = Mul(x, s)`` (``s`` one element) read by ``y = Op(m)`` with ``Op`` a
    ``ConvolutionInputGenerator3D_hwreg``, an ``UpsampleNearest3D_hwreg`` or a ``MatMul`` by an
    initializer. Out: ``y0 = Op(x)``, ``y = Mul(y0, s)``; the old ``Mul`` stays while other
    nodes read ``m``. A window or upsample op on integer ``x`` gets ``x``'s datatype
    (``y0`` and the ``inputDataType`` attribute), and an upsample records ``y0`` as the codes
    of ``y`` in ``META_TENSOR_MAP``. Exact: zero padding, copies and sums of integers commute
    with a power-of-two scale.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for mul in model.graph.node:
            found = scalar_mul(model, mul)
            if found is None:
                continue
            x, scale_name, _ = found
            for op in model.find_consumers(mul.output[0]):
                if op.op_type in _LINEAR and op.input[0] == mul.output[0] and (
                        op.op_type != "MatMul" or model.get_initializer(op.input[1]) is not None):
                    self._move(model, mul, op, x, scale_name)
                    return model, True
        return model, False

    @staticmethod
    def _move(model: ModelWrapper, mul: NodeProto, op: NodeProto, x: str,
              scale_name: str) -> None:
        y = op.output[0]
        op.input[0] = x
        y0 = _move_below(model, op, y, scale_name)
        if op.op_type != "MatMul":
            dt = model.get_tensor_datatype(x)
            model.set_tensor_datatype(y0, dt)
            inst = getCustomOp(op)
            inst.set_nodeattr("inputDataType", dt.name)
            if op.op_type == SWG3D:
                inst.set_nodeattr("outputDataType", dt.name)
            if op.op_type == UPSAMPLE3D and dt.is_integer():
                record_codes(model, y, y0)
        remove_if_unused(model, mul)


class MoveScalarMulPastAdd(Transformation):
    """Move the common scale of a skip ``Add`` below it, one ``Add`` per application.

    In: ``y = Add(Mul(a, s), Mul(b, s))`` (two scalar ``Mul`` nodes, equal scales). Out:
    ``y0 = Add(a, b)``, ``y = Mul(y0, s)``; the old ``Mul`` nodes stay while others read them.
    With integer ``a`` and ``b``, ``y0`` gets the smallest datatype holding every sum and is
    recorded as the codes of ``y`` in ``META_TENSOR_MAP``. Raises UserError on unequal scales.
    Exact: ``a*s + b*s == (a + b)*s`` in float32 for a power-of-two ``s``.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for add in model.graph.node:
            if add.op_type != "Add" or len(add.input) != 2:
                continue
            producers = [model.find_producer(t) for t in add.input]
            found = [None if p is None else scalar_mul(model, p) for p in producers]
            if found[0] is None or found[1] is None:
                continue
            (a, s_name, sa), (b, _, sb) = found
            if sa != sb:
                raise UserError(f"{add.name}: skip addends must be quantised activations with "
                                "one scale (share the activation quantiser)")
            y = add.output[0]
            add.input[0], add.input[1] = a, b
            y0 = _move_below(model, add, y, s_name)
            if is_integer(model, a) and is_integer(model, b):
                da, db = model.get_tensor_datatype(a), model.get_tensor_datatype(b)
                lo, hi = da.min() + db.min(), da.max() + db.max()
                model.set_tensor_datatype(y0, DataType.get_smallest_possible(
                    hi if lo >= 0 else -max(hi + 1, -lo)))
                record_codes(model, y, y0)
            remove_if_unused(model, producers[0])
            if producers[1] is not producers[0]:  # the same Mul may feed both addends
                remove_if_unused(model, producers[1])
            return model, True
        return model, False


class CollapseRepeatedMul(Transformation):
    """Collapse ``Mul(Mul(x, a), b)`` into ``Mul(x, a*b)`` (scalars; the inner ``Mul`` read
    only by the outer one), one pair per application. Exact for power-of-two scales."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for inner in model.graph.node:
            first = scalar_mul(model, inner)
            outer = None if first is None else sole_consumer(model, inner.output[0])
            second = None if outer is None else scalar_mul(model, outer)
            if first is None or second is None or second[0] != inner.output[0]:
                continue
            product = np.array(np.float64(first[2]) * np.float64(second[2]), np.float32)
            outer.input[0], outer.input[1] = first[0], add_initializer(model, "scale", product)
            model.graph.node.remove(inner)
            return model, True
        return model, False


class AbsorbScaleBiasIntoMultiThreshold(Transformation):
    """Absorb one quantised activation into integer thresholds per application.

    In: ``acc = MatMul(x, W)`` with integer ``x`` and ``W`` (C_out columns), or any other
    integer tensor ``acc`` (e.g. the ``Add`` of summed DDF codes: a re-quantisation), then
    ``Mul(s_acc) -> Add(bias (C_out,))? -> Relu? -> q = Quant(s_a, bits, signed, narrow)``,
    each read only by the next. Out: ``codes = MultiThreshold(acc, T)`` (``T`` (C_out, hi - lo)
    from :func:`~.thresholds.thresholds`, datatype INT32; ``out_bias`` = the lowest code ``lo``,
    layout ``NC``) and ``q = Mul(codes, s_a)``; ``codes`` is recorded as the codes of ``q`` in
    ``META_TENSOR_MAP``. Exact: the thresholds reproduce the float32 chain, ties included.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for q in model.graph.node:
            if q.op_type == "Quant" and model.get_initializer(q.input[0]) is None:
                chain = self._chain(model, q)
                if chain is not None:
                    self._absorb(model, q, *chain)
                    return model, True
        return model, False

    @staticmethod
    def _chain(model: ModelWrapper, q: NodeProto) -> tuple | None:
        """``(acc tensor, C_out, s_acc, bias, relu, removed nodes)`` above ``q``, or None."""
        removed, relu, bias = [q], False, None
        node = model.find_producer(q.input[0])
        if node is not None and node.op_type == "Relu":
            removed.append(node)
            relu, node = True, model.find_producer(node.input[0])
        if node is not None and node.op_type == "Add" and model.get_initializer(node.input[1]) \
                is not None:
            removed.append(node)
            bias, node = model.get_initializer(node.input[1]), model.find_producer(node.input[0])
        found = None if node is None else scalar_mul(model, node)
        if found is None:
            return None
        removed.append(node)
        acc, matmul = found[0], model.find_producer(found[0])
        if matmul is not None and matmul.op_type == "MatMul" \
                and model.get_initializer(matmul.input[1]) is not None:
            if not (is_integer(model, matmul.input[0]) and is_integer(model, matmul.input[1])):
                return None
            c_out = model.get_initializer(matmul.input[1]).shape[1]
        elif is_integer(model, acc) and matmul is not None and matmul.op_type == "Add":
            c_out = model.get_tensor_shape(acc)[-1]
        else:
            return None
        if any(sole_consumer(model, n.output[0]) is None for n in [matmul, *removed[1:]]):
            return None
        return acc, c_out, found[2], bias, relu, removed

    @staticmethod
    def _absorb(model: ModelWrapper, q: NodeProto, acc: str, c_out: int, acc_scale: float,
                bias: np.ndarray | None, relu: bool, removed: list[NodeProto]) -> None:
        bias = np.broadcast_to(np.zeros(c_out, np.float32) if bias is None else bias,
                               (c_out,)).astype(np.float32)
        scale, _, bits, signed, narrow = quant_params(model, q)
        lo, hi = code_range(bits, signed, narrow)
        t_name = add_initializer(model, "thresholds",
                                 thresholds(acc_scale, bias, scale, lo, hi, relu),
                                 DataType["INT32"])
        s_name = add_initializer(model, "act_scale", np.array(scale, np.float32))
        out = q.output[0]
        codes = fresh_name(model, f"{q.name}_codes")
        odt = integer_dtype(bits, signed)
        mt = helper.make_node("MultiThreshold", [acc, t_name], [codes],
                              domain="qonnx.custom_op.general", out_dtype=odt.name,
                              out_scale=1.0, out_bias=float(lo), data_layout="NC",
                              name=f"{q.name}_thresholds")
        insert_after(model, q, mt, helper.make_node("Mul", [codes, s_name], [out],
                                                    name=f"{q.name}_scale"))
        model.set_tensor_shape(codes, model.get_tensor_shape(out))
        model.set_tensor_datatype(codes, odt)
        for node in removed:
            model.graph.node.remove(node)
        record_codes(model, out, codes)


class StreamlineIntegerStreams(Transformation):
    """The streamlining passes of this module, each to its fixed point, in turn; ``changed``
    when any of them changed the graph (``model.transform`` repeats until none does)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        return apply_passes(model, [MoveScalarMulPastLinear(), MoveScalarMulPastAdd(),
                                    CollapseRepeatedMul(), AbsorbScaleBiasIntoMultiThreshold()])
