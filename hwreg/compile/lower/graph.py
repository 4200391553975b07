"""Graph helpers shared by the lowering passes, and the metadata keys the passes write."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from onnx import NodeProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

#: Metadata keys written on the lowered graph (read by emulation and the epilogue).
META_OUT_SCALE = "hwreg_output_scale"
META_OUT_GRID = "hwreg_output_grid"
META_IN_GRID = "hwreg_input_grid"
#: JSON {QONNX tensor name: lowered integer tensor name} of every quantised activation.
META_TENSOR_MAP = "hwreg_tensor_map"

#: Op types of the 3D hardware ops (domain ``finn.custom_op.fpgadataflow``).
SWG3D = "ConvolutionInputGenerator3D_hwreg"
UPSAMPLE3D = "UpsampleNearest3D_hwreg"
HW_DOMAIN = "finn.custom_op.fpgadataflow"


def apply_passes(model: ModelWrapper,
                 passes: list[Transformation]) -> tuple[ModelWrapper, bool]:
    """Apply each pass until it reports no change, in order; ``changed`` if any pass changed
    the graph. Like ``model.transform`` per pass, without its copy and clean-up."""
    changed_any = False
    for p in passes:
        changed = True
        while changed:
            model, changed = p.apply(model)
            changed_any |= changed
    return model, changed_any


def attrs_of(node: NodeProto) -> dict[str, Any]:
    """The node's attributes as ``{name: python value}``."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def fresh_name(model: ModelWrapper, prefix: str) -> str:
    """``prefix_<i>`` with the least ``i`` not yet naming a tensor of the graph."""
    g = model.graph
    used = {t for n in g.node for t in [*n.input, *n.output]}
    used |= {t.name for t in [*g.input, *g.output, *g.value_info, *g.initializer]}
    i = 0
    while f"{prefix}_{i}" in used:
        i += 1
    return f"{prefix}_{i}"


def add_initializer(model: ModelWrapper, prefix: str, value: np.ndarray,
                    dtype: DataType | None = None) -> str:
    """A new initializer named ``prefix_<i>`` (optionally with a datatype); returns its name."""
    name = fresh_name(model, prefix)
    model.set_initializer(name, value)
    if dtype is not None:
        model.set_tensor_datatype(name, dtype)
    return name


def scalar_mul(model: ModelWrapper, node: NodeProto) -> tuple[str, str, float] | None:
    """``(dynamic input, scale initializer, scale)`` of a ``Mul`` by a one-element constant,
    else None."""
    if node.op_type != "Mul":
        return None
    for dyn, const in ((0, 1), (1, 0)):
        value = model.get_initializer(node.input[const])
        if value is not None and value.size == 1 and model.get_initializer(
                node.input[dyn]) is None:
            return node.input[dyn], node.input[const], float(value.reshape(()))
    return None


def sole_consumer(model: ModelWrapper, tensor: str) -> NodeProto | None:
    """The one node reading ``tensor`` if it is read once and is not a graph output."""
    consumers = model.find_consumers(tensor)
    if len(consumers) != 1 or tensor in {o.name for o in model.graph.output}:
        return None
    return consumers[0]


def remove_if_unused(model: ModelWrapper, node: NodeProto) -> None:
    """Remove ``node`` when none of its outputs is read or a graph output."""
    outputs = {o.name for o in model.graph.output}
    if not any(model.find_consumers(t) or t in outputs for t in node.output):
        model.graph.node.remove(node)


def insert_after(model: ModelWrapper, anchor: NodeProto, *nodes: NodeProto) -> None:
    """Insert ``nodes`` right after ``anchor`` in the node list (keeps it topological)."""
    index = list(model.graph.node).index(anchor) + 1
    for offset, node in enumerate(nodes):
        model.graph.node.insert(index + offset, node)


def integer_dtype(bits: int, signed: bool) -> DataType:
    """``INT<bits>`` or ``UINT<bits>``."""
    return DataType[f"INT{bits}"] if signed else DataType[f"UINT{bits}"]


def is_integer(model: ModelWrapper, tensor: str) -> bool:
    """True when ``tensor`` carries an integer datatype annotation."""
    return model.get_tensor_datatype(tensor).is_integer()


def tensor_map(model: ModelWrapper) -> dict[str, str]:
    """The ``META_TENSOR_MAP`` recorded so far (empty when none)."""
    raw = model.get_metadata_prop(META_TENSOR_MAP)
    return json.loads(raw) if raw else {}


def record_codes(model: ModelWrapper, qonnx_tensor: str, codes: str) -> None:
    """Record in ``META_TENSOR_MAP`` that ``codes`` holds the integer codes of ``qonnx_tensor``."""
    mapping = tensor_map(model)
    mapping[qonnx_tensor] = codes
    model.set_metadata_prop(META_TENSOR_MAP, json.dumps(mapping))
