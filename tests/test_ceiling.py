"""Fractions of the oracle's and SyN's gain, and the SyN baseline file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwreg.ceiling import ceiling_summary, fraction, read_syn_baseline, syn_comparison
from hwreg.errors import UserError


def test_fraction_of_gain() -> None:
    assert fraction(0.1, 0.4) == 0.25
    assert fraction(0.1, 0.0) != fraction(0.1, 0.0)  # NaN when the ceiling gains nothing


def test_syn_comparison_uses_only_shared_pairs() -> None:
    syn = {("a", "b"): 0.8, ("b", "a"): 0.7}
    out = syn_comparison([("a", "b"), ("b", "c")], [0.5, 0.5], [0.6, 0.9], syn)
    assert out["pairs"] == 1
    assert out["model_gain"] == pytest.approx(0.1)
    assert out["syn_gain"] == pytest.approx(0.3)
    assert out["fraction_of_syn_gain"] == pytest.approx(1 / 3)
    with pytest.raises(UserError):
        syn_comparison([("x", "y")], [0.5], [0.6], syn)


def test_read_baseline_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "r.json"
    good.write_text(json.dumps({"ants": {"pairs": [{"pair": ["a", "b"], "ants_dice": 0.5}]}}))
    assert read_syn_baseline(good) == {("a", "b"): 0.5}
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(UserError, match="not a SyN baseline"):
        read_syn_baseline(bad)
    with pytest.raises(UserError, match="not found"):
        read_syn_baseline(tmp_path / "missing.json")


def test_ceiling_summary() -> None:
    result = {"identity": {"dice_mean": 0.3}, "registered": {"dice_mean": 0.5},
              "rows": [{"pair": ["a", "b"], "dice_before": 0.3, "dice_after": 0.5}]}
    oracle = [{"dice_mean": 0.7, "folding_percent": 0.0}]
    out = ceiling_summary(result, oracle, {("a", "b"): 0.6})
    assert out["fraction_of_oracle_gain"] == pytest.approx(0.5)
    assert out["syn"]["fraction_of_syn_gain"] == pytest.approx(2 / 3)
