"""Benchmark of the FINN 3D compile path (numbers for the README).

- estimated throughput (pairs/s at 200 MHz), resources and fit of the demo W4A4 model
  (preset demo, head_level 1, 48x64x48 grid) on ZCU104, folded for ``--target-fps``;
- pipeline balance: ideal cycles (mean over the MVAUs, and over all layers) / bottleneck cycles;
- emulation time per pair: L3 (FINN HW graph in Python), L2 (QONNX), L1 (Brevitas) vs the float
  torch model (L0) on the same grid; the exactness of L1 = L2 = L3 on the same pairs.

Usage: ``python benchmarks/bench_compile.py [--out benchmarks/results/compile.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hwreg.checkpoint import random_model
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.compile.steps import build
from hwreg.config import replace_field
from hwreg.emulate import Levels, random_pairs
from hwreg.export import brevitas_codes, export_checked
from hwreg.model import ModelConfig, build_model

GRID = (48, 64, 48)


def _time_per_call(fn, xs: list[np.ndarray]) -> float:
    fn(xs[0])  # warm-up
    t0 = time.perf_counter()
    for x in xs:
        fn(x)
    return (time.perf_counter() - t0) / len(xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compile.json"))
    parser.add_argument("--target-fps", type=float, default=100.0)
    parser.add_argument("--pairs", type=int, default=3, help="timed pairs per level")
    args = parser.parse_args()
    torch.set_num_threads(2)

    model = random_model("demo", 4, 4, head_level=1, grid=GRID)
    cfg = BuildConfig(grid_shape=GRID, target_fps=args.target_fps)
    with tempfile.TemporaryDirectory(prefix="hwreg_bench_") as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        export_checked(model, GRID, out / "export.onnx", n_check=1)
        t_export = time.perf_counter() - t0
        styles = {}
        for style in (MvauStyle.hls, MvauStyle.rtl):  # rtl (the default) last: emulated below
            t0 = time.perf_counter()
            build(out / "export.onnx", replace_field(cfg, mvau_style=style), out)
            t_build = time.perf_counter() - t0
            p = json.loads((out / "report" / "estimate_network_performance.json").read_text())
            styles[style.value] = {k: p[k] for k in (
                "estimated_pairs_per_s", "fits", "totals", "utilisation", "bottleneck_layer",
                "pipeline_balance_mvau", "pipeline_balance_all_layers")}
            styles[style.value]["build_s"] = t_build
        perf = p
        levels = Levels(out)
        xs = [p.x for p in random_pairs(GRID, args.pairs, seed=7)]
        exact = all(np.array_equal(brevitas_codes(model, x), levels.l3(x)[0])
                    and np.array_equal(brevitas_codes(model, x), levels.l2(x)[0]) for x in xs)
        t_l3 = _time_per_call(levels.l3, xs)
        t_l2 = _time_per_call(levels.l2, xs)
    t_l1 = _time_per_call(lambda x: brevitas_codes(model, x), xs)
    float_model = build_model(ModelConfig(preset="demo", head_level=1)).eval()  # type: ignore[arg-type]

    def float_core(x: np.ndarray) -> None:
        with torch.no_grad():
            float_model.core(torch.from_numpy(x))

    t_l0 = _time_per_call(float_core, xs)
    result = {
        "model": "demo W4A4, head_level 1 (random weights, calibrated activations)",
        "grid": list(GRID),
        "board": cfg.board.value,
        "clock_MHz": cfg.clock_hz / 1e6,
        "mvau_style": "rtl (MVAU_rtl + Thresholding_rtl); 'per_mvau_style' has both",
        "target_fps": args.target_fps,
        "estimated_pairs_per_s": perf["estimated_pairs_per_s"],
        "fits": perf["fits"],
        "resources": perf["totals"],
        "capacity": perf["capacity"],
        "utilisation": perf["utilisation"],
        "bottleneck_layer": perf["bottleneck_layer"],
        "pipeline_balance_mvau": perf["pipeline_balance_mvau"],
        "pipeline_balance_all_layers": perf["pipeline_balance_all_layers"],
        "per_mvau_style": styles,
        "export_s": t_export,
        "emulation_exact_L1_L2_L3": exact,
        "time_s_per_pair": {"L0_float_torch": t_l0, "L1_brevitas": t_l1, "L2_qonnx": t_l2,
                            "L3_finn_hw_python": t_l3},
        "L3_over_float_torch": t_l3 / t_l0,
        "machine": f"{platform.machine()}, torch threads {torch.get_num_threads()}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("estimated_pairs_per_s", "fits",
                                             "pipeline_balance_mvau", "L3_over_float_torch",
                                             "emulation_exact_L1_L2_L3")}, indent=2))


if __name__ == "__main__":
    main()
