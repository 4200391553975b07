"""Benchmark: one row of the README's "levers tried" table for a model (file, run folder or name).

    .venv/bin/python benchmarks/bench_levers.py --model demo-float --cascade 1 2

Per cascade depth: mean Dice on the held-out default pairs (``data/default``) and on the
real-brain pairs of ``benchmarks/bench_realbrain.py`` resampled to the model grid (116 parcels,
nearest neighbour; cheaper than the whole 1 mm ``hwreg register`` path, so comparable between
rows, not with realbrain.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwreg.checkpoint import load_model
from hwreg.config import DataConfig
from hwreg.data.datasets import find_subjects, prepare_subject, split, to_model_grid
from hwreg.data.grid import resample
from hwreg.data.nifti import load_image, load_labels
from hwreg.data.realbrain import PairSpec, make_pairs
from hwreg.evaluate import evaluate_pairs, predict_ddf
from hwreg.metrics import dice_per_label
from hwreg.model import RegNet
from hwreg.warp import warp_labels


def mean_dice(fixed: np.ndarray, warped: np.ndarray) -> float:
    """Mean Dice over the labels of ``fixed``."""
    ids = [int(i) for i in np.unique(fixed) if i != 0]
    return float(np.mean(list(dice_per_label(fixed, warped, ids).values())))


def real_brains_on_model_grid(pairs_dir: Path, data: DataConfig) -> list[tuple[np.ndarray, ...]]:
    """The real-brain pairs (``bench_realbrain.py``) resampled to the model grid: (fixed image,
    moving image, fixed parcels, moving parcels), parcels by nearest neighbour."""
    brains = []
    for row in make_pairs(pairs_dir, PairSpec()):
        fi, fg = to_model_grid(load_image(row["fixed_t1"]), data)
        mi, mg = to_model_grid(load_image(row["moving_t1"]), data)
        brains.append((fi, mi, resample(load_labels(row["fixed_parcels"]), None, fg, 0),
                       resample(load_labels(row["moving_parcels"]), None, mg, 0)))
    return brains


def real_brain_dice(model: RegNet, brains: list[tuple[np.ndarray, ...]]
                    ) -> tuple[list[float], list[float]]:
    """Parcel Dice of each model-grid real-brain pair before and after registration."""
    before, after = [], []
    for fi, mi, fl, ml in brains:
        ddf = torch.from_numpy(predict_ddf(model, fi, mi))[None].double()
        warped = warp_labels(torch.from_numpy(ml.astype(np.int64))[None, None], ddf)
        before.append(mean_dice(fl, ml))
        after.append(mean_dice(fl, warped[0, 0].numpy()))
    return before, after


def load_bench(ref: str, data: Path, pairs_dir: Path) -> tuple[Any, ...]:
    """One thread; the model (Brevitas), its config and file, the held-out default subjects of
    ``data`` and the real-brain pairs on the model grid."""
    torch.set_num_threads(1)
    model, cfg, ckpt = load_model(ref)
    cfg.data.root = data
    _, test = split(find_subjects(cfg.data), cfg.data)
    subjects = [prepare_subject(s, cfg.data) for s in test]
    return model, cfg, ckpt, subjects, real_brains_on_model_grid(pairs_dir, cfg.data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--cascade", type=int, nargs="+", default=[1])
    parser.add_argument("--data", type=Path, default=Path("data/default"))
    parser.add_argument("--pairs-dir", type=Path, default=Path("runs/realbrain-pairs"))
    args = parser.parse_args()
    model, cfg, ckpt, subjects, brains = load_bench(args.model, args.data, args.pairs_dir)
    out: dict = {"model": args.model, "step": ckpt.get("step")}
    model.cfg.flips = 0  # the levers are single passes (bench_passes.py measures flips)
    for k in args.cascade:
        model.cfg.cascade = k
        default = evaluate_pairs(model, subjects, cfg.data.resolved_label_ids())
        before, after = real_brain_dice(model, brains)
        out[f"cascade_{k}"] = {"default_dice": default["registered"]["dice_mean"],
                               "default_before": default["identity"]["dice_mean"],
                               "real_brain_model_grid": float(np.mean(after)),
                               "real_brain_before": float(np.mean(before))}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
