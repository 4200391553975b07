"""ElementwiseAdd and DuplicateStreams in RTL (``hdl/hwreg_addstreams.sv``,
``hdl/hwreg_dupstreams.sv``) under Verilator against their Python references, at full speed and
with random input gaps and output back-pressure."""

from __future__ import annotations

import numpy as np
import pytest

from hwreg.rtl import harness, reference, tops
from hwreg.rtl.harness import pack, unpack

pytestmark = pytest.mark.rtl


def _rand(rng: np.random.Generator, n: int, pe: int, bits: int, signed: bool) -> np.ndarray:
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    return rng.integers(lo, hi, size=(n, pe))


@pytest.mark.parametrize(("pe", "a", "b", "o"), [
    (1, (4, False), (4, False), (5, False)),  # the tiny network's residual add
    (4, (4, True), (3, False), (6, True)),    # mixed signedness, 4 lanes, 24-bit beats
    (3, (8, True), (8, True), (9, True)),     # 27-bit beats, odd PE
    (5, (12, True), (9, False), (14, True)),  # 70-bit beats (multi-word)
])
def test_add_rtl_matches_reference(tmp_path, rtl_cache, pe, a, b, o) -> None:
    (ab, as_), (bb, bs), (ob, os_) = a, b, o
    src = tops.write_add_top(tmp_path / "hdl", "add_top", pe, ab, as_, bb, bs, ob)
    ins = [harness.Port("in0_V", tops.padded(pe * ab)), harness.Port("in1_V", tops.padded(pe * bb))]
    outs = [harness.Port("out0_V", tops.padded(pe * ob))]
    exe = harness.build(src, "add_top", ins, outs, rtl_cache)
    rng = np.random.default_rng(pe)
    n = 203
    va, vb = _rand(rng, n, pe, ab, as_), _rand(rng, n, pe, bb, bs)
    ref = reference.add_streams(va, vb, ob, os_)
    beats = [pack(va, ab, ins[0].width), pack(vb, bb, ins[1].width)]
    for stall in (0, 30):
        got, cycles = harness.run(exe, beats, [n], [outs[0].width], tmp_path / f"run{stall}",
                                  stall_percent=stall, seed=stall + 7)
        assert np.array_equal(unpack(got[0], pe, ob, os_), ref)
        if stall == 0:
            assert cycles <= n + 3  # one beat per cycle


@pytest.mark.parametrize(("pe", "bits", "n_out"), [(1, 4, 2), (4, 5, 3), (7, 10, 2)])
def test_duplicate_rtl_matches_reference(tmp_path, rtl_cache, pe, bits, n_out) -> None:
    width = pe * bits
    src = tops.write_dup_top(tmp_path / "hdl", "dup_top", width, n_out)
    ins = [harness.Port("in0_V", tops.padded(width))]
    outs = [harness.Port(f"out{k}_V", tops.padded(width)) for k in range(n_out)]
    exe = harness.build(src, "dup_top", ins, outs, rtl_cache)
    x = _rand(np.random.default_rng(bits), 157, pe, bits, True)
    ref = reference.duplicate_streams(x, n_out)
    for stall in (0, 40):
        got, cycles = harness.run(exe, [pack(x, bits, ins[0].width)], [len(x)] * n_out,
                                  [p.width for p in outs], tmp_path / f"run{stall}",
                                  stall_percent=stall, seed=stall + 3)
        for k in range(n_out):
            assert np.array_equal(unpack(got[k], pe, bits, True), ref[k])
        if stall == 0:
            assert cycles <= len(x) + 3


def test_add_reference_rejects_overflow() -> None:
    with pytest.raises(ValueError, match="leave"):
        reference.add_streams(np.array([[15]]), np.array([[15]]), 4, False)


@pytest.mark.parametrize(("bits", "in_e", "out_e"), [(4, 1, 4), (5, 6, 2)])
def test_dwc_rtl_regroups_elements(tmp_path, rtl_cache, bits, in_e, out_e) -> None:
    from hwreg.compile.ops.hdlgen import HDL_DIR

    wi, wo = in_e * bits, out_e * bits
    top = tmp_path / "dwc_top.sv"
    top.write_text(f"""module dwc_top (input wire ap_clk, input wire ap_rst_n,
    input wire [{tops.padded(wi) - 1}:0] in0_V_TDATA, input wire in0_V_TVALID,
    output wire in0_V_TREADY, output wire [{tops.padded(wo) - 1}:0] out0_V_TDATA,
    output wire out0_V_TVALID, input wire out0_V_TREADY);
    wire [{wo - 1}:0] o;
    hwreg_dwc #(.BITS({bits}), .IN_E({in_e}), .OUT_E({out_e})) dut (.clk(ap_clk),
        .rst_n(ap_rst_n), .in_data(in0_V_TDATA[{wi - 1}:0]), .in_valid(in0_V_TVALID),
        .in_ready(in0_V_TREADY), .out_data(o), .out_valid(out0_V_TVALID),
        .out_ready(out0_V_TREADY));
    assign out0_V_TDATA = {tops.padded(wo)}'(o);
endmodule
""")
    ins, outs = [harness.Port("in0_V", tops.padded(wi))], [harness.Port("out0_V", tops.padded(wo))]
    exe = harness.build([HDL_DIR / "hwreg_dwc.sv", top], "dwc_top", ins, outs, rtl_cache)
    x = _rand(np.random.default_rng(bits), 60, in_e, bits, False)
    ref = x.reshape(-1, out_e)  # the element order is kept, only regrouped
    for stall in (0, 30):
        got, _ = harness.run(exe, [pack(x, bits, ins[0].width)], [len(ref)], [outs[0].width],
                             tmp_path / f"run{stall}", stall_percent=stall, seed=stall + 5)
        assert np.array_equal(unpack(got[0], out_e, bits, False), ref)
