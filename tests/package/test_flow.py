"""The DMA top of a package (``hwreg_accel_axis.v``) around a small pass-through core under
Verilator: TDATA widened to the DMA width (zero-extended), TLAST on the last beat of each
volume, with random stalls; and the DMA widths."""

from __future__ import annotations

import numpy as np
import pytest

from hwreg.package import flow
from hwreg.rtl import harness

pytestmark = pytest.mark.rtl

_CORE = """// test core: out = {in[7:0], in[15:0]}, a 16-bit in, 24-bit out stream
module hwreg_accel (
    input wire ap_clk, input wire ap_rst_n,
    input wire [15:0] in0_V_TDATA, input wire in0_V_TVALID, output wire in0_V_TREADY,
    output wire [23:0] out0_V_TDATA, output wire out0_V_TVALID, input wire out0_V_TREADY);
    assign out0_V_TDATA = {in0_V_TDATA[7:0], in0_V_TDATA};
    assign out0_V_TVALID = in0_V_TVALID;
    assign in0_V_TREADY = out0_V_TREADY;
endmodule
"""


def test_dma_width() -> None:
    assert [flow.dma_width(b) for b in (1, 8, 9, 24, 64, 1024)] == [8, 8, 16, 32, 64, 1024]
    with pytest.raises(ValueError, match="1024"):
        flow.dma_width(1025)


def test_axis_top_widens_and_marks_last(tmp_path, rtl_cache) -> None:
    beats = 5
    (tmp_path / "core.v").write_text(_CORE)
    (tmp_path / "top.v").write_text(flow.axis_top("hwreg_accel", 16, 24, beats))
    outs = [harness.Port("m_axis", 32, last=True)]
    exe = harness.build([tmp_path / "core.v", tmp_path / "top.v"], flow.AXIS_TOP,
                        [harness.Port("s_axis", 16)], outs, rtl_cache)
    x = np.random.default_rng(0).integers(0, 1 << 16, size=(3 * beats, 1), dtype=np.uint32)
    got, _ = harness.run(exe, [x], [3 * beats], [32], tmp_path / "run", stall_percent=30)
    want = (x[:, 0] & 0xFF) << 16 | x[:, 0]  # the core's 24 bits, top byte zero
    assert np.array_equal(got[0][:, 0], want)
    last = np.frombuffer((tmp_path / "run" / "out0.last").read_bytes(), np.uint8)
    assert last.tolist() == ([0] * (beats - 1) + [1]) * 3
