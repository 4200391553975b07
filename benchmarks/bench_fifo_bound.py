"""Benchmark: the analytic FIFO bound against the simulated depths on a real build.

    .venv/bin/python benchmarks/bench_fifo_bound.py --model demo-w4a4 --board ZCU104 \
        --build runs/fifo-bound/build --out benchmarks/results/fifo_bound.json

Builds ``--model`` for ``--board`` (``hwreg build``, analytic depths) unless ``--build`` holds
one, then sizes its FIFOs by simulation (:func:`hwreg.rtl.stitch.size_fifos`: the stitched
accelerator under Verilator, input at the bottleneck rate, probe FIFOs at least as deep as the
analytic bound) and writes, per FIFO, the analytic bound, the simulated depth and highest fill,
the FIFOs where the bound is below the simulated depth (``below``, should be empty), those that
reached their probe depth (``saturated``), the bits of both sizings, and the time taken; then
L5 with the build's (analytic) depths on one random pair (``l5_analytic``: exact, cycles of one
volume, interval between two volumes back to back vs FINN's slowest layer).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo-w4a4")
    parser.add_argument("--board", default="ZCU104")
    parser.add_argument("--build", type=Path, default=Path("runs/fifo-bound/build"))
    parser.add_argument("--cache", type=Path, default=None, help="Verilator cache folder")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fifo_bound.json")
    args = parser.parse_args()
    if not (args.build / "fifo_depths.json").is_file():
        subprocess.run([sys.executable, "-m", "hwreg.cli", "build", "--model", args.model,
                        "--board", args.board, "--out", str(args.build)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    from qonnx.core.modelwrapper import ModelWrapper

    from hwreg.compile.boards import board_info
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.fifos import read_fifo_table
    from hwreg.compile.steps import finn_settings, hw_graph_path
    from hwreg.config import load_yaml
    from hwreg.emulate import Levels, random_pairs
    from hwreg.rtl import harness
    from hwreg.rtl.stitch import simulate_accelerator, size_fifos

    finn_settings()
    cfg = load_yaml(BuildConfig, args.build / "build_config.yaml")
    table = read_fifo_table(args.build, required=True)
    assert table is not None
    model = ModelWrapper(str(hw_graph_path(args.build)))
    t0 = time.perf_counter()
    probe = size_fifos(model, args.build / "bench_fifo_bound", board_info(cfg.board).part,
                       cfg.clock_ns, args.cache or harness.DEFAULT_CACHE)
    secs = time.perf_counter() - t0
    rows = {name: {"analytic": f["analytic_depth"], "simulated": probe["depths"][name],
                   "fill": probe["fills"][name], "probe_depth": probe["probe_depths"][name],
                   "width_bits": f["width_bits"]} for name, f in table["fifos"].items()}
    result = {
        "model": args.model, "board": args.board, "grid": list(cfg.grid_shape),
        "below": sorted(n for n, r in rows.items() if r["analytic"] < r["simulated"]),
        "saturated": probe["saturated"],
        "analytic_bits": sum(r["analytic"] * r["width_bits"] for r in rows.values()),
        "simulated_bits": sum(r["simulated"] * r["width_bits"] for r in rows.values()),
        "in_period": probe["in_period"], "probe_cycles_two_volumes": probe["cycles"],
        "size_s": round(secs), "machine": "2 cores shared with other jobs, nice 10",
        "fifos": rows}
    x = next(iter(random_pairs(tuple(cfg.grid_shape), 1, seed=4))).x
    _, ctx3 = Levels(args.build).l3(x)
    l5 = simulate_accelerator(model, ctx3, args.build / "bench_fifo_bound_l5",
                              board_info(cfg.board).part, cfg.clock_ns,
                              args.cache or harness.DEFAULT_CACHE,
                              depths={n: f["depth"] for n, f in table["fifos"].items()})
    result["l5_analytic"] = {k: l5[k] for k in ("exact", "cycles_one_volume", "interval_cycles",
                                                "finn_max_layer_cycles", "fifo_bits")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "fifos"}))


if __name__ == "__main__":
    main()
