"""The stitched accelerator's FIFO (``hw/hdl/hwreg_fifo.sv``) under Verilator: a depth that is
not a power of two stores exactly that many entries and passes every beat in order, with random
input gaps and output back-pressure, whatever memory style it asks synthesis for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwreg.compile.ops.hdlgen import HDL_DIR
from hwreg.rtl import harness

pytestmark = pytest.mark.rtl

WRAPPER = """module fifo_top (
    input logic ap_clk, input logic ap_rst_n,
    input logic [7:0] in0_V_TDATA, input logic in0_V_TVALID, output logic in0_V_TREADY,
    output logic [7:0] out0_V_TDATA, output logic out0_V_TVALID, input logic out0_V_TREADY);
    hwreg_fifo #(.WIDTH(8), .ADDR_BITS({addr_bits}), .DEPTH({depth}), .STYLE({style})) fifo (
        .clk(ap_clk), .rst_n(ap_rst_n),
        .in_data(in0_V_TDATA), .in_valid(in0_V_TVALID), .in_ready(in0_V_TREADY),
        .out_data(out0_V_TDATA), .out_valid(out0_V_TVALID), .out_ready(out0_V_TREADY));
endmodule
"""


@pytest.mark.parametrize(("depth", "addr_bits", "style"), [(5, 3, 0), (16, 4, 1), (11, 6, 2)])
def test_fifo_keeps_order_and_holds_depth_entries(tmp_path: Path, rtl_cache: Path, depth: int,
                                                  addr_bits: int, style: int) -> None:
    top = tmp_path / "fifo_top.sv"
    top.write_text(WRAPPER.format(depth=depth, addr_bits=addr_bits, style=style))
    ports = [harness.Port("in0_V", 8)], [harness.Port("out0_V", 8)]
    exe = harness.build([HDL_DIR / "hwreg_fifo.sv", top], "fifo_top", *ports, rtl_cache,
                        normalise=[str(tmp_path)])
    beats = np.random.default_rng(depth).integers(0, 256, size=(200, 1)).astype(np.uint32)
    fills = []
    for stall in (0, 60):  # full speed, then heavy random gaps and back-pressure
        out, _ = harness.run(exe, [beats], [len(beats)], [8], tmp_path / f"s{stall}",
                             stall_percent=stall)
        assert np.array_equal(out[0], beats)
        log = (tmp_path / f"s{stall}" / "sim.log").read_text()
        fills.append(next(int(ln.split()[-1]) for ln in log.splitlines()
                          if ln.startswith("hwreg_fifo_fill")))
    # back-pressure fills it to its depth, never beyond (the memory has exactly depth slots)
    assert fills[1] == depth and all(f <= depth for f in fills)
