"""The 3D hardware ops against independent references (torch conv3d, torch interpolate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from hwreg.compile.ops import im2col3d, out_dim, upsample_nearest3d

DOMAIN = "finn.custom_op.fpgadataflow"


def _single_node(op_type: str, in_shape: list[int], out_shape: list[int], **attrs) -> ModelWrapper:
    node = helper.make_node(op_type, ["inp"], ["outp"], domain=DOMAIN, backend="fpgadataflow",
                            name=f"{op_type}_0", **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("outp", TensorProto.FLOAT, out_shape)])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("inp", DataType["UINT4"])
    return model


@pytest.mark.parametrize(("dims", "c_in", "c_out", "stride", "pad"), [
    ((5, 7, 6), 3, 4, 1, 1),
    ((7, 5, 9), 2, 5, 2, 1),
    ((4, 6, 8), 1, 2, 2, 0),
    ((6, 6, 6), 5, 3, 1, 0),
    ((3, 5, 4), 4, 1, 2, 2),
])
def test_lowered_conv3d_matches_torch(dims, c_in, c_out, stride, pad) -> None:
    """3D im2col (the HW op, executed through qonnx) + MatMul == torch conv3d, exactly."""
    rng = np.random.default_rng(sum(dims) + c_in)
    x = rng.integers(0, 16, size=(1, c_in, *dims)).astype(np.float32)
    w = rng.integers(-8, 8, size=(c_out, c_in, 3, 3, 3)).astype(np.float32)
    ref = torch.nn.functional.conv3d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                     stride=stride, padding=pad).numpy()
    od = tuple(out_dim(n, 3, stride, pad) for n in dims)
    n_in, n_out = int(np.prod(dims)), int(np.prod(od))
    model = _single_node("ConvolutionInputGenerator3D_hwreg", [n_in, c_in], [n_out, 27 * c_in],
                         ConvKernelDim=[3] * 3, IFMChannels=c_in, IFMDim=list(dims),
                         Stride=[stride] * 3, Pad=[pad] * 3, inputDataType="UINT4")
    x_stream = x[0].transpose(1, 2, 3, 0).reshape(n_in, c_in)  # NCDHW -> NDHWC -> (DHW, C)
    cols = execute_onnx(model, {"inp": x_stream})["outp"]
    w_mat = w.transpose(2, 3, 4, 1, 0).reshape(27 * c_in, c_out)  # (kd, kh, kw, ci), co
    got = (cols.astype(np.float64) @ w_mat).reshape(*od, c_out).transpose(3, 0, 1, 2)[None]
    assert np.array_equal(got, ref)
    assert np.array_equal(cols, im2col3d(x_stream, dims, c_in, 3, stride, pad))


@pytest.mark.parametrize(("dims", "channels"), [((3, 5, 2), 3), ((1, 4, 7), 1), ((2, 2, 2), 8)])
def test_upsample_matches_torch_interpolate(dims, channels) -> None:
    rng = np.random.default_rng(channels)
    x = rng.integers(0, 16, size=(1, channels, *dims)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2,
                                          mode="nearest").numpy()
    n = int(np.prod(dims))
    model = _single_node("UpsampleNearest3D_hwreg", [n, channels], [8 * n, channels],
                         IFMDim=list(dims), NumChannels=channels, Scale=2, inputDataType="UINT4")
    stream = x[0].transpose(1, 2, 3, 0).reshape(n, channels)
    out = execute_onnx(model, {"inp": stream})["outp"]
    got = out.reshape(*(2 * d for d in dims), channels).transpose(3, 0, 1, 2)[None]
    assert np.array_equal(got, ref)
    assert np.array_equal(out, upsample_nearest3d(stream, dims, channels, 2))


def test_window_op_geometry_and_estimates() -> None:
    model = _single_node("ConvolutionInputGenerator3D_hwreg", [6 * 8 * 10, 4], [3 * 4 * 5, 108],
                         ConvKernelDim=[3] * 3, IFMChannels=4, IFMDim=[6, 8, 10], Stride=[2] * 3,
                         Pad=[1] * 3, inputDataType="UINT4")
    op = getCustomOp(model.graph.node[0])
    assert op.get_ofm_dim() == (3, 4, 5)
    assert op.legal_simd() == [1, 2, 4, 12, 36, 108]
    base = op.get_exp_cycles()
    assert base == 3 * 4 * 5 * 108  # one element per cycle out
    for simd in (2, 4, 12):
        op.set_nodeattr("SIMD", simd)
        assert op.verify_node() == []
        assert op.get_folded_output_shape() == (60, 108 // simd, simd)
        assert op.get_outstream_width() == 4 * simd
        assert op.get_instream_width() == 4 * min(simd, 4)
        assert op.get_exp_cycles() == max(480 * 4 // min(simd, 4), base // simd)
    op.set_nodeattr("SIMD", 3)
    assert op.verify_node()  # illegal SIMD is reported
    op.set_nodeattr("SIMD", 4)
    est = op.node_res_estimation("xczu7ev-ffvc1156-2-e")
    assert est["LUT"] > 0 and est["DSP"] == 0
    op.set_nodeattr("ram_style", "ultra")
    assert op.uram_estimation("xczu7ev") >= 1 and op.bram_estimation("xczu7ev") == 0
    model = model.transform(__import__("qonnx.transformation.infer_shapes",
                                       fromlist=["InferShapes"]).InferShapes())
    assert model.get_tensor_shape("outp") == [60, 108]


def test_upsample_op_folding() -> None:
    model = _single_node("UpsampleNearest3D_hwreg", [2 * 3 * 4, 8], [8 * 24, 8],
                         IFMDim=[2, 3, 4], NumChannels=8, inputDataType="UINT4")
    op = getCustomOp(model.graph.node[0])
    assert op.legal_pe() == [1, 2, 4, 8]
    op.set_nodeattr("PE", 4)
    assert op.get_folded_output_shape() == (192, 2, 4)
    assert op.get_exp_cycles() == 192 * 2
    assert op.get_outstream_width() == 16
    assert op.lut_estimation("xczu7ev") > 0
