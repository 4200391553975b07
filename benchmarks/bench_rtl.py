"""Benchmark of the Vivado-free RTL emulation (L4 per layer, L5 stitched accelerator).

Tiny W4A4 networks (head_level 0 and 1) on a ``--grid`` volume, ZCU104, folded for
``--target-fps``: L4 layers exact, L5 exact, cycles of one volume and the interval between two
back-to-back volumes vs FINN's estimates (critical path, slowest layer), simulation speed in
cycles/s, time of L4 + L5 (builds from the default cache, ~/.cache/hwreg/verilator).

Usage: ``python benchmarks/bench_rtl.py [--grid 8 8 8] [--out benchmarks/results/rtl.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from hwreg.compile.commands import random_model
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.compile.steps import build
from hwreg.emulate import Levels, random_pairs, rtl_levels
from hwreg.export import export_checked


def bench(head: int, grid: tuple[int, int, int], fps: float, work: Path) -> dict:
    model = random_model("tiny", 4, 4, head_level=head, seed=head, grid=grid)
    out = work / f"build_h{head}"
    export_checked(model, grid, out / "export.onnx")
    build(out / "export.onnx", BuildConfig(grid_shape=grid, target_fps=fps,
                                           mvau_style=MvauStyle.rtl), out)
    levels = Levels(out)
    _, ctx = levels.l3(next(iter(random_pairs(grid, 1, seed=1))).x)
    t0 = time.perf_counter()
    res = rtl_levels(out, levels, ctx, work / f"rtl_h{head}")  # default build cache
    l4, l5 = res["L4"], res["L5"]
    return {
        "head_level": head, "grid": list(grid),
        "L4_layers_exact": f"{l4['layers_exact']}/{l4['layers']}",
        "L4_max_cycles_over_finn": max(r["cycles"] / r["exp_cycles"] for r in l4["per_layer"]),
        "L5_exact": l5["exact"], "L5_cycles_one_volume": l5["cycles_one_volume"],
        "finn_critical_path_cycles": l5["finn_critical_path_cycles"],
        "L5_interval_cycles": l5["interval_cycles"],
        "finn_max_layer_cycles": l5["finn_max_layer_cycles"],
        "interval_vs_finn": l5["interval_cycles"] / l5["finn_max_layer_cycles"],
        "sim_cycles_per_s": l5["sim_cycles_per_s"], "L5_build_s": l5["build_s"],
        "rtl_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", type=int, nargs=3, default=[8, 8, 8])
    ap.add_argument("--target-fps", type=float, default=1000.0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/rtl.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(h, tuple(args.grid), args.target_fps, Path(tmp)) for h in (0, 1)]
    result = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
