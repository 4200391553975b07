"""Benchmark: the shipped demo-w4a4 built for every board, estimates only (no Vivado).

Runs what ``hwreg build --model demo-w4a4 --board B`` runs (the model's 48x64x48 grid, 100
pairs/s, analytic FIFO depths) for each board and writes, per board, the network estimates of
``BUILD/report/estimate_network_performance.json``: totals with every FIFO and width converter,
the layers and the FIFOs apart, FIFO bits, capacity, the fit verdict, what is over capacity,
FIFOs moved to fit, the skip connections' memory and pairs/s. A few minutes on 2 CPU cores.

Usage: ``python benchmarks/bench_boards.py [--model demo-w4a4]
[--out benchmarks/results/boards.json]`` (part of ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from hwreg.compile.boards import Board
from hwreg.compile.config import BuildConfig
from hwreg.studies.boards import build_boards

#: The estimates kept per board (keys of ``estimate_network_performance.json``).
KEYS = ("part", "clock_MHz", "target_fps", "estimated_pairs_per_s", "fits", "totals",
        "totals_layers", "totals_fifos", "fifo_bits", "capacity", "over_capacity",
        "fifos_moved_to_fit", "fifo_sizing", "bottleneck_layer", "skips")


def main() -> None:
    """Build the model for every board in a temporary folder and write the estimates."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo-w4a4")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/boards.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hwreg_boards_") as tmp:
        perf = build_boards(args.model, BuildConfig(), list(Board), Path(tmp) / "boards")
    result = {"machine": platform.machine(), "model": args.model,
              "command": f"hwreg build --model {args.model} --board B (each board)",
              "boards": {b.value: {k: p.get(k) for k in KEYS} for b, p in perf.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for board, p in result["boards"].items():
        print(board, p["totals"], "fits" if p["fits"] else f"over: {p['over_capacity']}")


if __name__ == "__main__":
    main()
