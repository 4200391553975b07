"""Benchmark of the Vivado-free RTL emulation (L4 per layer, L5 stitched accelerator).

Tiny W4A4 networks (head_level 0 and 1) on a ``--grid`` volume, ZCU104, folded for
``--target-fps``, and (``--demo``) the shipped demo-w4a4 network on its own 48x64x48 grid folded
for 100 pairs/s as ``hwreg build`` does: L4 layers exact, L5 exact, cycles of one volume and the
interval between two back-to-back volumes vs FINN's estimates (critical path, slowest layer),
simulation speed in cycles/s, time of L4 + L5 (builds from the default cache,
~/.cache/hwreg/verilator).

Usage: ``python benchmarks/bench_rtl.py [--grid 8 8 8] [--demo] [--out
benchmarks/results/rtl.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from hwreg.checkpoint import load_model_spec, random_model
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.compile.steps import build
from hwreg.emulate import Levels, random_pairs, rtl_levels
from hwreg.export import export_checked


def bench(name: str, model: Any, head: int, grid: tuple[int, int, int], fps: float,
          work: Path) -> dict:
    out = work / f"build_{name}"
    export_checked(model, grid, out / "export.onnx")
    build(out / "export.onnx", BuildConfig(grid_shape=grid, target_fps=fps,
                                           mvau_style=MvauStyle.rtl), out)
    levels = Levels(out)
    _, ctx = levels.l3(next(iter(random_pairs(grid, 1, seed=1))).x)
    t0 = time.perf_counter()
    res = rtl_levels(out, levels, ctx, work / f"rtl_{name}")  # default build cache
    l4, l5 = res["L4"], res["L5"]
    return {
        "model": name, "head_level": head, "grid": list(grid), "target_fps": fps,
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
    ap.add_argument("--demo", action="store_true",
                    help="also the shipped demo-w4a4 on 48x64x48 (about 5 minutes)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/rtl.json"))
    args = ap.parse_args()
    grid = tuple(args.grid)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(f"tiny-h{h}", random_model("tiny", 4, 4, head_level=h, seed=h, grid=grid),
                      h, grid, args.target_fps, Path(tmp)) for h in (0, 1)]
        if args.demo:
            model, _ = load_model_spec("demo-w4a4")
            rows.append(bench("demo-w4a4", model, model.cfg.head_level, (48, 64, 48), 100.0,
                              Path(tmp)))
    result = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
