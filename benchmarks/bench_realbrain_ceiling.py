"""Benchmark: the ceiling of a DDF at the network's resolution on the real-brain pairs.

    .venv/bin/python benchmarks/bench_realbrain_ceiling.py --pairs 1 \
        --out benchmarks/results/realbrain_ceiling.json

For each pair of :mod:`hwreg.data.realbrain` the true FIXED -> MOVING map is known: FIXED is the
brain warped by ``d_f`` and MOVING by ``d_m``, so ``u(p) = d_f(p) - d_m(p + u(p))`` (solved by
fixed-point iteration). The moving parcels warped by ``u`` give the ceiling at 1 mm; ``u``
smoothed and sampled every 3, 6 or 12 mm and trilinearly upsampled back gives the ceiling of a
DDF at that resolution (the shipped network's DDF is at 6 mm: 3 mm grid, half-resolution head).
The warps are redrawn from the pair spec's seed exactly as ``make_pairs`` draws them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from hwreg.data.nifti import load_image
from hwreg.data.realbrain import (
    PairSpec,
    apply_warp,
    nilearn_files,
    parcel_labels,
    random_warp,
    tissue_labels,
)
from hwreg.metrics import dice_per_label


def mean_dice(fixed: np.ndarray, warped: np.ndarray) -> float:
    """Mean Dice over the labels of ``fixed``."""
    ids = [int(i) for i in np.unique(fixed) if i != 0]
    return float(np.mean(list(dice_per_label(fixed, warped, ids).values())))


def true_map(d_f: np.ndarray, d_m: np.ndarray, iterations: int = 10) -> np.ndarray:
    """``u`` with ``p + u(p) + d_m(p + u(p)) = p + d_f(p)`` (voxels), by fixed-point iteration."""
    idx = np.indices(d_f.shape[1:], dtype=np.float32)
    u = d_f.copy()
    for _ in range(iterations):
        at = idx + u
        u = d_f - np.stack([ndimage.map_coordinates(d_m[k], at, order=1, mode="nearest")
                            for k in range(3)])
    return u


def at_resolution(u: np.ndarray, step: int) -> np.ndarray:
    """``u`` smoothed, sampled every ``step`` voxels and trilinearly upsampled back."""
    shape = u.shape[1:]
    out = []
    for k in range(3):
        small = ndimage.zoom(ndimage.gaussian_filter(u[k], step / 2.5), 1 / step, order=1)
        out.append(ndimage.zoom(small, [a / b for a, b in zip(shape, small.shape, strict=True)],
                                order=1)[: shape[0], : shape[1], : shape[2]])
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1, help="first N pairs of the spec")
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    args = parser.parse_args()
    spec = PairSpec()
    files = nilearn_files()
    t1 = load_image(files["t1"])
    tissue = tissue_labels(load_image(files["gm"]).data, load_image(files["wm"]).data)
    parcels = parcel_labels(tissue == 1, spec.n_parcels, spec.seed)
    rng = np.random.default_rng(spec.seed)
    spacing = float(np.mean(t1.spacing))
    rows = []
    for i in range(min(args.pairs, spec.pairs)):
        d_f = random_warp(t1.shape, rng, spec.max_mm, spec.control_mm, spacing)
        d_m = random_warp(t1.shape, rng, spec.max_mm, spec.control_mm, spacing)
        fixed, moving = apply_warp(parcels, d_f, 0), apply_warp(parcels, d_m, 0)
        u = true_map(d_f, d_m)
        row = {"pair": i, "before": mean_dice(fixed, moving),
               "true_map_1mm": mean_dice(fixed, apply_warp(moving, u, 0))}
        for step in (3, 6, 12):
            coarse = at_resolution(u, step)
            row[f"true_map_at_{step}mm"] = mean_dice(fixed, apply_warp(moving, coarse, 0))
        rows.append(row)
        print(row, flush=True)
    args.out.write_text(json.dumps({"spec": spec.__dict__, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
