"""The demo report separates what the run computed from what it quotes from committed files."""

from __future__ import annotations

import json
from pathlib import Path

from hwreg.studies.report import write_report

SUMMARY = {"dice_mean": 0.4, "dice_sd": 0.1, "tre_mm": 5.0, "tre_sd": 1.0,
           "folding_percent": 0.0, "dice_per_label": {"2": 0.5, "41": 0.3}}


def _demo_with_syn(tmp_path: Path) -> tuple[Path, Path]:
    """A demo folder with one evaluation that compared against SyN, and a tiny bench file."""
    out, bench = tmp_path / "demo", tmp_path / "bench" / "register.json"
    bench.parent.mkdir()
    bench.write_text(json.dumps({"ants": {
        "model": "demo-w4a4-v1", "pairs": [{"pair": ["a", "b"]}, {"pair": ["b", "a"]}],
        "ants_seconds_mean": 1.234, "model_seconds_mean": 0.0567, "ants_dice_mean": 0.3851,
        "model_dice_mean": 0.3632, "speedup": 21.8}}))
    metrics = {"pairs": 2, "model": "demo-w4a4", "registered": SUMMARY,
               "identity": {**SUMMARY, "dice_mean": 0.3, "tre_mm": 6.0},
               "ceiling": {"syn": {"pairs": 2, "model_gain": 0.1, "syn_gain": 0.0851,
                                   "syn_dice": 0.3851, "fraction_of_syn_gain": 1.175,
                                   "from": str(bench)}}}
    (out / "eval" / "demo-w4a4__shipped").mkdir(parents=True)
    (out / "eval" / "demo-w4a4__shipped" / "metrics.json").write_text(json.dumps(metrics))
    return out, bench


def test_quoted_numbers_are_marked_with_their_file(tmp_path: Path) -> None:
    out, bench = _demo_with_syn(tmp_path)
    text = write_report(out, tmp_path / "no-data", bench=bench).read_text()
    assert "Every number below was computed by this run" in text
    assert "except those marked **quoted**" in text  # the old blanket claim is gone
    # SyN's Dice in the accuracy note: quoted, with its file; the fraction is computed here
    assert (f"SyN (**quoted**, not computed by this run): ANTs SyN on 2 of these pairs reached "
            f"Dice 0.385 ({bench}") in text
    assert "| 118 % |" in text  # 'of SyN gain': computed by this run from the quoted Dice
    # the timing section is quoted as a whole, from the file it was given
    assert f"## Timing vs ANTs SyN (quoted from {bench}, `make bench`)" in text
    assert "| ANTs SyN (default, 2 threads) | 1.234 | 0.385 |" in text
    assert "| demo-w4a4-v1 network (2 threads) | 0.057 | 0.363 |" in text
    assert f"**Quoted, not computed by this run**: every number in this section is read from " \
           f"{bench}" in text
    # the last section separates the two, one row per computed stage, one per quoted file
    last = text.split("## Where the numbers come from")[1]
    assert "| Registration accuracy | computed by this run | demo/eval/*/metrics.json" in last
    assert (f"| ants, syn_dice_on_eval_pairs | **quoted** (not computed by this run) | {bench} |"
            in last)
    quoted = json.loads((out / "results.json").read_text())["quoted"]
    assert quoted == {str(bench): {
        "syn_dice_on_eval_pairs": {"pairs": 2, "dice": 0.3851},
        "ants": {"model": "demo-w4a4-v1", "ants_seconds_mean": 1.234,
                 "model_seconds_mean": 0.0567, "ants_dice_mean": 0.3851,
                 "model_dice_mean": 0.3632, "speedup": 21.8}}}


def test_nothing_quoted_without_a_bench_file(tmp_path: Path) -> None:
    """Without SyN results the report quotes nothing and says SyN was not measured."""
    out = tmp_path / "demo"
    (out / "eval" / "demo-w4a4__shipped").mkdir(parents=True)
    (out / "eval" / "demo-w4a4__shipped" / "metrics.json").write_text(json.dumps(
        {"pairs": 2, "model": "demo-w4a4", "registered": SUMMARY,
         "identity": {**SUMMARY, "dice_mean": 0.3}}))
    missing = tmp_path / "none" / "register.json"
    text = write_report(out, tmp_path / "no-data", bench=missing).read_text()
    assert f"Not measured by this run and no {missing} to quote" in text
    assert "**quoted** (not computed by this run)" not in text.split("Where the numbers")[1]
    assert json.loads((out / "results.json").read_text())["quoted"] == {}
