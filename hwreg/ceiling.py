"""How much of what is recoverable a model recovers: the oracle ceiling and the SyN baseline.

- **Oracle**: the default data is synthetic, so the true correspondence between two subjects is
  known (:func:`hwreg.data.synth.oracle_ddf`). Warping the moving label map by the true map on the
  model grid gives the best Dice any DDF on that grid can reach (below 1: nearest-neighbour
  labels on a coarse grid). A model's gain over the identity is reported as a fraction of the
  oracle's gain.
- **SyN baseline**: a results file of ANTs SyN on the same pairs (``benchmarks/bench_models.py``
  writes one: ``{"ants": {"pairs": [{"pair": [fixed_id, moving_id], "ants_dice": d}, ...]}}``);
  the model's gain on those pairs is reported as a fraction of SyN's gain.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.errors import UserError


def fraction(gain: float, ceiling_gain: float) -> float:
    """``gain / ceiling_gain`` (NaN when the ceiling gains nothing)."""
    return gain / ceiling_gain if ceiling_gain > 0 else float("nan")


def read_syn_baseline(path: str | Path) -> dict[tuple[str, str], float]:
    """SyN's Dice per ordered pair ``(fixed_id, moving_id)`` from a benchmark results file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        rows = data["ants"]["pairs"]
        return {(str(r["pair"][0]), str(r["pair"][1])): float(r["ants_dice"]) for r in rows}
    except FileNotFoundError:
        raise UserError(f"{path}: baseline file not found") from None
    except (json.JSONDecodeError, KeyError, TypeError, IndexError, ValueError):
        raise UserError(f"{path}: not a SyN baseline (expected ants.pairs[].pair/ants_dice, "
                        "as benchmarks/bench_models.py writes)") from None


def syn_comparison(pair_ids: Sequence[tuple[str, str]], before: Sequence[float],
                   after: Sequence[float], syn: dict[tuple[str, str], float]) -> dict[str, Any]:
    """The model's and SyN's mean Dice gain on the pairs both have, and the fraction."""
    common = [i for i, p in enumerate(pair_ids) if tuple(p) in syn]
    if not common:
        raise UserError("the SyN baseline has none of the evaluated pairs")
    model_gain = statistics.mean(after[i] - before[i] for i in common)
    syn_gain = statistics.mean(syn[tuple(pair_ids[i])] - before[i] for i in common)
    return {"pairs": len(common), "model_gain": model_gain, "syn_gain": syn_gain,
            "syn_dice": statistics.mean(syn[tuple(pair_ids[i])] for i in common),
            "fraction_of_syn_gain": fraction(model_gain, syn_gain)}


def ceiling_summary(result: dict[str, Any], oracle: list[dict[str, Any]] | None,
                    syn: dict[tuple[str, str], float] | None) -> dict[str, Any]:
    """The ``ceiling`` block of an evaluation: oracle Dice, the fractions of gain."""
    out: dict[str, Any] = {}
    before = result["identity"]["dice_mean"]
    gain = result["registered"]["dice_mean"] - before
    if oracle is not None:
        dice = [r["dice_mean"] for r in oracle]
        out["oracle_dice"] = float(np.mean(dice))
        out["oracle_folding_percent"] = float(np.mean([r["folding_percent"] for r in oracle]))
        out["fraction_of_oracle_gain"] = fraction(gain, out["oracle_dice"] - before)
    if syn is not None:
        rows = result["rows"]
        out["syn"] = syn_comparison([tuple(r["pair"]) for r in rows],
                                    [r["dice_before"] for r in rows],
                                    [r["dice_after"] for r in rows], syn)
    return out
