"""Benchmark: the largest demo-family network that fits the ULX3S-85F (LFE5U-85F), by hwreg's
estimates (no place-and-route).

Builds the shipped demo-w4a4 (``hwreg build --model demo-w4a4 --board ULX3S-85F --grid D H W
--target-fps F --to-step step_estimates`` at ``--mhz``) on ever smaller grids and, per grid,
ever lower pairs/s (the folding: fewer PEs/SIMD, fewer multipliers), and stops at the first
build whose estimate fits (FIFOs and width converters counted, ECP5 units: LUT4, EBR,
MULT18X18D). Each row: the estimate's totals, layers and FIFOs apart, what is over capacity,
pairs/s. Minutes per build on 2 loaded cores.

Usage (part of ``make bench``): ``python benchmarks/bench_ecp5_fit.py [--mhz 100] [--out
benchmarks/results/ecp5_fit.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hwreg.compile.boards import Board
from hwreg.compile.config import BuildConfig
from hwreg.studies.boards import build_board

BOARD = Board.ulx3s_85f
MODEL = "demo-w4a4"
#: Grids tried, largest first (the model's own 48x64x48 first; each side a multiple of 4, the
#: demo's 3 levels).
GRIDS = ((48, 64, 48), (48, 48, 48), (40, 48, 40), (32, 48, 32), (32, 32, 32))
#: Pairs/s each grid is folded for, highest first.
FPS = (100.0, 50.0, 25.0)
KEYS = ("estimated_pairs_per_s", "fits", "totals", "totals_layers", "totals_fifos",
        "fifo_bits", "capacity", "over_capacity", "fifos_moved_to_fit", "bottleneck_layer")


def main() -> None:
    """Build until one fits; write every build's estimate and the one that fits."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mhz", type=float, default=100.0, help="build clock (MHz)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/ecp5_fit.json"))
    args = ap.parse_args()
    tried = [(g, f) for g in GRIDS for f in FPS]
    rows: list[dict[str, Any]] = []
    largest = None
    with tempfile.TemporaryDirectory(prefix="hwreg_ecp5_fit_") as tmp:
        for i, (grid, fps) in enumerate(tqdm(tried, desc="builds")):
            cfg = BuildConfig(board=BOARD, clock_ns=1000.0 / args.mhz, target_fps=fps)
            perf = build_board(MODEL, cfg, Path(tmp) / str(i), grid, to_step="step_estimates")
            rows.append({"grid": list(grid), "target_fps": fps, **{k: perf[k] for k in KEYS}})
            tqdm.write(f"{grid} {fps:g}/s: {perf['totals']} fits {perf['fits']}")
            if perf["fits"]:
                largest = rows[-1]
                break
    result = {"machine": platform.machine(), "model": MODEL, "board": BOARD.value,
              "clock_MHz": args.mhz,
              "command": f"hwreg build --model {MODEL} --board {BOARD.value} --grid D H W "
                         "--target-fps F --to-step step_estimates",
              "builds": rows, "largest_fitting": largest}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
