"""Benchmark: accuracy vs accelerator passes per pair (cascade x flip averaging) and the Pareto
rows of Dice vs pairs/s vs resources.

    .venv/bin/python benchmarks/bench_passes.py --model demo-w4a4 --pairs-dir PAIRS \\
        --settings 0x1 1x1 3x1 1x2 3x2 3x3 --builds runs/zcu104-100 runs/zcu104-400 \\
        --out benchmarks/results/passes.json

Each setting ``FxK`` is ``model.flips = F`` (the pair also registered mirrored along every subset
of the first F axes, the DDFs mirrored back and averaged on the host: 2**F passes) and
``model.cascade = K`` (K passes, the host warping the moving image between them): K * 2**F
accelerator passes per pair, the same accelerator. Per setting: mean Dice and folding on the 20
held-out default pairs and the parcel Dice of the real-brain pairs on the model grid (as
``bench_levers.py``). Per build (``hwreg build --model M --board B --target-fps P --to-step
step_estimates``, different foldings of the same network): the accelerator's passes/s, LUT,
BRAM_18K, DSP and whether it fits; each row of the Pareto table is a setting on a build, with
pairs/s = passes/s / passes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_levers import load_bench, real_brain_dice

from hwreg.evaluate import evaluate_pairs


def parse_setting(text: str) -> tuple[int, int]:
    """``"3x2"`` -> (flips 3, cascade 2)."""
    flips, _, cascade = text.partition("x")
    return int(flips), int(cascade or 1)


def build_row(build: Path) -> dict:
    """The estimates of one build folder: passes/s, resources, fit."""
    perf = json.loads((build / "report" / "estimate_network_performance.json").read_text())
    return {"build": str(build), "board": perf["part"], "target_fps": perf.get("target_fps"),
            "passes_per_s": perf.get("estimated_passes_per_s", perf["estimated_pairs_per_s"]),
            "fits": perf["fits"],
            **{k: perf["totals"][k] for k in ("LUT", "BRAM_18K", "URAM", "DSP")}}


def dominates(a: dict, b: dict) -> bool:
    """Row ``a`` fits and is at least as fast, as accurate (real brain) and as small (LUT, BRAM,
    DSP) as ``b``, and differs from it somewhere."""
    keys = ("pairs_per_s", "real_brain_model_grid")
    small = ("LUT", "BRAM_18K", "DSP")
    return (a["fits"] and all(a[k] >= b[k] for k in keys) and all(a[k] <= b[k] for k in small)
            and any(a[k] != b[k] for k in keys + small))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo-w4a4")
    parser.add_argument("--settings", nargs="+", default=["0x1", "1x1", "3x1", "1x2", "3x2"])
    parser.add_argument("--data", type=Path, default=Path("data/default"))
    parser.add_argument("--pairs-dir", type=Path, default=Path("runs/realbrain-pairs"))
    parser.add_argument("--builds", type=Path, nargs="*", default=[])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model, cfg, ckpt, subjects, brains = load_bench(args.model, args.data, args.pairs_dir)
    settings = []
    for text in args.settings:
        model.cfg.flips, model.cfg.cascade = parse_setting(text)
        t0 = time.perf_counter()
        default = evaluate_pairs(model, subjects, cfg.data.resolved_label_ids())
        before, after = real_brain_dice(model, brains)
        settings.append({
            "setting": text, "flips": model.cfg.flips, "cascade": model.cfg.cascade,
            "passes": model.passes, "default_dice": default["registered"]["dice_mean"],
            "default_before": default["identity"]["dice_mean"],
            "folding_percent": default["registered"]["folding_percent"],
            "real_brain_model_grid": float(np.mean(after)),
            "real_brain_before": float(np.mean(before)),
            "seconds": time.perf_counter() - t0})
        print(json.dumps(settings[-1]), flush=True)
    builds = [build_row(b) for b in args.builds]
    pareto = [{"setting": s["setting"], "passes": s["passes"], "build": b["build"],
               "pairs_per_s": b["passes_per_s"] / s["passes"],
               "default_dice": s["default_dice"],
               "real_brain_model_grid": s["real_brain_model_grid"],
               **{k: b[k] for k in ("LUT", "BRAM_18K", "DSP", "fits")}}
              for s in settings for b in builds]
    for row in pareto:  # on the front: no fitting row as fast, as accurate and as small
        row["front"] = row["fits"] and not any(dominates(o, row) for o in pareto)
    result = {"model": args.model, "step": ckpt.get("step"), "settings": settings,
              "builds": builds, "pareto": pareto,
              "machine": "2 CPU cores, one torch thread; shared with other jobs"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
