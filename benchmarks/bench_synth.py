"""Benchmark of ``hwreg synth`` (Yosys, no Vivado) on the shipped demo-w4a4 build.

Builds demo-w4a4 for ZCU104 at 100 pairs/s on its 48x64x48 grid (as ``hwreg build`` does),
then synthesises every layer with Yosys: the project's RTL ops and FINN's thresholding as built,
MVAUs with at most ``--max-macs`` weights fully unrolled with constant weights (checked against
x @ W under Verilator first), and the pruning payoff (the largest such MVAU at its deployed
weights and magnitude-pruned to 50 %). Writes the per-layer table and the payoff to ``--out``.

Usage: ``python benchmarks/bench_synth.py [--max-macs 4096] [--jobs 2] [--timeout 3600]
[--out benchmarks/results/synth.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from hwreg.checkpoint import load_model_spec
from hwreg.compile.config import BuildConfig
from hwreg.compile.steps import build
from hwreg.export import export_checked
from hwreg.synth.synth import synth_build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="demo-w4a4")
    ap.add_argument("--max-macs", type=int, default=4096)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per Yosys run")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/synth.json"))
    args = ap.parse_args()
    model, grid = load_model_spec(args.model)
    grid = grid or (48, 64, 48)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export_checked(model, grid, work / "build" / "export.onnx")
        build(work / "build" / "export.onnx", BuildConfig(grid_shape=grid), work / "build")
        res = synth_build(work / "build", work / "synth", max_macs=args.max_macs,
                          jobs=args.jobs, timeout_s=args.timeout, progress=print)
        table = (work / "synth" / "synth.md").read_text()
    for r in res["layers"]:  # the per-cell breakdown stays in hwreg synth's own output
        if "yosys" in r:
            r["yosys"].pop("cells")
    result = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
              "model": args.model, "grid": list(grid), "jobs": args.jobs, **res,
              "markdown": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(table)


if __name__ == "__main__":
    main()
