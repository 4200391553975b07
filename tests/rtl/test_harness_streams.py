"""The harness flags stream faults: extra output beats, missing output beats and input beats
never consumed (a design that stops at the expected count would hide them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwreg.rtl import harness

pytestmark = pytest.mark.rtl

#: A stream probe steered by its data (one build serves every case): a beat with bit 7 set is
#: sent twice, one with bit 6 set is dropped, and after the beat 0x3F no input is accepted.
PROBE = """
module probe_top(input ap_clk, input ap_rst_n,
                 input [7:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,
                 output [7:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY);
  reg [7:0] d;
  reg [1:0] left;
  reg stopped;
  assign in0_V_TREADY = (left == 0) && !stopped;
  assign out0_V_TVALID = (left != 0);
  assign out0_V_TDATA = d;
  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      left <= 0; stopped <= 0;
    end else if (in0_V_TVALID && in0_V_TREADY) begin
      d <= in0_V_TDATA;
      left <= in0_V_TDATA[7] ? 2'd2 : (in0_V_TDATA[6] ? 2'd0 : 2'd1);
      stopped <= (in0_V_TDATA == 8'h3F);
    end else if (out0_V_TVALID && out0_V_TREADY) begin
      left <= left - 1;
    end
  end
endmodule
"""
N = 40


def _run(tmp_path: Path, rtl_cache: Path, x: np.ndarray, n_out: int
         ) -> tuple[list[np.ndarray], int]:
    src = tmp_path / "probe_top.sv"
    src.write_text(PROBE)
    ports = [harness.Port("in0_V", 8)], [harness.Port("out0_V", 8)]
    exe = harness.build([src], "probe_top", *ports, cache_dir=rtl_cache)
    return harness.run(exe, [x.astype(np.uint32).reshape(-1, 1)], [n_out], [8], tmp_path / "run",
                       stall_percent=20)


def test_exact_stream_passes(tmp_path: Path, rtl_cache: Path) -> None:
    got, cycles = _run(tmp_path, rtl_cache, np.arange(N), N)
    assert np.array_equal(got[0][:, 0], np.arange(N)) and cycles >= N


def test_extra_output_beats_flagged(tmp_path: Path, rtl_cache: Path) -> None:
    with pytest.raises(harness.StreamError, match=f"out0: {N} extra output beats"):
        _run(tmp_path, rtl_cache, np.arange(N) | 0x80, N)


def test_missing_output_beats_flagged(tmp_path: Path, rtl_cache: Path) -> None:
    x = np.arange(N) | np.where(np.arange(N) % 2 == 1, 0x40, 0)
    with pytest.raises(harness.StreamError, match=f"out0: {N // 2} of {N} output beats missing"):
        _run(tmp_path, rtl_cache, x, N)


def test_unconsumed_input_flagged(tmp_path: Path, rtl_cache: Path) -> None:
    x = np.arange(N)
    x[29] = 0x3F  # the probe stops accepting after 30 beats
    with pytest.raises(harness.StreamError, match=f"in0: 10 of {N} input beats never consumed"):
        _run(tmp_path, rtl_cache, x, 30)
