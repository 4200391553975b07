"""The 3D ops' generated RTL under Verilator (:mod:`hwreg.rtl.harness`) against the Python
references, streamed through their FINN-style AXI-stream tops with random input gaps and output
back-pressure."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from qonnx.custom_op.registry import getCustomOp

import hwreg.compile.ops.backends  # noqa: F401  (registers the _rtl variants)
from hwreg.compile.ops import im2col3d, upsample_nearest3d
from hwreg.rtl import harness

pytestmark = pytest.mark.rtl
RTL = "finn.custom_op.fpgadataflow.rtl"


def _simulate(op, tmp_path, cache, vols: list[np.ndarray], elems_in: int, elems_out: int,
              n_out: int, bits: int, signed: bool) -> tuple[np.ndarray, list[int]]:
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "hdl"))
    op.generate_hdl(None, "xczu7ev-ffvc1156-2-e", 5.0)
    files = [tmp_path / "hdl" / f for f in op.get_rtl_file_list()]
    assert all(f.is_file() for f in files)
    assert any(cmd.startswith("create_bd_cell") for cmd in op.code_generation_ipi())
    ins = [harness.Port("in0_V", op.get_instream_width_padded())]
    outs = [harness.Port("out0_V", op.get_outstream_width_padded())]
    exe = harness.build(files, op.onnx_node.name, ins, outs, cache, normalise=[str(tmp_path)])
    beats = np.concatenate([harness.pack(v.reshape(-1, elems_in), bits, ins[0].width)
                            for v in vols])
    cycles = []
    outs_got = []
    for stall in (0, 30):  # full speed, then random gaps/back-pressure
        out, cyc = harness.run(exe, [beats], [n_out * len(vols)], [outs[0].width],
                               tmp_path / f"run{stall}", stall_percent=stall)
        outs_got.append(harness.unpack(out[0], elems_out, bits, signed))
        cycles.append(cyc)
    assert np.array_equal(outs_got[0], outs_got[1])
    return outs_got[0], cycles


@pytest.mark.parametrize(("dims", "c", "simd", "stride", "pad"), [
    ((5, 7, 6), 4, 2, 2, 1),   # channel folding, stride 2
    ((4, 4, 5), 2, 6, 1, 1),   # parallel window, 3 positions per beat
    ((4, 6, 4), 2, 54, 2, 1),  # the whole window per beat
    ((5, 5, 7), 3, 3, 1, 0),   # no padding, odd channels
])
def test_swg3d_rtl_matches_reference(tmp_path, rtl_cache, dims, c, simd, stride,
                                     pad) -> None:
    node = helper.make_node(
        "ConvolutionInputGenerator3D_hwreg_rtl", ["i"], ["o"], domain=RTL, name="swg3d_top",
        ConvKernelDim=[3] * 3, IFMChannels=c, IFMDim=list(dims), Stride=[stride] * 3,
        Pad=[pad] * 3, SIMD=simd, inputDataType="INT4")
    op = getCustomOp(node)
    rng = np.random.default_rng(sum(dims))
    vols = [rng.integers(-8, 8, size=(int(np.prod(dims)), c)) for _ in range(2)]
    ref = np.concatenate([im2col3d(v, dims, c, 3, stride, pad).reshape(-1, simd) for v in vols])
    n_out = ref.shape[0] // 2
    got, cycles = _simulate(op, tmp_path, rtl_cache, vols, min(simd, c), simd, n_out, 4,
                            True)
    assert np.array_equal(got, ref)
    # full speed is close to the cycle model (the volume boundary costs a little)
    assert cycles[0] <= 1.2 * 2 * op.get_exp_cycles()


@pytest.mark.parametrize(("dims", "c", "pe"), [((3, 2, 5), 4, 2), ((2, 3, 3), 3, 3)])
def test_upsample3d_rtl_matches_reference(tmp_path, rtl_cache, dims, c, pe) -> None:
    node = helper.make_node(
        "UpsampleNearest3D_hwreg_rtl", ["i"], ["o"], domain=RTL, name="up3d_top",
        IFMDim=list(dims), NumChannels=c, PE=pe, inputDataType="UINT5")
    op = getCustomOp(node)
    rng = np.random.default_rng(c)
    vols = [rng.integers(0, 32, size=(int(np.prod(dims)), c)) for _ in range(2)]
    ref = np.concatenate([upsample_nearest3d(v, dims, c, 2).reshape(-1, pe) for v in vols])
    got, cycles = _simulate(op, tmp_path, rtl_cache, vols, pe, pe, ref.shape[0] // 2, 5,
                            False)
    assert np.array_equal(got, ref)
    assert cycles[0] <= 1.2 * 2 * op.get_exp_cycles()
