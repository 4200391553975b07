"""Benchmark of the open ECP5 flow (``hwreg bitstream``: Yosys synth_ecp5 -> nextpnr-ecp5 ->
ecppack) on the ULX3S-85F (LFE5U-85F-6BG381C), no vendor tool.

1. ``link``: the board top with a loopback accelerator (PLL, UART host link, a 16-bit FIFO) at
   ``--mhz``: what the host link alone costs and how fast it runs.
2. ``tiny``: the tiny W4A4 network (``random:tiny:w4a4``, 8x8x8 grid), built for the ULX3S-85F
   at ``--mhz`` (``hwreg build``), folded as for 1000 pairs/s at ``--fold-mhz`` (default
   ``--mhz``; the same cycles per pair at any clock), then ``hwreg bitstream``: Fmax, pairs/s at
   Fmax, LUT/FF/EBR/DSP used vs the build's estimate, Yosys/nextpnr times - or why it did not
   get through. ``--as KEY`` stores it under another key (``tiny_met``: the same network at a
   clock it meets, after ``tiny`` missed its target).
3. ``lut_ratio``: the LUT4s per LUT6 behind the ECP5 estimates (``BoardInfo.from_finn``): every
   layer of the tiny build but the MVAUs (whose multipliers map to DSPs differently on the two
   families), with hwreg's RTL, synthesised with ``synth_xilinx -family xc7`` and
   ``synth_ecp5``.
4. ``too_big`` (``--too-big``): a 72 x 65536 FIFO behind the link, which needs 257 of the 208
   EBRs: the error nextpnr's numbers give.

Usage: ``python benchmarks/bench_bitstream.py [--mhz 100] [--too-big] [--build DIR] [--bitstream
DIR] [--only-tiny] [--fold-mhz F] [--as KEY] [--out benchmarks/results/bitstream.json]``
(``--build``: an existing tiny build for the board, made as step 2 makes it, instead of building
it again; ``--bitstream``: the output folder of a finished ``hwreg bitstream --build <that
build>`` run, whose ``bitstream.json`` is taken instead of running the flow again - nextpnr
alone takes tens of minutes on a loaded 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from hwreg.checkpoint import random_model
from hwreg.compile.boards import Board, board_info
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.compile.steps import build
from hwreg.errors import UserError
from hwreg.export import export_checked
from hwreg.rtl import board
from hwreg.synth.bitstream import bitstream_build
from hwreg.synth.pnr import BitstreamError, place_and_route
from hwreg.synth.yosys import synthesize

BOARD = Board.ulx3s_85f


def _trim(r: dict[str, Any]) -> dict[str, Any]:
    r = dict(r)
    if "yosys" in r:
        r["yosys"] = {k: v for k, v in r["yosys"].items() if k != "cells"}
    return r


def link_design(work: Path, mhz: float, width: int = 16, addr_bits: int = 4) -> dict[str, Any]:
    """Place and route the board top around a loopback FIFO (``width`` x 2**``addr_bits``)."""
    hdl = work / "hdl"
    files = board.write_loopback(hdl, width, addr_bits)
    pll, got = board.write_fpga_top(hdl, board_info(BOARD).ecp5.clk_mhz, mhz)
    files += board.write_board(hdl, width, width, board.clks_per_bit(got * 1e6),
                               accel="hwreg_loopback")
    try:
        r = place_and_route([*dict.fromkeys(files), pll[1]], "hwreg_fpga", board_info(BOARD),
                            mhz, work / "run", "link", primitives=pll[:1])
    except BitstreamError as e:
        return {**_trim(e.result), "error": str(e)}
    return _trim(r)


def tiny_build(work: Path, mhz: float, fold_mhz: float) -> Path:
    """The tiny network built for the board at ``mhz``, folded as for 1000 pairs/s at
    ``fold_mhz`` (FINN folds for cycles per pair: clock / target pairs/s)."""
    grid = (8, 8, 8)
    model = random_model("tiny", 4, 4, head_level=0, seed=0, grid=grid)
    out = work / "tiny_ulx3s"
    export_checked(model, grid, out / "export.onnx")
    build(out / "export.onnx", BuildConfig(grid_shape=grid, target_fps=1000.0 * mhz / fold_mhz,
                                           mvau_style=MvauStyle.rtl, board=BOARD,
                                           clock_ns=1000.0 / mhz), out)
    return out


def lut_ratio(build_dir: Path, work: Path) -> dict[str, Any]:
    """synth_xilinx (xc7, LUT6) vs synth_ecp5 (LUT4) LUTs of each Yosys-clean layer."""
    from qonnx.custom_op.registry import getCustomOp

    from hwreg.compile.estimates import specialised_copy
    from hwreg.rtl.layers import layer_rtl
    from hwreg.synth.top import load_build

    cfg, model = load_build(build_dir)
    part = board_info(BOARD).finn_part
    spec = specialised_copy(model, part)
    rows = []
    for abstract, node in zip(model.graph.node, spec.graph.node, strict=True):
        if abstract.op_type == "MVAU":
            continue
        rtl = layer_rtl(getCustomOp(node), spec, work / abstract.name / "hdl", part,
                        cfg.clock_ns, "hwreg")
        if rtl is None:
            continue
        top, files, runtime = rtl
        row: dict[str, Any] = {"layer": abstract.name, "impl": node.op_type}
        for fam in ("xc7", "ecp5"):
            d = work / abstract.name / fam
            d.mkdir(parents=True)
            for f in runtime:
                shutil.copyfile(f, d / f.name)
            try:
                row[fam] = synthesize(files, top, d, fam, timeout_s=900)["LUT"]
            except RuntimeError as e:
                row[fam] = None
                row["error"] = str(e)[:200]
        rows.append(row)
        print(row, flush=True)
    ok = [r for r in rows if r.get("xc7") and r.get("ecp5")]
    lut6, lut4 = sum(r["xc7"] for r in ok), sum(r["ecp5"] for r in ok)
    return {"layers": rows, "lut6": lut6, "lut4": lut4,
            "lut4_per_lut6": round(lut4 / lut6, 2) if lut6 else None,
            "per_layer": sorted(round(r["ecp5"] / r["xc7"], 2) for r in ok),
            "assumed": board_info(BOARD).lut_per_finn_lut}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mhz", type=float, default=100.0, help="target clock (MHz)")
    ap.add_argument("--too-big", action="store_true", help="also the design that cannot fit")
    ap.add_argument("--build", type=Path, help="an existing tiny build for the board")
    ap.add_argument("--bitstream", type=Path,
                    help="a finished `hwreg bitstream` run of that build (its bitstream.json)")
    ap.add_argument("--only-tiny", action="store_true",
                    help="keep the other parts of an existing --out; redo only the tiny step")
    ap.add_argument("--fold-mhz", type=float,
                    help="fold the tiny network as for 1000 pairs/s at this clock (default --mhz)")
    ap.add_argument("--as", dest="key", default="tiny",
                    help="results key of the tiny step (default tiny; e.g. tiny_met)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bitstream.json"))
    args = ap.parse_args()
    result: dict[str, Any] = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
                              "board": BOARD.value, "part": board_info(BOARD).part,
                              "target_MHz": args.mhz}
    if args.key != "tiny" and not args.only_tiny:
        ap.error("--as: only with --only-tiny (the other steps belong to the tiny key)")
    if args.only_tiny:
        old = json.loads(args.out.read_text())
        result = {**old, **result} if args.key == "tiny" else old
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every step: a long run leaves what it measured
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.only_tiny:
            result["link"] = link_design(work / "link", args.mhz)
            save()
            print("link:", result["link"], flush=True)
        t0 = time.perf_counter()
        b = args.build or tiny_build(work, args.mhz, args.fold_mhz or args.mhz)
        if args.key == "tiny":
            result["tiny_build_s"] = None if args.build else round(time.perf_counter() - t0, 1)
        if not args.only_tiny:
            result["lut_ratio"] = lut_ratio(b, work / "ratio")
            save()
        if args.too_big and not args.only_tiny:
            result["too_big"] = link_design(work / "big", args.mhz, 72, 16)
            save()
        perf = json.loads((b / "report" / "estimate_network_performance.json").read_text())
        result[f"{args.key}_estimate"] = {k: perf[k] for k in (
            "totals", "totals_layers", "totals_fifos", "bottleneck_cycles",
            "estimated_pairs_per_s")}
        try:
            t0 = time.perf_counter()
            if args.bitstream:
                while not (args.bitstream / "bitstream.json").is_file():
                    time.sleep(30)  # a run still in progress
                result[args.key] = _trim(json.loads((args.bitstream / "bitstream.json")
                                                    .read_text()))
                result[args.key]["from"] = f"hwreg bitstream --out {args.bitstream}"
            else:
                result[args.key] = _trim(bitstream_build(b, work / "tiny_bit"))
                result[args.key]["flow_s"] = round(time.perf_counter() - t0, 1)
        except (BitstreamError, UserError) as e:
            result[args.key] = {"error": str(e)}
            if isinstance(e, BitstreamError):
                result[args.key].update(_trim(e.result))
        print(f"{args.key}:", result[args.key], flush=True)
    save()
    print(json.dumps({k: v for k, v in result.items() if k != "lut_ratio"}, indent=1)[:3000])


if __name__ == "__main__":
    main()
