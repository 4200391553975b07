"""Benchmark: the Dice cost and memory saving of each skip-memory option of the model config.

    .venv/bin/python benchmarks/bench_skip_ablation.py --steps 50 --runs runs/skip-ablation \
        --out benchmarks/results/skip_ablation.json

Each option (and a control with no change) is a short fine-tune of the shipped ``demo-w4a4``
(``train.init_from``) with the recipe of ``configs/demo_w4a4.yaml`` and the option applied,
evaluated on the held-out pairs (``hwreg evaluate``, ``--pairs``) and built for ``--board``
(``hwreg build`` up to its estimates, analytic FIFO depths) for the skip memory it keeps:
bits per pair buffered and BRAM_18K of the skip FIFOs, and the build's totals. Every step is
resumable: a finished run is not retrained, an evaluation or build that exists is reused
(``--only`` picks options, so several processes can train side by side, then one writes the
results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

#: option name -> model config changes (the demo net has one decoder level with a skip: 1).
OPTIONS: dict[str, dict[str, Any]] = {
    "control": {},
    "skip_levels=[]": {"skip_levels": []},
    "skip_bits=3": {"skip_bits": 3},
    "skip_bits=2": {"skip_bits": 2},
}
ROOT = Path(__file__).resolve().parents[1]
#: The build's estimate (totals, fit verdict, skip memory), in the build folder.
REPORT = Path("report/estimate_network_performance.json")


def slug(name: str) -> str:
    """A folder name for option ``name``."""
    return name.replace("=[]", "-none").replace("=", "-")


def hwreg(*args: str) -> None:
    """Run the ``hwreg`` CLI of this interpreter (same checkout), failing loudly."""
    subprocess.run([sys.executable, "-m", "hwreg.cli", *args], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def write_config(base: Path, changes: dict[str, Any], steps: int, init: str, data: Path,
                 path: Path) -> None:
    """``base`` with the model ``changes``, ``steps`` steps from ``init`` on ``data``."""
    cfg = yaml.safe_load(base.read_text())
    cfg["data"]["root"] = str(data.resolve())
    cfg["model"].update(changes)
    cfg["train"].update(steps=steps, init_from=init, threads=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def finished(run: Path, steps: int) -> bool:
    """True if ``run`` finished ``steps`` steps (its ``model.pt`` exists and its config asks
    for that many: ``hwreg train`` would do nothing)."""
    saved = run / "config.yaml"
    return (run / "model.pt").is_file() and saved.is_file() and \
        yaml.safe_load(saved.read_text())["train"]["steps"] == steps


def skip_row(build: Path) -> dict[str, Any]:
    """Skip memory and totals of a build's ``report/estimate_network_performance.json``."""
    est = json.loads((build / REPORT).read_text())
    skips = est["skips"]
    return {"skip_bits_per_pair": sum(s.get("bits_per_pair", 0) for s in skips),
            "skip_bits_buffered": sum(s["bits_buffered"] for s in skips),
            "skip_BRAM_18K": sum(s["BRAM_18K"] for s in skips),
            "skip_LUT": sum(s["LUT"] for s in skips),
            "BRAM_18K_total": est["totals"]["BRAM_18K"], "LUT_total": est["totals"]["LUT"],
            "fits": est["fits"], "pairs_per_s": est["estimated_pairs_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=ROOT / "configs" / "demo_w4a4.yaml")
    parser.add_argument("--init", default="demo-w4a4")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--data", type=Path, default=Path("data/default"))
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--board", default="ZCU104")
    parser.add_argument("--runs", type=Path, default=Path("runs/skip-ablation"))
    parser.add_argument("--only", nargs="+", choices=list(OPTIONS), default=list(OPTIONS))
    parser.add_argument("--train-only", action="store_true", help="train, nothing else")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/skip_ablation.json")
    args = parser.parse_args()
    rows = []
    for name in args.only:
        run = args.runs / slug(name)
        cfg = args.runs / f"{slug(name)}.yaml"
        write_config(args.base, OPTIONS[name], args.steps, args.init, args.data, cfg)
        if not finished(run, args.steps):
            hwreg("train", "--config", str(cfg), "--out", str(run), "--quiet")
        if args.train_only:
            continue
        ev = run / "eval"
        if not (ev / "metrics.json").exists():
            hwreg("evaluate", "--model", str(run), "--data", str(args.data), "--out", str(ev),
                  "--pairs", str(args.pairs), "--no-oracle", "--quiet")
        metrics = json.loads((ev / "metrics.json").read_text())
        build = run / f"build-{args.board}"
        if not (build / REPORT).exists():
            hwreg("build", "--model", str(run), "--board", args.board, "--out", str(build),
                  "--to-step", "step_estimates")
        rows.append({"option": name, "model": OPTIONS[name], "steps": args.steps,
                     "dice_mean": metrics["registered"]["dice_mean"],
                     "dice_sd": metrics["registered"]["dice_sd"],
                     "dice_identity": metrics["identity"]["dice_mean"],
                     "pairs": metrics.get("pairs"), **skip_row(build)})
        print(json.dumps(rows[-1]), flush=True)
    if args.train_only:
        return
    result = {"init_from": args.init, "base": str(args.base.relative_to(ROOT)),
              "steps": args.steps, "board": args.board, "pairs": args.pairs, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
