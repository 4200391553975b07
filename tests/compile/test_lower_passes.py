"""Each lowering pass alone: what it changes, no change on a second application, and (the
graph staying executable) exactly the same outputs before and after, up to the stated layout or
scale change."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

import hwreg.compile.ops  # noqa: F401  (registers the 3D ops)
from hwreg.checkpoint import random_model
from hwreg.compile.config import BuildConfig
from hwreg.compile.layout import INPUT_SCALE, TO_NDHWC
from hwreg.compile.lower import (
    INTEGER_OPS,
    META_IN_GRID,
    META_OUT_GRID,
    META_OUT_SCALE,
    META_TENSOR_MAP,
    AbsorbScaleBiasIntoMultiThreshold,
    CollapseRepeatedMul,
    ConvertInputQuantToCodes,
    ConvertResizeToUpsample3D,
    ConvertToNDHWCStreams,
    ExtractOutputScale,
    GiveStreamTensorNames,
    LowerConv3dToMatMul,
    LowerToIntegerNDHWC,
    MoveScalarMulPastAdd,
    MoveScalarMulPastLinear,
    StreamlineIntegerStreams,
    lowering_passes,
)
from hwreg.compile.steps import step_tidy
from hwreg.errors import UserError
from hwreg.export import export_model

GRID = (4, 6, 4)  # (D, H, W), non-cubic so that an axis mix-up shows
QDOMAIN = "qonnx.custom_op.general"


@pytest.fixture(autouse=True)
def _no_sanitising(monkeypatch: pytest.MonkeyPatch) -> None:
    """qonnx execution must not round tensors to their annotations: that would hide a pass
    that is not exact."""
    monkeypatch.setenv("SANITIZE_QUANT_TENSORS", "0")


def run(model: ModelWrapper, *inputs: np.ndarray) -> list[np.ndarray]:
    """Execute ``model`` on ``inputs`` (in graph-input order); the outputs in order."""
    g = model.graph
    out = execute_onnx(model, {i.name: x for i, x in zip(g.input, inputs, strict=True)})
    return [out[o.name] for o in g.output]


def ops(model: ModelWrapper) -> list[str]:
    return [n.op_type for n in model.graph.node]


def fixpoint(model: ModelWrapper, p: Transformation) -> ModelWrapper:
    """``model.transform(p)`` after checking that the first application changes the graph;
    then checks that one more application reports no change."""
    _, changed = type(p)().apply(copy.deepcopy(model))
    assert changed, f"{type(p).__name__} did not change the graph"
    out = model.transform(p)
    again, changed = type(p)().apply(copy.deepcopy(out))
    assert not changed, f"{type(p).__name__} still changes the graph"
    assert again.model == out.model
    return out


def to_stream(v: np.ndarray) -> np.ndarray:
    """(1, C, D, H, W) -> (D*H*W, C)."""
    return v.transpose(TO_NDHWC).reshape(-1, v.shape[1])  # NCDHW -> NDHWC


# -- tiny exported network, one stage per pass --------------------------------------------------
@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelWrapper]:
    """The tidy export of a tiny W4A4 network (head level 0: skip Add and Resize) and the graph
    after each lowering pass, keyed by the pass's class name."""
    path = tmp_path_factory.mktemp("lower_passes") / "export.onnx"
    export_model(random_model("tiny", 4, 4, head_level=0, seed=1, grid=GRID), GRID, path)
    model = step_tidy(ModelWrapper(str(path)), BuildConfig(grid_shape=GRID), path.parent)
    out = {"export": model}
    for p in lowering_passes():
        model = model.transform(p)
        out[type(p).__name__] = model
    return out


@pytest.fixture(scope="module")
def x_volume() -> np.ndarray:
    """Two inputs (2, 2, D, H, W) in [0, 1], as the network sees them (one at a time)."""
    return np.random.default_rng(0).random((2, 2, *GRID)).astype(np.float32)


def codes_of(x: np.ndarray) -> np.ndarray:
    """The 8-bit input codes of ``x`` (the host prologue's arithmetic)."""
    return np.round(np.clip(x.astype(np.float64) / INPUT_SCALE, 0, 255)).astype(np.float32)


def test_lower_conv3d_to_matmul(stages, x_volume) -> None:
    before = stages["export"]
    after = fixpoint(before, LowerConv3dToMatMul())
    n_conv = ops(before).count("Conv")
    assert "Conv" not in ops(after)
    assert ops(after).count("ConvolutionInputGenerator3D_hwreg") == n_conv
    assert ops(after).count("MatMul") == n_conv
    assert ops(after).count("Quant") == ops(before).count("Quant") - n_conv  # weight Quants
    for x in x_volume:
        assert np.array_equal(run(before, x[None])[0], run(after, x[None])[0])


def test_convert_resize_to_upsample3d(stages, x_volume) -> None:
    before = stages["LowerConv3dToMatMul"]
    after = fixpoint(before, ConvertResizeToUpsample3D())
    assert "Resize" not in ops(after)
    assert ops(after).count("UpsampleNearest3D_hwreg") == ops(before).count("Resize") == 1
    for x in x_volume:
        assert np.array_equal(run(before, x[None])[0], run(after, x[None])[0])


def test_convert_to_ndhwc_streams(stages, x_volume) -> None:
    before = stages["ConvertResizeToUpsample3D"]
    after = fixpoint(before, ConvertToNDHWCStreams())
    assert not {"Transpose", "Reshape"} & set(ops(after))
    d, h, w = GRID
    assert after.get_tensor_shape(after.graph.input[0].name) == [d * h * w, 2]
    assert after.get_tensor_shape(after.graph.output[0].name) == [d * h * w, 3]
    assert after.get_metadata_prop(META_IN_GRID) == after.get_metadata_prop(META_OUT_GRID) \
        == "4,6,4"
    for x in x_volume:
        assert np.array_equal(to_stream(run(before, x[None])[0]), run(after, to_stream(x[None]))[0])


def test_convert_input_quant_to_codes(stages, x_volume) -> None:
    before = stages["ConvertToNDHWCStreams"]
    after = fixpoint(before, ConvertInputQuantToCodes())
    inp = after.graph.input[0].name
    assert inp == "global_in" and after.get_tensor_datatype(inp) == DataType["UINT8"]
    assert after.find_consumers(inp)[0].op_type == "Mul"
    assert ops(after).count("Quant") == ops(before).count("Quant") - 1
    for x in [*x_volume, 2 * x_volume[0] - 0.5]:  # also values outside [0, 1]
        xs = to_stream(x[None])
        assert np.array_equal(run(before, xs)[0], run(after, codes_of(xs))[0])


def test_streamline_integer_streams(stages, x_volume) -> None:
    before = stages["ConvertInputQuantToCodes"]
    after = fixpoint(before, StreamlineIntegerStreams())
    assert set(ops(after)) == set(INTEGER_OPS) | {"Mul"}
    assert ops(after).count("Mul") == 1  # the output scale
    export = stages["export"].graph
    activations = {n.output[0] for n in export.node if n.op_type in ("Resize", "Add")
                   or (n.op_type == "Quant" and n.input[0] != export.input[0].name
                       and stages["export"].get_initializer(n.input[0]) is None)}
    mapping = json.loads(after.get_metadata_prop(META_TENSOR_MAP))
    assert set(mapping) == activations
    assert all(after.get_tensor_datatype(t).is_integer() for t in mapping.values())
    for x in x_volume:
        xs = codes_of(to_stream(x[None]))
        assert np.array_equal(run(before, xs)[0], run(after, xs)[0])


def test_extract_output_scale(stages, x_volume) -> None:
    before = stages["StreamlineIntegerStreams"]
    after = fixpoint(before, ExtractOutputScale())
    assert "Mul" not in ops(after)
    scale = float(after.get_metadata_prop(META_OUT_SCALE))
    for x in x_volume:
        xs = codes_of(to_stream(x[None]))
        codes = run(after, xs)[0]
        assert np.array_equal(codes, np.round(codes))
        assert np.array_equal(run(before, xs)[0], codes * np.float32(scale))


def test_give_stream_tensor_names(stages, x_volume) -> None:
    before = stages["ExtractOutputScale"]
    after = fixpoint(before, GiveStreamTensorNames())
    assert after.graph.node[0].output[0] == "im2col_0"
    assert after.graph.node[1].input[1] == "weights_1"
    mapping = json.loads(after.get_metadata_prop(META_TENSOR_MAP))
    assert list(mapping.values()) == sorted(mapping.values(), key=lambda t: int(t.split("_")[1]))
    assert {v.split("_")[0] for v in mapping.values()} == {"act", "upsampled", "sum"}
    xs = codes_of(to_stream(x_volume[0][None]))
    assert np.array_equal(run(before, xs)[0], run(after, xs)[0])


def test_composition_is_the_passes_and_idempotent(stages) -> None:
    lowered, changed = LowerToIntegerNDHWC().apply(copy.deepcopy(stages["export"]))
    assert changed
    assert [(n.op_type, list(n.input), list(n.output)) for n in lowered.graph.node] == \
        [(n.op_type, list(n.input), list(n.output))
         for n in stages["GiveStreamTensorNames"].graph.node]
    again, changed = LowerToIntegerNDHWC().apply(copy.deepcopy(lowered))
    assert not changed and again.model == lowered.model
    assert all(lowered.get_tensor_layout(t.name) == ["N", "C"] for t in lowered.graph.value_info)


# -- hand-built graphs ----------------------------------------------------------------------
def make_model(nodes: list, inputs: dict[str, list[int]], outputs: dict[str, list[int]],
               inits: dict[str, np.ndarray],
               dtypes: dict[str, str] | None = None) -> ModelWrapper:
    """A float graph from nodes, input/output shapes and initializers, shapes inferred."""
    def vi(name: str, shape: list[int]):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(nodes, "test", [vi(k, v) for k, v in inputs.items()],
                              [vi(k, v) for k, v in outputs.items()])
    model = ModelWrapper(qonnx_make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    for name, value in inits.items():
        model.set_initializer(name, value)
    for name, dt in (dtypes or {}).items():
        model.set_tensor_datatype(name, DataType[dt])
    return model.transform(InferShapes())


def quant(name: str, x: str, out: str, scale: float, bits: int, signed: bool,
          inits: dict[str, np.ndarray]) -> object:
    """A per-tensor ``Quant`` node; its constants go into ``inits``."""
    inits[f"{name}_s"] = np.array(scale, np.float32)
    inits[f"{name}_z"] = np.array(0, np.float32)
    inits[f"{name}_b"] = np.array(bits, np.float32)
    return helper.make_node("Quant", [x, f"{name}_s", f"{name}_z", f"{name}_b"], [out],
                            domain=QDOMAIN, signed=int(signed), narrow=0,
                            rounding_mode="ROUND", name=name)


def conv_model(stride: int, pad: int, bias: bool, **conv_attrs: object) -> ModelWrapper:
    """x (1, 2, 5, 4, 6) -> input Quant -> Conv3d (3 out channels, 4-bit weights) -> y."""
    rng = np.random.default_rng(stride + pad)
    inits = {"w": rng.normal(0, 0.5, (3, 2, 3, 3, 3)).astype(np.float32)}
    nodes = [quant("qin", "x", "xq", INPUT_SCALE, 8, False, inits),
             quant("qw", "w", "wq", 2.0 ** -3, 4, True, inits)]
    conv_in = ["xq", "wq"]
    if bias:
        inits["b"] = rng.normal(0, 0.3, 3).astype(np.float32)
        conv_in.append("b")
    nodes.append(helper.make_node("Conv", conv_in, ["y"], kernel_shape=[3, 3, 3],
                                  strides=[stride] * 3, pads=[pad] * 6, name="conv",
                                  **conv_attrs))
    out = [(n + 2 * pad - 3) // stride + 1 for n in (5, 4, 6)]
    return make_model(nodes, {"x": [1, 2, 5, 4, 6]}, {"y": [1, 3, *out]}, inits)


@pytest.mark.parametrize(("stride", "pad", "bias"), [(1, 1, True), (2, 0, True), (2, 1, False)])
def test_lower_conv3d_hand_built(stride: int, pad: int, bias: bool) -> None:
    before = conv_model(stride, pad, bias)
    after = fixpoint(before, LowerConv3dToMatMul())
    assert ops(after) == ["Quant", "Transpose", "Reshape", "ConvolutionInputGenerator3D_hwreg",
                          "MatMul", "Mul", *(["Add"] if bias else []), "Reshape", "Transpose"]
    w = after.get_initializer(after.graph.node[4].input[1])
    assert w.shape == (27 * 2, 3) and np.array_equal(w, np.round(w)) and np.abs(w).max() <= 8
    x = np.random.default_rng(1).random((1, 2, 5, 4, 6)).astype(np.float32)
    assert np.array_equal(run(before, x)[0], run(after, x)[0])


def test_lower_conv3d_rejects_dilation() -> None:
    with pytest.raises(UserError, match="undilated"):
        conv_model(1, 1, False, dilations=[2, 2, 2]).transform(LowerConv3dToMatMul())


def test_resize_other_than_nearest_x2_rejected() -> None:
    inits = {"scales": np.array([1, 1, 2, 2, 1], np.float32)}
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", name="up")
    model = make_model([node], {"x": [1, 2, 2, 2, 2]}, {"y": [1, 2, 4, 4, 2]}, inits)
    with pytest.raises(UserError, match="nearest x2"):
        model.transform(ConvertResizeToUpsample3D())


def test_ndhwc_rejects_unknown_op() -> None:
    node = helper.make_node("Sigmoid", ["x"], ["y"], name="sig")
    model = make_model([node], {"x": [1, 2, 2, 2, 2]}, {"y": [1, 2, 2, 2, 2]}, {})
    with pytest.raises(UserError, match="Sigmoid is not supported"):
        model.transform(ConvertToNDHWCStreams())


def test_input_quant_must_be_uint8() -> None:
    inits: dict[str, np.ndarray] = {}
    model = make_model([quant("qin", "x", "y", INPUT_SCALE, 8, True, inits)],
                       {"x": [8, 2]}, {"y": [8, 2]}, inits)
    with pytest.raises(UserError, match="uint8 input quantiser"):
        model.transform(ConvertInputQuantToCodes())


def stream_model(scale_a: float = 0.25, scale_b: float = 0.25) -> ModelWrapper:
    """Codes ``a``, ``b`` (4*4*4, 2) UINT4, scaled; ``a`` read by a window + MatMul, an
    upsample and a skip Add with ``b``: three outputs."""
    inits = {"sa": np.array(scale_a, np.float32), "sb": np.array(scale_b, np.float32),
             "w": np.random.default_rng(2).integers(-8, 8, (54, 3)).astype(np.float32)}
    nodes = [
        helper.make_node("Mul", ["a", "sa"], ["ma"], name="mul_a"),
        helper.make_node("Mul", ["b", "sb"], ["mb"], name="mul_b"),
        helper.make_node("ConvolutionInputGenerator3D_hwreg", ["ma"], ["cols"],
                         domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
                         ConvKernelDim=[3] * 3, IFMChannels=2, IFMDim=[4] * 3, Stride=[1] * 3,
                         Pad=[1] * 3, SIMD=1, inputDataType="FLOAT32",
                         outputDataType="FLOAT32", name="swg"),
        helper.make_node("MatMul", ["cols", "w"], ["acc"], name="matmul"),
        helper.make_node("UpsampleNearest3D_hwreg", ["ma"], ["up"],
                         domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
                         IFMDim=[4] * 3, NumChannels=2, Scale=2, PE=1,
                         inputDataType="FLOAT32", name="upsample"),
        helper.make_node("Add", ["ma", "mb"], ["sum"], name="skip"),
    ]
    return make_model(nodes, {"a": [64, 2], "b": [64, 2]},
                      {"acc": [64, 3], "up": [512, 2], "sum": [64, 2]}, inits,
                      {"a": "UINT4", "b": "UINT4", "w": "INT4"})


def stream_codes(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(0, 16, (64, 2)).astype(np.float32) for _ in range(2))


def test_move_scalar_mul_past_linear() -> None:
    before = stream_model()
    after = fixpoint(before, MoveScalarMulPastLinear())
    swg = after.get_node_from_name("swg")
    assert swg.input[0] == "a"  # the window and the MatMul read codes, their output is scaled
    assert after.find_consumers(swg.output[0])[0].name == "matmul"
    for name in ("matmul", "upsample"):
        node = after.get_node_from_name(name)
        assert after.find_consumers(node.output[0])[0].op_type == "Mul"
    assert after.get_node_from_name("mul_a") is not None  # the skip Add still reads it
    up = after.get_node_from_name("upsample")
    assert after.get_tensor_datatype(up.output[0]) == DataType["UINT4"]
    assert json.loads(after.get_metadata_prop(META_TENSOR_MAP)) == {"up": up.output[0]}
    for seed in range(2):
        for u, v in zip(run(before, *stream_codes(seed)), run(after, *stream_codes(seed)),
                        strict=True):
            assert np.array_equal(u, v)


def test_move_scalar_mul_past_add() -> None:
    before = stream_model()
    after = fixpoint(before, MoveScalarMulPastAdd())
    skip = after.get_node_from_name("skip")
    assert list(skip.input) == ["a", "b"]
    assert after.get_tensor_datatype(skip.output[0]) == DataType["UINT5"]
    assert after.get_node_from_name("mul_b") is None  # read by the Add only
    for u, v in zip(run(before, *stream_codes(3)), run(after, *stream_codes(3)), strict=True):
        assert np.array_equal(u, v)


def test_move_scalar_mul_past_add_needs_one_scale() -> None:
    with pytest.raises(UserError, match="one scale"):
        stream_model(scale_b=0.5).transform(MoveScalarMulPastAdd())


def test_collapse_repeated_mul() -> None:
    inits = {"s1": np.array(0.5, np.float32), "s2": np.array(2.0 ** -6, np.float32)}
    nodes = [helper.make_node("Mul", ["x", "s1"], ["m"], name="m1"),
             helper.make_node("Mul", ["m", "s2"], ["y"], name="m2")]
    before = make_model(nodes, {"x": [8, 2]}, {"y": [8, 2]}, inits)
    after = fixpoint(before, CollapseRepeatedMul())
    assert ops(after) == ["Mul"]
    assert float(after.get_initializer(after.graph.node[0].input[1])) == 2.0 ** -7
    x = np.random.default_rng(4).integers(-100, 100, (8, 2)).astype(np.float32)
    assert np.array_equal(run(before, x)[0], run(after, x)[0])
    # an inner Mul that is also read elsewhere stays
    forked = make_model(nodes, {"x": [8, 2]}, {"y": [8, 2], "m": [8, 2]}, inits)
    assert not CollapseRepeatedMul().apply(forked)[1]


@pytest.mark.parametrize(("relu", "bias", "signed"), [(True, True, False), (False, True, True),
                                                      (True, False, False)])
def test_absorb_scale_bias_into_multithreshold(relu: bool, bias: bool, signed: bool) -> None:
    rng = np.random.default_rng(5)
    inits = {"w": rng.integers(-8, 8, (6, 4)).astype(np.float32),
             "s": np.array(2.0 ** -10, np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["acc"], name="matmul"),
             helper.make_node("Mul", ["acc", "s"], ["v0"], name="scale")]
    v = "v0"
    if bias:
        inits["b"] = rng.normal(0, 0.3, 4).astype(np.float32)
        inits["b"][0] = np.float32(3 * 2.0 ** -5)  # an exact tie
        nodes.append(helper.make_node("Add", [v, "b"], ["v1"], name="bias"))
        v = "v1"
    if relu:
        nodes.append(helper.make_node("Relu", [v], ["v2"], name="relu"))
        v = "v2"
    nodes.append(quant("act", v, "y", 2.0 ** -4, 4, signed, inits))
    before = make_model(nodes, {"x": [4096, 6]}, {"y": [4096, 4]}, inits,
                        {"x": "INT8", "w": "INT4"})
    after = fixpoint(before, AbsorbScaleBiasIntoMultiThreshold())
    assert ops(after) == ["MatMul", "MultiThreshold", "Mul"]
    mt = after.graph.node[1]
    assert after.get_initializer(mt.input[1]).shape == (4, 15)
    assert json.loads(after.get_metadata_prop(META_TENSOR_MAP)) == {"y": mt.output[0]}
    x = rng.integers(-128, 128, (4096, 6)).astype(np.float32)
    assert np.array_equal(run(before, x)[0], run(after, x)[0])


def test_absorb_waits_for_integer_input() -> None:
    inits = {"w": np.ones((2, 2), np.float32), "s": np.array(0.5, np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["acc"], name="matmul"),
             helper.make_node("Mul", ["acc", "s"], ["v"], name="scale"),
             quant("act", "v", "y", 0.25, 4, False, inits)]
    model = make_model(nodes, {"x": [4, 2]}, {"y": [4, 2]}, inits, {"w": "INT2"})
    assert not AbsorbScaleBiasIntoMultiThreshold().apply(model)[1]  # x is FLOAT32


def test_unquantised_output_rejected() -> None:
    with pytest.raises(UserError, match="left after lowering"):
        conv_model(1, 1, True).transform(LowerToIntegerNDHWC())
