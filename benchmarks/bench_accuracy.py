"""Benchmark: the README's accuracy table, every shipped model evaluated in one run.

    .venv/bin/python benchmarks/bench_accuracy.py --out benchmarks/results/accuracy.json

Each model is evaluated as ``hwreg evaluate --model NAME --data data/default --baseline
benchmarks/results/register.json`` does: the 20 ordered pairs of the 5 held-out synthetic
subjects on the model grid, the oracle (the true DDF of the synthetic data) as the ceiling, and
ANTs SyN's Dice (quoted from the baseline file, measured by ``make bench`` on the first 5 pairs)
for the gain as a fraction of SyN's. Per model: Dice before/after (mean, sd), TRE, folding, the
fraction of the oracle's gain, the Dice on SyN's pairs and the fraction of SyN's gain there.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from hwreg.checkpoint import SHIPPED
from hwreg.evaluate import evaluate_model


def row(result: dict) -> dict:
    """The table row of one :func:`evaluate_model` result."""
    ceiling = result["ceiling"]
    out = {"dice_before": result["identity"]["dice_mean"],
           "dice": result["registered"]["dice_mean"], "dice_sd": result["registered"]["dice_sd"],
           "tre_mm": result["registered"]["tre_mm"],
           "folding_percent": result["registered"]["folding_percent"], "pairs": result["pairs"],
           "oracle_dice": ceiling.get("oracle_dice"),
           "fraction_of_oracle_gain": ceiling.get("fraction_of_oracle_gain")}
    if "syn" in ceiling:
        syn = ceiling["syn"]  # the model's Dice on SyN's pairs = before there + its gain
        out["syn"] = {**syn, "dice_on_syn_pairs": syn["syn_dice"] - syn["syn_gain"]
                      + syn["model_gain"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SHIPPED))
    parser.add_argument("--data", type=Path, default=Path("data/default"))
    parser.add_argument("--baseline", type=Path,
                        default=Path("benchmarks/results/register.json"))
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            result = evaluate_model(name, Path(tmp) / name, data=args.data, device="cpu",
                                    baseline=args.baseline)
            rows[name] = row(result)
            print(name, json.dumps(rows[name]), flush=True)
    command = ("python benchmarks/bench_accuracy.py --out " + str(args.out)
               + (" --models " + " ".join(args.models) if args.models != list(SHIPPED) else ""))
    args.out.write_text(json.dumps({"command": command, "data": str(args.data),
                                    "baseline": str(args.baseline), "models": rows},
                                   indent=2) + "\n")


if __name__ == "__main__":
    main()
