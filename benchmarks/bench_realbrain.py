"""Benchmark: registering a real brain the network never saw, against ANTs SyN on the same pairs.

    .venv/bin/python benchmarks/bench_realbrain.py --out benchmarks/results/realbrain.json
    # ANTs SyN needs .venv-ants (make bench); --ants-from FILE reuses SyN rows of an earlier run

The brain is the MNI152 2009a T1 from nilearn's wheel (:mod:`hwreg.data.realbrain`): each pair is
two independent random smooth warps of it (largest displacement 7 mm each, 1 mm grid), with grey/
white-matter labels and 116 grey-matter parcels. Every model registers each pair with the whole
``hwreg register`` path (NIfTI in, resampling to the model grid and back, NIfTI out), and its
warped parcels are scored on the 1 mm grid; the tissue map is warped by applying the written
``ddf.nii.gz`` (ITK/LPS mm) with scipy, an independent check of the DDF convention. ANTs SyN
(antspyx default ``SyN``, 2 threads) registers the same files. Reported per model: Dice before and
after (parcels and tissue), the gain as a fraction of SyN's gain on the same pairs, folding-free
seconds per pair.
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
from scipy import ndimage

from hwreg.data.nifti import load_labels
from hwreg.data.realbrain import PairSpec, make_pairs
from hwreg.metrics import dice_per_label
from hwreg.runtime.register import register_files

_LPS = np.array([-1.0, -1.0, 1.0])


def mean_dice(fixed: np.ndarray, warped: np.ndarray) -> float:
    """Mean Dice over the labels of ``fixed``."""
    ids = [int(i) for i in np.unique(fixed) if i != 0]
    return float(np.mean(list(dice_per_label(fixed, warped, ids).values())))


def warp_with_ddf(label_path: str, ddf_path: Path) -> np.ndarray:
    """Apply an ITK displacement field (LPS mm, FIXED -> MOVING) to a MOVING label map that shares
    FIXED's grid, nearest neighbour, with scipy (independent of hwreg's warping code)."""
    lab = load_labels(label_path)
    import nibabel as nib

    img = nib.load(str(ddf_path))
    disp = np.asarray(img.dataobj)[:, :, :, 0, :] * _LPS  # (X, Y, Z, 3) RAS mm, stored axes
    # the label map is loaded canonical (RAS+); bring the field into the same array order
    ornt = nib.orientations.io_orientation(img.affine)
    disp = nib.orientations.apply_orientation(disp, np.vstack([ornt, [3, 1]]))
    world_to_vox = np.linalg.inv(lab.affine)
    idx = np.indices(lab.shape, dtype=np.float64).reshape(3, -1)
    x = lab.affine[:3, :3] @ idx + lab.affine[:3, 3:4]
    y = x + disp.reshape(-1, 3).T
    vox = world_to_vox[:3, :3] @ y + world_to_vox[:3, 3:4]
    return ndimage.map_coordinates(lab.data, vox, order=0, mode="constant",
                                   cval=0).reshape(lab.shape)


def bench_model(model: str, rows: list[dict[str, str]]) -> list[dict]:
    """Register every pair with ``model``; Dice before/after and seconds per pair."""
    out = []
    for i, row in enumerate(rows):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            info = register_files(row["fixed_t1"], row["moving_t1"], tmp, model=model,
                                  moving_label=row["moving_parcels"])
            seconds = time.perf_counter() - t0
            fixed_p = load_labels(row["fixed_parcels"]).data
            fixed_t = load_labels(row["fixed_tissue"]).data
            warped_p = load_labels(Path(tmp) / "warped_label.nii.gz").data
            warped_t = warp_with_ddf(row["moving_tissue"], Path(tmp) / "ddf.nii.gz")
        out.append({
            "pair": i, "seconds": seconds, "seconds_network": info["seconds_network"],
            "parcels_before": mean_dice(fixed_p, load_labels(row["moving_parcels"]).data),
            "parcels_after": mean_dice(fixed_p, warped_p),
            "tissue_before": mean_dice(fixed_t, load_labels(row["moving_tissue"]).data),
            "tissue_after": mean_dice(fixed_t, warped_t)})
        print(f"  {model} pair {i}: parcels {out[-1]['parcels_before']:.3f} -> "
              f"{out[-1]['parcels_after']:.3f}, tissue {out[-1]['tissue_before']:.3f} -> "
              f"{out[-1]['tissue_after']:.3f}, {seconds:.1f} s", flush=True)
    return out


def bench_ants(rows: list[dict[str, str]], threads: int) -> list[dict]:
    """ANTs SyN (default schedule) on every pair, in .venv-ants."""
    out = []
    for i, row in enumerate(rows):
        with tempfile.TemporaryDirectory() as tmp:
            wp, wt = Path(tmp) / "parcels.nii.gz", Path(tmp) / "tissue.nii.gz"
            cmd = [".venv-ants/bin/python", "benchmarks/ants_syn.py", row["fixed_t1"],
                   row["moving_t1"], str(threads), row["moving_parcels"], str(wp),
                   row["moving_tissue"], str(wt)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
            out.append({
                "pair": i, "seconds": seconds,
                "parcels_after": mean_dice(load_labels(row["fixed_parcels"]).data,
                                           load_labels(wp).data),
                "tissue_after": mean_dice(load_labels(row["fixed_tissue"]).data,
                                          load_labels(wt).data)})
        print(f"  ANTs SyN pair {i}: parcels {out[-1]['parcels_after']:.3f}, tissue "
              f"{out[-1]['tissue_after']:.3f}, {seconds:.1f} s", flush=True)
    return out


def summarise(rows: list[dict], ants: list[dict] | None) -> dict:
    """Means, and the gain as a fraction of SyN's gain on the same pairs."""
    summary: dict = {"pairs": len(rows)}
    for kind in ("parcels", "tissue"):
        before = statistics.mean(r[f"{kind}_before"] for r in rows)
        after = [r[f"{kind}_after"] for r in rows]
        summary[kind] = {"before": before, "after": statistics.mean(after),
                         "after_sd": statistics.stdev(after) if len(after) > 1 else 0.0,
                         "gain": statistics.mean(after) - before}
        if ants:
            ants_gain = statistics.mean(a[f"{kind}_after"] for a in ants) - before
            summary[kind]["syn_gain"] = ants_gain
            summary[kind]["fraction_of_syn_gain"] = summary[kind]["gain"] / ants_gain
    summary["seconds_per_pair"] = statistics.mean(r["seconds"] for r in rows)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    parser.add_argument("--models", nargs="*", default=["demo-float", "demo-w4a4"])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--pairs-dir", type=Path, default=Path("runs/realbrain-pairs"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ants-from", type=Path, help="reuse the SyN rows of an earlier result")
    parser.add_argument("--no-ants", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = PairSpec(pairs=args.pairs)
    rows = make_pairs(args.pairs_dir, spec)
    result: dict = {"spec": spec.__dict__, "threads": args.threads, "models": {}}
    ants = None
    if args.ants_from:
        ants = json.loads(args.ants_from.read_text())["ants"]["rows"]
        result["ants"] = {"rows": ants, "from": str(args.ants_from)}
    elif not args.no_ants and Path(".venv-ants/bin/python").exists():
        ants = bench_ants(rows, args.threads)
        result["ants"] = {"rows": ants}
    else:
        print("ANTs SyN skipped (no .venv-ants: make bench creates it)", file=sys.stderr)
    if ants:
        result["ants"]["seconds_per_pair"] = statistics.mean(a["seconds"] for a in ants)
        for kind in ("parcels", "tissue"):
            result["ants"][f"{kind}_after"] = statistics.mean(a[f"{kind}_after"] for a in ants)
    for model in args.models:
        model_rows = bench_model(model, rows)
        result["models"][model] = {"rows": model_rows, **summarise(model_rows, ants)}
        s = result["models"][model]
        frac = (f", {100 * s['parcels']['fraction_of_syn_gain']:.0f} % of SyN's gain"
                if ants else "")
        print(f"{model}: parcels {s['parcels']['before']:.3f} -> {s['parcels']['after']:.3f}"
              f"{frac}; tissue {s['tissue']['before']:.3f} -> {s['tissue']['after']:.3f}; "
              f"{s['seconds_per_pair']:.1f} s/pair", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
