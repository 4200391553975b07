"""``hwreg bitstream`` and ``hwreg synth --top``: the ECP5 flow (Yosys synth_ecp5 ->
nextpnr-ecp5 -> ecppack) on the board top, its fit and timing verdicts, and the CLI's refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwreg.compile.boards import Board, board_info
from hwreg.rtl import board
from hwreg.synth import pnr

pytestmark = pytest.mark.synth

#: nextpnr-ecp5's own output for a design with 257 EBRs (a 72 x 65536 FIFO) on the LFE5U-85F
#: (benchmarks' too-big run; excerpt).
NEXTPNR_TOO_BIG = """Info: Device utilisation:
Info: \t          TRELLIS_IO:       3/    365     0%
Info: \t              DP16KD:     257/    208   123%
Info: \t          MULT18X18D:       0/    156     0%
Info: \t          TRELLIS_FF:     422/  83640     0%
Info: \t        TRELLIS_COMB:    2765/  83640     3%
ERROR: Unable to place cell 'board.accel.q.mem.0.18', no BELs remaining to implement cell \
type 'DP16KD'
"""


def test_fit_check_names_the_overflow() -> None:
    util = pnr.utilisation_from_log(NEXTPNR_TOO_BIG)
    assert util["DP16KD"] == {"used": 257, "available": 208}
    assert util["TRELLIS_COMB"] == {"used": 2765, "available": 83640}
    assert pnr.fit_problems(util) == ["BRAM_18K (DP16KD): needs 257, the part has 208"]
    util["TRELLIS_COMB"]["used"] = 90_000
    assert len(pnr.fit_problems(util)) == 2


#: The log of a nextpnr run stopped while routing (the demo network on 40x48x40 at 25 MHz;
#: excerpt of its lines, as nextpnr-ecp5 writes them).
NEXTPNR_ROUTING = """Info: Device utilisation:
Info: \t              DP16KD:     206/    208    99%
Info: \t          MULT18X18D:      92/    156    58%
Info: \t        TRELLIS_COMB:   41320/  83640    49%
Info: SA placement time 1799.23s

Info: Max frequency for clock '$glbnet$pll.clkout': 30.56 MHz (PASS at 25.00 MHz)
Info: Routing..
Info:     128000 |    35746      92253 |  152   848 |    194702|       7.68     667.66|
"""


def test_a_nextpnr_run_out_of_time_says_where_it_stopped() -> None:
    e = pnr._timed_out(NEXTPNR_ROUTING, {"part": "LFE5U-85F-6BG381C"}, 3600.0)
    assert isinstance(e, pnr.BitstreamError)
    assert str(e) == ("nextpnr not done after 3600 s (stopped in routing; 30.56 MHz estimated "
                      "after placement); raise --timeout")
    r = e.result
    assert r["timed_out"] and r["placed"] and r["fmax_MHz_estimate_before_routing"] == 30.56
    assert r["utilisation"]["BRAM_18K"] == {"used": 206, "available": 208}
    early = pnr._timed_out(NEXTPNR_ROUTING.split("Info: SA")[0], {}, 60.0)
    assert "stopped in placement)" in str(early) and not early.result["placed"]


def test_ecp5_cells_count_as_nextpnr_counts_lut4s() -> None:
    """Yosys's cells of the tiny network's board top and nextpnr's "Total LUT4s: 21819" for
    the same netlist (logic 8261 + carry 12352 + RAM 804 + RAMW 402)."""
    from hwreg.synth.yosys import ecp5_resources

    cells = {"CCU2C": 6176, "DP16KD": 23, "EHXPLLL": 1, "L6MUX21": 93, "LUT4": 8261,
             "MULT18X18D": 21, "PFUMX": 1039, "TRELLIS_DPR16X4": 201, "TRELLIS_FF": 4352}
    r = ecp5_resources(cells)
    assert (r["LUT"], r["FF"], r["BRAM_18K"], r["DSP"]) == (21819, 4352, 23, 21)
    assert r["LUT_logic"] + r["LUT_memory"] == r["LUT"]


def test_timing_verdict_and_critical_path() -> None:
    step = {"from": {"cell": "a"}, "to": {"cell": "b"}}
    report = {"fmax": {"clk": {"achieved": 87.5, "constraint": 100.0}},
              "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
                  {**step, "type": "clk-to-q", "delay": 0.5},
                  {**step, "type": "routing", "delay": 6.0, "sources": ["x.sv:3.1-3.5"]},
                  {"from": {"cell": "b"}, "to": {"cell": "z"}, "type": "logic", "delay": 4.9}]}]}
    assert pnr.clocks(report) == {"clk": {"achieved_MHz": 87.5, "constraint_MHz": 100.0,
                                          "met": False}}
    cp = pnr.critical_path(report, "clk")
    assert (cp["from"], cp["to"], cp["delay_ns"], cp["routing_ns"]) == ("a", "z", 11.4, 6.0)
    assert cp["sources"] == ["x.sv"]


def _loopback_top(tmp_path, mhz: float) -> tuple[list, list]:
    hdl = tmp_path / "hdl"
    files = board.write_loopback(hdl, 16)
    pll, got = board.write_fpga_top(hdl, 25.0, mhz)
    files += board.write_board(hdl, 16, 16, board.clks_per_bit(got * 1e6),
                               accel="hwreg_loopback")
    return [*dict.fromkeys(files), pll[1]], pll[:1]


def test_board_top_places_routes_and_packs(tmp_path) -> None:
    """The board top (PLL, UART link, a loopback accelerator) on the ULX3S-85F at 50 MHz: fits,
    meets timing, and a bitstream for the LFE5U-85F is written."""
    files, prims = _loopback_top(tmp_path, 50.0)
    r = pnr.place_and_route(files, "hwreg_fpga", board_info(Board.ulx3s_85f), 50.0,
                            tmp_path / "run", "loop", primitives=prims)
    assert r["fits"] and r["timing_met"] and r["fmax_MHz"] >= 50.0
    assert r["utilisation"]["PLL"]["used"] == 1 and r["utilisation"]["LUT"]["used"] > 50
    bit = (tmp_path / "run" / "loop.bit").read_bytes()
    assert bit.startswith(b"\xff\x00Part: LFE5U-85F-6CABGA381") and len(bit) > 500_000
    assert r["critical_path"]["delay_ns"] > 0


def test_missed_timing_leaves_no_bitstream(tmp_path) -> None:
    files, prims = _loopback_top(tmp_path, 400.0)
    with pytest.raises(pnr.BitstreamError, match=r"misses timing: .* MHz achieved < 400") as e:
        pnr.place_and_route(files, "hwreg_fpga", board_info(Board.ulx3s_85f), 400.0,
                            tmp_path / "run", "loop", primitives=prims)
    assert e.value.result["fits"] and not e.value.result["timing_met"]
    assert "critical path" in str(e.value)
    assert not list((tmp_path / "run").glob("*.bit"))


def test_bitstream_cli_refuses_a_xilinx_board_and_a_missing_build(tiny_build, tmp_path) -> None:
    _, _, out = tiny_build  # a ZCU104 build
    cmd = [sys.executable, "-m", "hwreg.cli", "bitstream", "--build", str(out), "--out",
           str(tmp_path / "o")]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "ECP5 boards only" in res.stderr and res.stderr.strip().count("\n") == 0
    assert not (tmp_path / "o").exists()
    res = subprocess.run([*cmd[:5], str(tmp_path / "nothing"), *cmd[6:]], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 2 and "build_config.yaml: not found" in res.stderr


@pytest.fixture(scope="module")
def ecp5_build(tmp_path_factory):
    """A tiny W4A4 build for the ULX3S-85F at 100 MHz."""
    from hwreg.checkpoint import random_model
    from hwreg.compile.config import BuildConfig, MvauStyle
    from hwreg.compile.steps import build
    from hwreg.export import export_checked

    grid = (8, 8, 8)
    model = random_model("tiny", 4, 4, head_level=0, seed=0, grid=grid)
    out = tmp_path_factory.mktemp("ecp5") / "tiny_ulx3s"
    export_checked(model, grid, out / "export.onnx")
    cfg = BuildConfig(grid_shape=grid, target_fps=1000.0, mvau_style=MvauStyle.rtl,
                      board=Board.ulx3s_85f, clock_ns=10.0)
    build(out / "export.onnx", cfg, out)
    return out


def test_ecp5_build_estimates_in_lut4_and_ebr(ecp5_build) -> None:
    perf = json.loads((ecp5_build / "report" / "estimate_network_performance.json").read_text())
    assert perf["part"] == "LFE5U-85F-6BG381C"
    assert perf["capacity"] == {"LUT": 83_640, "BRAM_18K": 208, "URAM": 0, "DSP": 156}
    assert perf["totals"]["LUT"] > 0 and perf["totals"]["URAM"] == 0
    # hwreg's MVAU RTL takes one MULT18X18D per product (no DSP packing as FINN estimates)
    layers = json.loads((ecp5_build / "report" / "estimate_layer_resources_cycles.json")
                        .read_text())
    folding = json.loads((ecp5_build / "folding_config.json").read_text())
    products = {n: f["PE"] * f["SIMD"] for n, f in folding.items() if n.startswith("MVAU")}
    assert products and all(layers[n]["DSP"] == p for n, p in products.items())
    assert perf["totals"]["DSP"] == sum(products.values())


@pytest.mark.pnr
def test_tiny_build_to_bitstream(ecp5_build, tmp_path) -> None:
    """The tiny network (hwreg's MVAU/Thresholding RTL, the build's FIFOs, the UART link, the
    PLL) through Yosys, nextpnr-ecp5 and ecppack: a bitstream at the build's 100 MHz or a
    BitstreamError naming the clock and its critical path, and never a .bit with it."""
    from hwreg.synth.bitstream import bitstream_build
    from hwreg.synth.pnr import BitstreamError

    try:
        r = bitstream_build(ecp5_build, tmp_path / "bit")
    except BitstreamError as e:
        assert "misses timing" in str(e) and "critical path" in str(e), e
        assert not list((tmp_path / "bit").glob("*.bit"))
        r = json.loads((tmp_path / "bit" / "bitstream.json").read_text())
        assert r["fits"] and not r["timing_met"] and r["fmax_MHz"] < 100.0
        return
    assert r["fits"] and r["timing_met"] and r["rtl_backend"] == "hwreg"
    assert (tmp_path / "bit" / "tiny_ulx3s.bit").stat().st_size > 500_000
    saved = json.loads((tmp_path / "bit" / "bitstream.json").read_text())
    assert saved["fmax_MHz"] == r["fmax_MHz"] >= 100.0
    assert saved["utilisation"]["LUT"]["used"] > 0 and saved["estimate"]["LUT"] > 0


@pytest.mark.pnr
def test_whole_top_synthesis_next_to_the_estimates(ecp5_build, tmp_path) -> None:
    from hwreg.synth.top import synth_top

    r = synth_top(ecp5_build, tmp_path / "top")  # hwreg's RTL: the default on ECP5
    assert r["rtl_backend"] == "hwreg"
    depths = json.loads((ecp5_build / "fifo_depths.json").read_text())["fifos"]
    assert r["synth"] == "synth_ecp5" and r["fifos"] == len(depths)
    assert r["yosys"]["LUT"] > 0 and r["yosys"]["FF"] > 0
    assert r["hwreg_estimate"]["LUT"] > r["finn_estimate"]["LUT"]  # + FIFOs, converters
    md = (tmp_path / "top" / "synth_top.md").read_text()
    assert "FINN estimate (layers only)" in md and f"{r['fifos']} FIFOs" in md


def test_stitched_fifos_ask_for_the_estimated_memory(ecp5_build, tmp_path) -> None:
    """Each FIFO of the board top asks synthesis for the memory its estimate chose
    (``report/estimate_fifos.json``): LUT RAM for shift-register/LUTRAM styles, block RAM for
    block."""
    import re

    from hwreg.compile.fifos import FIFO_STYLE, read_fifo_styles
    from hwreg.synth.top import load_build, stitched_top

    cfg, model = load_build(ecp5_build)
    files, _, _ = stitched_top(model, ecp5_build, tmp_path, "xc7z020clg400-1", cfg.clock_ns,
                               "hwreg")
    text = next(f for f in files if f.name == "hwreg_accel.sv").read_text()
    got = {name: int(style)
           for style, name in re.findall(r"\.STYLE\((\d)\)\) (fifo_\w+) ", text)}
    est = json.loads((ecp5_build / "report" / "estimate_fifos.json").read_text())
    assert got == read_fifo_styles(ecp5_build) and set(got) == set(est)
    assert got == {n: FIFO_STYLE.get(r["style"], 0) for n, r in est.items()}
    assert 1 in got.values()  # the tiny build's small FIFOs: LUT RAM
