"""Benchmark: how much of a known displacement the network recovers, in and out of its domain.

    .venv/bin/python benchmarks/bench_ddf_recovery.py --models demo-w4a4 demo-float \
        --out benchmarks/results/ddf_recovery.json

A fixed image (a held-out synthetic subject of ``data/default``, or the MNI152 T1 of the
real-brain benchmark: another brain, scanner and contrast) on the model grid is warped by a known
random smooth displacement ``d`` (:func:`hwreg.data.realbrain.random_warp`: control points 32 mm
apart, largest magnitude ``max_mm``) into the moving image, so the true fixed -> moving map is
``u = -d(x + u)`` (solved by fixed-point iteration). Inside the brain (the brightest 40 % of the
fixed image), per model and magnitude over ``--trials`` draws:

- ``slope``: least-squares slope of the predicted DDF on the true one (1 = full magnitude);
- ``calibration``: slope of the true DDF on the predicted one (1 = the prediction is, on average,
  what the truth is given the prediction: an uncertain network shrinks, a biased one does not);
- ``corr``: correlation of the components; ``rmse_mm`` and ``true_rms_mm``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from hwreg.checkpoint import load_model
from hwreg.data.datasets import find_subjects, prepare_subject, split, to_model_grid
from hwreg.data.nifti import load_image
from hwreg.data.realbrain import nilearn_files, random_warp
from hwreg.evaluate import predict_ddf
from hwreg.warp import warp_image_np


def true_map(d: np.ndarray, iterations: int = 10) -> np.ndarray:
    """``u`` with ``u(p) = -d(p + u(p))``: the fixed -> moving map when moving = fixed o (id+d)
    (``warp_image_np(fixed, d)``)."""
    idx = np.indices(d.shape[1:], dtype=np.float64)
    u = -d.astype(np.float64)
    for _ in range(iterations):
        u = -np.stack([ndimage.map_coordinates(d[k], idx + u, order=1, mode="nearest")
                       for k in range(3)])
    return u


def scores(true: np.ndarray, pred: np.ndarray, spacing: float) -> dict[str, float]:
    """Slope, calibration, correlation and errors of ``pred`` against ``true`` (n values)."""
    return {"slope": float((true * pred).sum() / (true * true).sum()),
            "calibration": float((true * pred).sum() / (pred * pred).sum()),
            "corr": float(np.corrcoef(true, pred)[0, 1]),
            "rmse_mm": float(np.sqrt(((true - pred) ** 2).mean()) * spacing),
            "true_rms_mm": float(np.sqrt((true**2).mean()) * spacing)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["demo-w4a4"])
    parser.add_argument("--data", type=Path, default=Path("data/default"))
    parser.add_argument("--max-mm", type=float, nargs="+", default=[3.5, 7.0, 14.0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict = {"max_mm": args.max_mm, "trials": args.trials, "models": {}}
    for name in args.models:
        model, cfg, _ = load_model(name)
        cfg.data.root = args.data
        _, test = split(find_subjects(cfg.data), cfg.data)
        images = {"synthetic": [prepare_subject(s, cfg.data).image
                                for s in test[: args.trials]],
                  "mni152": [to_model_grid(load_image(nilearn_files()["t1"]), cfg.data)[0]]}
        spacing = cfg.data.grid_spacing
        per_model: dict = {}
        for max_mm in args.max_mm:
            rng = np.random.default_rng(0)
            fields = [random_warp(tuple(cfg.data.grid_shape), rng, max_mm, 32.0, spacing)
                      for _ in range(args.trials)]
            for domain, imgs in images.items():
                true_all, pred_all = [], []
                for t, d in enumerate(fields):
                    fixed = imgs[t % len(imgs)]
                    moving = warp_image_np(fixed, d).astype(np.float32)
                    pred = predict_ddf(model, fixed, moving)
                    mask = fixed > np.percentile(fixed, 60)
                    true_all.append(true_map(d)[:, mask].ravel())
                    pred_all.append(pred[:, mask].ravel())
                row = scores(np.concatenate(true_all), np.concatenate(pred_all), spacing)
                per_model[f"{domain}_max{max_mm:g}mm"] = row
                print(name, domain, max_mm, json.dumps(row), flush=True)
        results["models"][name] = per_model
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
