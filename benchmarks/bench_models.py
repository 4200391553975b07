"""Benchmark: accuracy of the shipped demo models and network speed vs ANTs SyN (model grid).

    make bench        # or, after `make install` and `hwreg data prepare --out data/default`:
    .venv/bin/python benchmarks/bench_models.py --data data/default \
        --out benchmarks/results/register.json

For each shipped model: Dice/TRE/folding on every ordered pair of the held-out subjects
(identity vs registered), the network's time per pair, and the time of a whole
`hwreg register` call on NIfTI files. Then ANTs SyN (antspyx default `SyN`, 2 threads) on the
first --ants-pairs pairs, on the same model-grid images, with Dice computed by the same code.
Its file is the SyN baseline of `hwreg evaluate --baseline`. The end-to-end speed of
`hwreg register` on 1 mm NIfTI pairs against SyN is `bench_register.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hwreg.checkpoint import load_model
from hwreg.data.datasets import all_pairs, find_subjects, prepare_subject, split
from hwreg.data.nifti import load_labels, save_nifti
from hwreg.evaluate import evaluate_pairs, pair_metrics, predict_ddf
from hwreg.metrics import dice_per_label
from hwreg.runtime.register import register_files


def bench_model(name: str, data: Path) -> dict:
    """Held-out accuracy and timings of one shipped model."""
    model, cfg, _ = load_model(name)
    cfg.data.root = data
    _, test_s = split(find_subjects(cfg.data), cfg.data)
    subjects = [prepare_subject(s, cfg.data) for s in test_s]
    result = evaluate_pairs(model, subjects, cfg.data.resolved_label_ids())
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            register_files(test_s[0].image, test_s[1].image, tmp, model=name)
        times.append(time.perf_counter() - t0)
    result["seconds_register_cli_path"] = statistics.median(times)
    return result


def bench_ants(name: str, data: Path, n_pairs: int, threads: int) -> dict:
    """ANTs SyN vs the model on the same model-grid pairs (same Dice code)."""
    model, cfg, _ = load_model(name)
    cfg.data.root = data
    _, test_s = split(find_subjects(cfg.data), cfg.data)
    subjects = [prepare_subject(s, cfg.data) for s in test_s]
    ids = cfg.data.resolved_label_ids()
    indices = list(range(1, len(ids) + 1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for s in subjects:
            save_nifti(s.image, s.grid.affine, tmp / f"{s.id}_img.nii.gz")
            save_nifti(s.labels.astype(np.int16), s.grid.affine, tmp / f"{s.id}_lab.nii.gz")
        for f, m in all_pairs(len(subjects))[:n_pairs]:
            fs, ms = subjects[f], subjects[m]
            out = tmp / f"warped_{f}_{m}.nii.gz"
            cmd = [".venv-ants/bin/python", "benchmarks/ants_syn.py",
                   str(tmp / f"{fs.id}_img.nii.gz"), str(tmp / f"{ms.id}_img.nii.gz"),
                   str(threads), str(tmp / f"{ms.id}_lab.nii.gz"), str(out)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            ants_s = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
            ants_lab = load_labels(out).data
            ants_dice = float(np.mean(list(dice_per_label(fs.labels, ants_lab, indices)
                                           .values())))
            t0 = time.perf_counter()
            ddf = predict_ddf(model, fs.image, ms.image)
            net_s = time.perf_counter() - t0
            ours = pair_metrics(fs, ms, ddf, ids)["dice_mean"]
            rows.append({"pair": [fs.id, ms.id], "ants_seconds": ants_s, "ants_dice": ants_dice,
                         "model_seconds": net_s, "model_dice": ours})
    return {"model": name, "pairs": rows, "ants_seconds_mean": statistics.mean(
        r["ants_seconds"] for r in rows), "model_seconds_mean": statistics.mean(
        r["model_seconds"] for r in rows), "ants_dice_mean": statistics.mean(
        r["ants_dice"] for r in rows), "model_dice_mean": statistics.mean(
        r["model_dice"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/default"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ants-pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {"threads": args.threads, "models": {}}
    for name in ("demo-float", "demo-w4a4"):
        result["models"][name] = bench_model(name, args.data)
        r = result["models"][name]
        print(f"{name}: Dice {r['identity']['dice_mean']:.3f} -> {r['registered']['dice_mean']:.3f}"
              f", TRE {r['identity']['tre_mm']:.2f} -> {r['registered']['tre_mm']:.2f} mm, "
              f"network {r['seconds_per_pair'] * 1e3:.0f} ms/pair", flush=True)
    if Path(".venv-ants/bin/python").exists() and args.ants_pairs > 0:
        ants = bench_ants("demo-w4a4", args.data, args.ants_pairs, args.threads)
        ants["speedup"] = ants["ants_seconds_mean"] / ants["model_seconds_mean"]
        result["ants"] = ants
        print(f"ANTs SyN {ants['ants_seconds_mean']:.2f} s, Dice {ants['ants_dice_mean']:.3f}; "
              f"demo-w4a4 {ants['model_seconds_mean'] * 1e3:.0f} ms, Dice "
              f"{ants['model_dice_mean']:.3f}; {ants['speedup']:.0f}x faster")
    else:
        print("ANTs comparison skipped: no .venv-ants (make bench creates it)", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
