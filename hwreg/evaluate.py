"""Evaluation on held-out pairs: Dice per label and mean, TRE (mm), folding %, before and after.

Pairs are ordered (fixed, moving) pairs of held-out subjects on the model grid. "Before" is the
identity transform (DDF = 0). The moving label map is warped by nearest neighbour with its ids
kept; Dice and TRE compare it with the fixed label map (TRE: RMS distance of label centroids in mm,
as label-reg); folding is the % of voxels where the Jacobian determinant is <= 0.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from hwreg.ceiling import ceiling_summary, read_syn_baseline
from hwreg.data.datasets import Prepared, all_pairs
from hwreg.data.synth import is_synthetic, oracle_ddf
from hwreg.errors import UserError
from hwreg.inference import predict_ddf
from hwreg.metrics import dice_per_label, folding_percent, tre
from hwreg.model import RegNet
from hwreg.warp import warp_labels


def pair_metrics(fixed: Prepared, moving: Prepared, ddf: np.ndarray,
                 label_ids: Sequence[int]) -> dict[str, Any]:
    """Dice per label id, mean Dice, TRE (mm) and folding % of one registered pair."""
    moving_lab = torch.from_numpy(moving.labels.astype(np.int64))[None, None]
    warped = warp_labels(moving_lab, torch.from_numpy(ddf)[None].double())[0, 0].numpy()
    indices = list(range(1, len(label_ids) + 1))
    per = dice_per_label(fixed.labels, warped, indices)
    shared = [k for k in indices if (fixed.labels == k).any() and (warped == k).any()]
    return {
        "dice": {int(label_ids[k - 1]): v for k, v in per.items()},
        "dice_mean": float(np.mean(list(per.values()))) if per else float("nan"),
        "tre_mm": tre(fixed.labels, warped, shared, fixed.grid.spacing) if shared else float("nan"),
        "folding_percent": folding_percent(ddf),
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def stat(key: str) -> tuple[float, float]:
        values = [r[key] for r in rows if np.isfinite(r[key])]
        if not values:
            return float("nan"), float("nan")
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return float(np.mean(values)), float(sd)

    dice_m, dice_sd = stat("dice_mean")
    tre_m, tre_sd = stat("tre_mm")
    fold_m, _ = stat("folding_percent")
    labels = sorted({k for r in rows for k in r["dice"]})
    per_label = {k: float(np.mean([r["dice"][k] for r in rows if k in r["dice"]])) for k in labels}
    return {"dice_mean": dice_m, "dice_sd": dice_sd, "tre_mm": tre_m, "tre_sd": tre_sd,
            "folding_percent": fold_m, "dice_per_label": per_label}


def evaluate_pairs(model: RegNet, subjects: Sequence[Prepared], label_ids: Sequence[int],
                   max_pairs: int | None = None, device: torch.device | str = "cpu",
                   progress: bool = False) -> dict[str, Any]:
    """Evaluate ``model`` on ordered pairs of ``subjects`` (the first ``max_pairs``).

    Returns ``{"pairs": n, "identity": summary, "registered": summary, "seconds_per_pair": t}``,
    each summary holding Dice mean/sd, per-label Dice, TRE mean/sd (mm) and folding %.
    """
    import time

    pairs = all_pairs(len(subjects))[: max_pairs or None]
    if not pairs:  # never a metrics file of NaN
        raise UserError(f"no held-out pairs to evaluate ({len(subjects)} held-out subjects)")
    was_training = model.training
    model.eval()
    before, after, seconds = [], [], 0.0
    rows = []
    zero = np.zeros((3, *subjects[0].image.shape), dtype=np.float32)
    for f, m in tqdm(pairs, desc="evaluate", disable=not progress, leave=False):
        t0 = time.perf_counter()
        ddf = predict_ddf(model, subjects[f].image, subjects[m].image, device)
        seconds += time.perf_counter() - t0
        before.append(pair_metrics(subjects[f], subjects[m], zero, label_ids))
        after.append(pair_metrics(subjects[f], subjects[m], ddf, label_ids))
        rows.append({"pair": [subjects[f].id, subjects[m].id],
                     "dice_before": before[-1]["dice_mean"], "dice_after": after[-1]["dice_mean"],
                     "tre_after_mm": after[-1]["tre_mm"],
                     "folding_percent": after[-1]["folding_percent"]})
    model.train(was_training)
    return {"pairs": len(pairs), "identity": _summary(before), "registered": _summary(after),
            "seconds_per_pair": seconds / max(1, len(pairs)), "rows": rows}


#: Oracle rows already computed in this process, by (root, manifest time, pair ids, grid):
#: they depend on the data only, and a demo evaluates five models on the same pairs.
_ORACLE_CACHE: dict[tuple, dict[str, Any]] = {}


def oracle_rows(root: str | Path, subjects: Sequence[Prepared], label_ids: Sequence[int],
                max_pairs: int | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """Per-pair metrics (:func:`pair_metrics`) of the TRUE DDF on the pairs that
    :func:`evaluate_pairs` uses (synthetic data only: :func:`hwreg.data.synth.oracle_ddf`)."""
    if not is_synthetic(root):
        raise UserError(f"{root}: the oracle needs synthetic data ('hwreg data prepare')")
    stamp = (Path(root) / "hwreg_dataset.json").stat().st_mtime
    rows = []
    for f, m in tqdm(all_pairs(len(subjects))[: max_pairs or None], desc="oracle",
                     disable=not progress, leave=False):
        fs, ms = subjects[f], subjects[m]
        key = (str(Path(root).resolve()), stamp, fs.id, ms.id, tuple(label_ids),
               fs.grid.shape, fs.grid.affine.tobytes(), ms.grid.affine.tobytes())
        if key not in _ORACLE_CACHE:
            ddf = oracle_ddf(root, fs.id, fs.grid, ms.id, ms.grid)
            _ORACLE_CACHE[key] = {"pair": [fs.id, ms.id], **pair_metrics(fs, ms, ddf, label_ids)}
        rows.append(_ORACLE_CACHE[key])
    return rows


def metrics_markdown(result: dict[str, Any], title: str) -> str:
    """A Markdown report of :func:`evaluate_pairs`' result."""
    ident, reg = result["identity"], result["registered"]
    lines = [f"# {title}", "", f"Held-out pairs: {result['pairs']}", "",
             "| | Dice mean ± sd | TRE (mm) ± sd | folding % |", "|---|---|---|---|"]
    for name, s in (("identity (before)", ident), ("registered (after)", reg)):
        lines.append(f"| {name} | {s['dice_mean']:.3f} ± {s['dice_sd']:.3f} | "
                     f"{s['tre_mm']:.2f} ± {s['tre_sd']:.2f} | {s['folding_percent']:.3f} |")
    ceiling = result.get("ceiling", {})
    if "oracle_dice" in ceiling:
        lines += ["", f"Oracle (true DDF) Dice: {ceiling['oracle_dice']:.3f}; the model recovers "
                  f"{100 * ceiling['fraction_of_oracle_gain']:.1f} % of the oracle's gain."]
    if "syn" in ceiling:
        syn = ceiling["syn"]
        lines += ["", f"ANTs SyN on {syn['pairs']} of these pairs: Dice {syn['syn_dice']:.3f}, "
                  f"gain {syn['syn_gain']:+.3f} vs the model's {syn['model_gain']:+.3f} "
                  f"({100 * syn['fraction_of_syn_gain']:.1f} % of SyN's gain)."]
    lines += ["", "| label id | Dice before | Dice after |", "|---|---|---|"]
    for lid, after in reg["dice_per_label"].items():
        lines.append(f"| {lid} | {ident['dice_per_label'].get(lid, float('nan')):.3f} | "
                     f"{after:.3f} |")
    return "\n".join(lines) + "\n"


def evaluate_model(ref: str | Path, out: Path, data: Path | None = None,
                   max_pairs: int | None = None, device: str = "auto",
                   progress: bool = False, baseline: Path | None = None,
                   oracle: bool = True) -> dict[str, Any]:
    """Evaluate a model (name or path) on the held-out subjects of its own dataset split and
    write ``out/metrics.json`` and ``out/metrics.md``; returns the result.

    On synthetic data (``hwreg data prepare``) and with ``oracle``, the true DDF's Dice (the
    ceiling) is computed on the same pairs and the model's gain reported as a fraction of the
    oracle's; with ``baseline`` (a SyN results file), as a fraction of SyN's gain too."""
    from hwreg.checkpoint import load_model
    from hwreg.config import require_data_root
    from hwreg.data.datasets import find_subjects, prepare_subject, split
    from hwreg.run import pick_device

    syn = read_syn_baseline(baseline) if baseline is not None else None  # bad file: refuse first
    model, cfg, _ = load_model(ref)
    cfg.data.root = require_data_root(cfg.data.root, data)
    _, test = split(find_subjects(cfg.data), cfg.data)
    subjects = [prepare_subject(s, cfg.data) for s in test]
    torch_device = pick_device(device)
    result = evaluate_pairs(model.to(torch_device), subjects, cfg.data.resolved_label_ids(),
                            max_pairs, torch_device, progress=progress)
    result["model"] = str(ref)
    result["passes"] = model.passes  # accelerator passes per pair (model.cascade x 2**flips)
    oracle_result = (oracle_rows(cfg.data.root, subjects, cfg.data.resolved_label_ids(),
                                 max_pairs, progress)
                     if oracle and is_synthetic(cfg.data.root) else None)
    result["ceiling"] = ceiling_summary(result, oracle_result, syn)
    if "syn" in result["ceiling"]:
        result["ceiling"]["syn"]["from"] = str(baseline)  # SyN's Dice is quoted from this file
    write_metrics(result, out, f"Evaluation of {ref} ({cfg.model.name})")
    return result


def write_metrics(result: dict[str, Any], out: Path, title: str) -> None:
    """Write ``metrics.json`` and ``metrics.md`` into ``out`` (created)."""
    from hwreg.atomic import write_json, write_text

    write_json(out / "metrics.json", result)
    write_text(out / "metrics.md", metrics_markdown(result, title))
