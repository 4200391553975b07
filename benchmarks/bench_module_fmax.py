"""Fmax of single hwreg RTL modules on the ECP5 (LFE5U-85F-6BG381C), placed and routed alone
with the open flow (Yosys ``synth_ecp5`` -> nextpnr-ecp5 at ``--mhz``, no bitstream): a cheap
before/after measure of one module's timing, where the whole tiny network takes half an hour.

Each case is one instance (or a chain: FIFO -> width converter -> window generator, as in the
network) with the parameters of a module of the tiny network's hwreg build
(``random_model('tiny', 4, 4, head_level=0, seed=0, grid=(8, 8, 8))`` built for the ULX3S-85F:
its generated HDL instantiates them so), inside a wrapper that registers every port: the inputs
(data, ``in_valid``, ``out_ready``) come from a shift register fed by one pin, the outputs
(data XOR-reduced, ``out_valid``, ``in_ready``) go to one register and one pin. So every path
measured starts and ends at a flip-flop or memory (the module's own paths, and its ``in_ready``
/ ``out_valid`` into a register; not the paths that continue through the neighbours in the
network).

``--rev REV`` takes the RTL from a git revision (``--rev main``: before a change) instead of
the working tree; nextpnr runs with each of ``--seeds`` (default 1 2 3: placement moves Fmax
by several per cent) and the median run is reported; ``--as KEY`` stores the results under
KEY per case (``before``, ``after``) in ``--out`` (merged into what is there); ``--keep DIR``
keeps the tools' files (nextpnr's report with the critical paths:
``DIR/<case>_s<seed>/run/nextpnr-report.json``).

Usage: ``nice -n 10 python benchmarks/bench_module_fmax.py [--rev main] --as before|after
[--only CASE ...] [--seeds 1 2 3] [--mhz 100] [--keep DIR]
[--out benchmarks/results/module_fmax.json]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hwreg.compile.boards import Board, board_info
from hwreg.synth.pnr import BitstreamError, place_and_route

ROOT = Path(__file__).resolve().parents[1]

#: case -> (input data bits, stages: (module, parameters, output data bits) each), the stages
#: chained output to input. The tiny build's window generators (ConvolutionInputGenerator3D_
#: hwreg_3 was on the network's critical path, behind a FIFO and a width converter: the
#: ``chain`` case), its upsample and representative converters/FIFOs.
Stage = tuple[str, dict[str, int | str], int]
SWG_S1 = dict(BITS=4, C=8, SIMD_IN=8, M=1, D=8, H=8, W=8, K=3, S=1, P=1, ADDR_BITS=8)
CASES: dict[str, tuple[int, list[Stage]]] = {
    "swg3d_s1_c8_simd8": (32, [("hwreg_swg3d", SWG_S1, 32)]),
    "swg3d_s2_c4_simd1": (4, [("hwreg_swg3d", dict(BITS=4, C=4, SIMD_IN=1, M=1, D=8, H=8, W=8,
                                                   K=3, S=2, P=1, ADDR_BITS=8), 4)]),
    "swg3d_4x4x4_c8_simd2": (8, [("hwreg_swg3d", dict(BITS=4, C=8, SIMD_IN=2, M=1, D=4, H=4,
                                                      W=4, K=3, S=1, P=1, ADDR_BITS=6), 8)]),
    "chain_fifo_dwc_swg3d": (4, [("hwreg_fifo", dict(WIDTH=4, ADDR_BITS=5), 4),
                                 ("hwreg_dwc", dict(BITS=4, IN_E=1, OUT_E=8), 32),
                                 ("hwreg_swg3d", SWG_S1, 32)]),
    "upsample3d_c8_pe1": (4, [("hwreg_upsample3d", dict(BITS=4, C=8, PE=1, D=4, H=4, W=4,
                                                        ADDR_BITS=5), 4)]),
    "dwc_1_to_8": (4, [("hwreg_dwc", dict(BITS=4, IN_E=1, OUT_E=8), 32)]),
    "dwc_8_to_2": (32, [("hwreg_dwc", dict(BITS=4, IN_E=8, OUT_E=2), 8)]),
    "fifo_32x256": (32, [("hwreg_fifo", dict(WIDTH=32, ADDR_BITS=8), 32)]),
    # the tiny build's hwreg thresholding: 4-bit activations, and the 8-bit output head
    "thresholding_n15_i13": (13, [("hwreg_thresholding", dict(
        C=8, PE=1, N=15, I_BITS=13, I_SIGNED=1, O_BITS=4, BIAS=0, INIT_FILE="thr.dat"), 4)]),
    "thresholding_n255_i15": (15, [("hwreg_thresholding", dict(
        C=3, PE=1, N=255, I_BITS=15, I_SIGNED=1, O_BITS=8, BIAS=-128, INIT_FILE="thr.dat"), 8)]),
}
#: modules a module instantiates
DEPENDS = {"hwreg_thresholding": ["hwreg_rom"]}


def thresholds_file(path: Path, params: dict[str, int | str]) -> None:
    """Ascending thresholds for ``hwreg_thresholding`` (``$readmemh`` words, one a channel)."""
    n, t_bits, pe = int(params["N"]), int(params["I_BITS"]) + 1, int(params["PE"])
    lo, step = -(1 << (t_bits - 2)), max(1, (1 << (t_bits - 1)) // (n + 1))
    words = []
    for cf in range(int(params["C"]) // pe):
        w = 0
        for i in range(pe * n):
            w |= ((lo + (i % n) * step + cf) % (1 << t_bits)) << (i * t_bits)
        words.append(f"{w:x}")
    path.write_text("\n".join(words) + "\n")


def wrapper(in_bits: int, stages: list[Stage]) -> str:
    """A top ``fmax_top(clk, din, dout)`` around the chained ``stages``, its ports registered."""
    insts = []
    for i, (module, params, out_bits) in enumerate(stages):
        ps = ", ".join(f'.{k}("{v}")' if isinstance(v, str) else f".{k}({v})"
                       for k, v in params.items())
        insts.append(f"""    logic [{out_bits - 1}:0] d{i + 1};
    logic v{i + 1}, r{i + 1};
    {module} #({ps}) s{i} (
        .clk(clk), .rst_n(rst_n), .in_data(d{i}), .in_valid(v{i}), .in_ready(r{i}),
        .out_data(d{i + 1}), .out_valid(v{i + 1}), .out_ready(r{i + 1}));""")
    n = len(stages)
    return f"""module fmax_top (input logic clk, input logic din, output logic dout);
    logic [3:0] rcnt = '0;
    logic rst_n = 0;
    logic [{in_bits + 1}:0] sr;
    logic [{in_bits - 1}:0] d0;
    logic v0, r0, o;
    assign d0 = sr[{in_bits - 1}:0];
    assign v0 = sr[{in_bits}];
{chr(10).join(insts)}
    assign r{n} = sr[{in_bits + 1}];
    always_ff @(posedge clk) begin
        if (rcnt != 4'hf) rcnt <= rcnt + 1;
        rst_n <= rcnt == 4'hf;
        sr <= {{sr[{in_bits}:0], din}};
        o <= ^d{n} ^ v{n} ^ r0;
    end
    assign dout = o;
endmodule
"""


def rtl_source(module: str, dest: Path, rev: str | None) -> Path:
    """``hw/hdl/<module>.sv`` from the working tree, or from git revision ``rev``."""
    path = dest / f"{module}.sv"
    if rev is None:
        path.write_text((ROOT / "hw" / "hdl" / f"{module}.sv").read_text())
    else:
        path.write_text(subprocess.run(["git", "show", f"{rev}:hw/hdl/{module}.sv"], cwd=ROOT,
                                       capture_output=True, text=True, check=True).stdout)
    return path


def _head(rev: str = "HEAD") -> str:
    """The commit (short hash) of git revision ``rev`` of the repository."""
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout.strip()


def path_cells(report_path: Path) -> list[str]:
    """The cells along the worst path of nextpnr's report (start, each net's sink)."""
    if not report_path.is_file():
        return []
    paths = json.loads(report_path.read_text()).get("critical_paths", [])
    if not paths or not paths[0].get("path"):
        return []
    steps = paths[0]["path"]
    cells = [steps[0]["from"]["cell"]] + [s["to"]["cell"] for s in steps]
    # Yosys's names of mapped cells grow long (a carry chain's name spells every link)
    return list(dict.fromkeys(c if len(c) <= 72 else c[:60] + "..." + c[-9:] for c in cells))


def run_case(name: str, work: Path, mhz: float, rev: str | None, seed: int = 1
             ) -> dict[str, Any]:
    """Place and route case ``name`` in ``work`` (nextpnr ``seed``): Fmax, LUT4/FF/EBR,
    critical path."""
    in_bits, stages = CASES[name]
    work.mkdir(parents=True)
    mods = [d for m, _, _ in stages for d in (m, *DEPENDS.get(m, []))]
    srcs = [rtl_source(m, work, rev) for m in dict.fromkeys(mods)]
    for _, params, _ in stages:
        if "INIT_FILE" in params:
            (work / "run").mkdir(exist_ok=True)
            thresholds_file(work / "run" / str(params["INIT_FILE"]), params)
    top = work / "fmax_top.sv"
    top.write_text(wrapper(in_bits, stages))
    info = board_info(Board.ulx3s_85f)
    p = info.ecp5
    assert p is not None
    lpf = (f'LOCATE COMP "clk" SITE "{p.clk_pin}";\nIOBUF PORT "clk" IO_TYPE=LVCMOS33;\n'
           f'LOCATE COMP "din" SITE "{p.uart_tx_pin}";\nIOBUF PORT "din" IO_TYPE=LVCMOS33;\n'
           f'LOCATE COMP "dout" SITE "{p.uart_rx_pin}";\nIOBUF PORT "dout" IO_TYPE=LVCMOS33;\n'
           f'FREQUENCY PORT "clk" {mhz:g} MHZ;\n')
    try:
        r = place_and_route([*srcs, top], "fmax_top", info, mhz, work / "run", name, seed=seed,
                            constraints=lpf, pack=False)
    except BitstreamError as e:
        r = e.result
    util = r.get("utilisation", {})
    cp = r.get("critical_path") or {}
    return {"modules": [{"module": m, "params": ps} for m, ps, _ in stages],
            "rtl": f"{rev} at {_head(rev)}" if rev else f"working tree at {_head()}",
            "target_MHz": mhz, "seed": seed, "fmax_MHz": r.get("fmax_MHz"),
            "LUT4": util.get("LUT", {}).get("used"), "FF": util.get("FF", {}).get("used"),
            "EBR": util.get("BRAM_18K", {}).get("used"),
            "critical_path": {**{k: cp[k] for k in ("delay_ns", "logic_ns", "routing_ns")
                                 if k in cp},
                              "cells": path_cells(work / "run" / "nextpnr-report.json")},
            "yosys_s": r.get("yosys_s"), "nextpnr_s": r.get("nextpnr_s")}


def main() -> None:
    """Run the cases, merge the results into ``--out`` under ``--as``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default=None, help="git revision of hw/hdl (default: work tree)")
    ap.add_argument("--as", dest="key", required=True, help="result key, e.g. before/after")
    ap.add_argument("--only", nargs="*", choices=sorted(CASES), default=None)
    ap.add_argument("--mhz", type=float, default=100.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3],
                    help="nextpnr seeds (placement noise: the median Fmax is reported)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/module_fmax.json")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep each case's Yosys/nextpnr files in KEEP/<case> (a new folder)")
    a = ap.parse_args()
    results = json.loads(a.out.read_text()) if a.out.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.only or list(CASES):
            runs = [run_case(name, (a.keep or Path(tmp)) / f"{name}_s{seed}", a.mhz, a.rev,
                             seed) for seed in a.seeds]
            fmax = sorted(x["fmax_MHz"] or 0.0 for x in runs)
            r = {**runs[[x["fmax_MHz"] or 0.0 for x in runs].index(fmax[len(fmax) // 2])],
                 "fmax_MHz_per_seed": {x["seed"]: x["fmax_MHz"] for x in runs}}
            results.setdefault(name, {})[a.key] = r
            print(f"{name} [{a.key}]: {r['fmax_MHz']} MHz (median of {fmax}), {r['LUT4']} LUT4, "
                  f"{r['FF']} FF; "
                  f"critical path {r['critical_path'].get('delay_ns')} ns through "
                  f"{r['critical_path']['cells'][:2]} .. {r['critical_path']['cells'][-1:]}",
                  flush=True)
            a.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
