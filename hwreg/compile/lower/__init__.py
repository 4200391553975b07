"""Lower the exported QONNX graph to an integer-only NDHWC graph (FINN's streamlined form).

Contract: input is the cleaned-up QONNX export of ``RegNet.core`` (ops ``Quant``, ``Conv``
(3D, float bias), ``Relu``, ``Resize`` (nearest x2), ``Add``); output is a graph whose tensors are
all integers in the ``(D*H*W, C)`` stream layout (:mod:`hwreg.compile.layout`) built from:

- ``ConvolutionInputGenerator3D_hwreg`` (3D im2col) + ``MatMul`` with integer weights
  ``(K**3*C_in, C_out)`` — the Conv3d lowering;
- ``MultiThreshold`` (per output channel, ``out_bias`` = lowest code) — each activation
  quantiser with the conv's scales and float bias absorbed into integer thresholds;
- ``UpsampleNearest3D_hwreg`` for ``Resize``; ``Add`` of two integer streams for the skips.

The graph input is the 8-bit input codes ``global_in`` (the host quantises,
:func:`hwreg.runtime.host.prologue`); metadata ``META_*`` give the output scale, both grids and
the map from QONNX activations to their integer tensors (read by emulation).

:class:`LowerToIntegerNDHWC` is a sequence of named passes, each a qonnx ``Transformation`` whose
``apply`` returns ``changed`` only when it changed the graph, and each keeping the graph
executable with the same values (up to the stated layout and scale changes):

1. :class:`LowerConv3dToMatMul`, :class:`ConvertResizeToUpsample3D` (:mod:`.volume`): 3D ops to
   stream ops, wrapped in NCDHW <-> stream layout nodes;
2. :class:`ConvertToNDHWCStreams`, :class:`ConvertInputQuantToCodes` (:mod:`.streams`): the whole
   graph to NDHWC streams; the input ``Quant`` to 8-bit codes and a scale;
3. :class:`StreamlineIntegerStreams` (:mod:`.streamline`): scales moved down and absorbed with the
   bias into ``MultiThreshold``;
4. :class:`ExtractOutputScale`, :class:`GiveStreamTensorNames` (:mod:`.streams`): output codes,
   stable names.

Why not FINN's own streamlining transforms: they are 4D-minded (``LowerConvsToMatMul``, transpose
absorption, channel-axis guesses of ``MultiThreshold``) and compute thresholds in float and
round them afterwards. Here every threshold is the smallest integer accumulator value whose
float32 evaluation ``round((acc * s_in * s_w + bias) / s_act)`` (the arithmetic of Brevitas and
of qonnx execution, both power-of-two scales) reaches the code, found by evaluating that float32
expression (:mod:`.thresholds`), so thresholds reproduce the float model's rounding exactly,
ties included.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames, RemoveUnusedTensors
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from hwreg.compile.lower.graph import (
    META_IN_GRID,
    META_OUT_GRID,
    META_OUT_SCALE,
    META_TENSOR_MAP,
    SWG3D,
    UPSAMPLE3D,
    apply_passes,
    is_integer,
)
from hwreg.compile.lower.streamline import (
    AbsorbScaleBiasIntoMultiThreshold,
    CollapseRepeatedMul,
    MoveScalarMulPastAdd,
    MoveScalarMulPastLinear,
    StreamlineIntegerStreams,
)
from hwreg.compile.lower.streams import (
    INPUT_NAME,
    ConvertInputQuantToCodes,
    ConvertToNDHWCStreams,
    ExtractOutputScale,
    GiveStreamTensorNames,
)
from hwreg.compile.lower.thresholds import code_range, quantised_code, thresholds
from hwreg.compile.lower.volume import ConvertResizeToUpsample3D, LowerConv3dToMatMul
from hwreg.errors import UserError

#: Ops of the lowered graph.
INTEGER_OPS = (SWG3D, "MatMul", "MultiThreshold", UPSAMPLE3D, "Add")
#: What a leftover op of the exported graph means (the pattern it is missing).
_LEFTOVER = {"Relu": "Relu must follow a Conv",
             "Quant": "activation Quant must follow a Conv (+ Relu)",
             "Mul": "a scale no integer op absorbs: every Conv input and the graph output must "
                    "be quantised activations"}
#: The metadata of the lowered graph, in the order it is written.
_META_KEYS = (META_OUT_SCALE, META_OUT_GRID, META_TENSOR_MAP, META_IN_GRID)


def lowering_passes() -> list[Transformation]:
    """The passes of :class:`LowerToIntegerNDHWC`, in order."""
    return [LowerConv3dToMatMul(), ConvertResizeToUpsample3D(), ConvertToNDHWCStreams(),
            ConvertInputQuantToCodes(), StreamlineIntegerStreams(), ExtractOutputScale(),
            GiveStreamTensorNames()]


def check_integer_graph(model: ModelWrapper) -> None:
    """Raise UserError unless ``model`` is a lowered integer graph: only :data:`INTEGER_OPS`,
    input ``global_in``, integer output, metadata written."""
    for node in model.graph.node:
        if node.op_type not in INTEGER_OPS or (
                node.op_type == "Add" and not all(is_integer(model, t) for t in node.input)):
            hint = _LEFTOVER.get(node.op_type, "not supported by the 3D compile path")
            raise UserError(f"{node.name}: op {node.op_type} is left after lowering: {hint}")
    if model.graph.input[0].name != INPUT_NAME:
        raise UserError("the graph input must be quantised by the uint8 input quantiser")
    if model.get_metadata_prop(META_OUT_SCALE) is None:
        raise UserError("the graph output must be a quantised activation")


class LowerToIntegerNDHWC(Transformation):
    """Lower the QONNX graph of ``RegNet.core`` to the integer NDHWC graph (module docstring):
    :func:`lowering_passes`, each to its fixed point; :func:`check_integer_graph`;
    :func:`integer_model`. ``changed`` when any pass changed the graph, so ``False`` on an
    already lowered graph."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        model, changed = apply_passes(model, lowering_passes())
        check_integer_graph(model)
        return integer_model(model), changed


def integer_model(model: ModelWrapper) -> ModelWrapper:
    """The lowered graph in a fresh model (ONNX opset of qonnx, producer ``hwreg``, graph
    ``hwreg_integer``, metadata ``META_*`` only: the export's describe ops no longer present),
    annotated: shapes, datatypes, unique node names, ``["N", "C"]`` layouts."""
    model.graph.name = "hwreg_integer"
    new = ModelWrapper(qonnx_make_model(model.graph, producer_name="hwreg"))
    meta = {k: model.get_metadata_prop(k) for k in _META_KEYS}
    del new.graph.metadata_props[:]
    for key, value in meta.items():
        new.set_metadata_prop(key, value)
    new = new.transform(RemoveUnusedTensors()).transform(InferShapes())
    new = new.transform(InferDataTypes()).transform(GiveUniqueNodeNames())
    for t in [*new.graph.input, *new.graph.output, *new.graph.value_info]:
        new.set_tensor_layout(t.name, ["N", "C"])  # (pixels, channels) streams
    _sort_tensor_entries(new)
    return new


def _sort_tensor_entries(model: ModelWrapper) -> None:
    """Order initializers, value infos and annotations as graph order reads them (constants by
    first reader, then the input, then node outputs), so a lowered graph serialises the same
    way every time; drops the export's node metadata."""
    g = model.graph
    rank: dict[str, tuple[int, int]] = {}
    inits = {i.name for i in g.initializer}
    for index, node in enumerate(g.node):
        del node.metadata_props[:]
        for t in node.input:
            rank.setdefault(t, (0, index) if t in inits else (1, 0))
        for t in node.output:
            rank.setdefault(t, (2, index))
    for field, key in ((g.initializer, "name"), (g.value_info, "name"),
                       (g.quantization_annotation, "tensor_name")):
        entries = sorted(field, key=lambda e: rank.get(getattr(e, key), (3, 0)))
        copies = [type(e)() for e in entries]
        for c, e in zip(copies, entries, strict=True):
            c.CopyFrom(e)
        del field[:]
        field.extend(copies)


__all__ = ["INTEGER_OPS", "META_IN_GRID", "META_OUT_GRID", "META_OUT_SCALE", "META_TENSOR_MAP",
           "AbsorbScaleBiasIntoMultiThreshold", "CollapseRepeatedMul", "ConvertInputQuantToCodes",
           "ConvertResizeToUpsample3D", "ConvertToNDHWCStreams", "ExtractOutputScale",
           "GiveStreamTensorNames", "LowerConv3dToMatMul", "LowerToIntegerNDHWC",
           "MoveScalarMulPastAdd", "MoveScalarMulPastLinear", "StreamlineIntegerStreams",
           "check_integer_graph", "code_range", "integer_model", "lowering_passes",
           "quantised_code", "thresholds"]
