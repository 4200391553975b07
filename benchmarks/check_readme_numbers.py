"""Check the README's measured numbers against the committed results files they cite.

Each claim is a piece of README text (whitespace-insensitive), the committed file the README
names for it (``benchmarks/results/*.json``, written by ``benchmarks/*.py`` / ``make bench``, or
a shipped model file, written by ``hwreg train``/``prune``), a path into that file and how the
README rounds the value. A claim fails when its text is no longer in the README (reworded: update
the table) or when the value in the file, rounded as the README rounds it, is not in that text
(a stale number). Reads JSON and one model file's metrics; no training, a second or two.
The accuracy and speed claims are below, the hardware claims in ``readme_claims_hw.py``, the
claim type and the row helpers in ``readme_claims.py``.

Usage: ``python benchmarks/check_readme_numbers.py [--readme README.md]`` (exit 1 on a failure;
``tests/test_readme_numbers.py`` runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package
from readme_claims import (
    ACC,
    ACC1,
    BOARDS,
    FLOAT_ROW,
    LEVER,
    LEVERS,
    P50,
    P50_ROW,
    PASSES,
    PASSES_V4,
    RB,
    RB1,
    RB1P,
    RB2,
    RB3,
    RB4,
    REG,
    ROOT,
    SYN_ROW,
    V1_ROW,
    V2_ROW,
    V3_ROW,
    V4_ROW,
    W4_ROW,
    Claim,
    R,
    _accuracy_row,
    _brain_row,
    _get,
    _k,
    _lever_build,
    _lever_row,
    _load,
    _passes_row,
    _pct,
    _squash,
)
from readme_claims_hw import HARDWARE_CLAIMS
from readme_claims_register import REGISTER_CLAIMS

#: The README's measured numbers and where they come from, section by section.
DEMO = R + "demo_time.json"

CLAIMS: tuple[Claim, ...] = (
    # Measured results (accuracy): benchmarks/bench_accuracy.py
    Claim("ANTs SyN ran on the first 5 of them (`make bench`) and reached 0.385", REG,
          "ants/ants_dice_mean"),
    Claim("reaches Dice\n0.769 on these pairs", ACC, "models/demo-w4a4/oracle_dice"),
    *(claim for model, text in (
        ("demo-float-v1", "| 0.310 | 0.364 ± 0.04 | 8.01 | 0.001 | 12 % | 0.345 | 50 % |"),
        ("demo-w4a4-v2", "| 0.310 | 0.404 ± 0.05 | 6.92 | 0.003 | 21 % | 0.382 | 96 % |"),
        ("demo-w4a4-v3", "| 0.310 | 0.428 ± 0.04 | 6.31 | 0.001 | 26 % | 0.422 | 146 % |"),
        ("demo-float-v2", "| 0.310 | 0.450 ± 0.03 | 6.04 | 0.040 | 31 % | 0.443 | 172 % |"),
        ("demo-float", "| 0.310 | 0.495 ± 0.04 | 5.22 | 0.032 | 40 % | 0.474 | 211 % |"),
        ("demo-w4a4-v4", "| 0.310 | 0.499 ± 0.03 | 5.08 | 0.071 | 41 % | 0.487 | 226 % |"),
        ("demo-w4a4", "| 0.310 | 0.538 ± 0.03 | 4.51 | 0.063 | 50 % | 0.531 | 282 % |"),
        ("demo-w4a4-p50", "| 0.310 | 0.542 ± 0.02 | 4.40 | 0.055 | 51 % | 0.537 | 289 % |"))
      for claim in _accuracy_row(model, text)),
    *_accuracy_row("demo-w4a4-p50", "| 0.310 | 0.496 ± 0.03 | 5.16 | 0.062 | 41 % | 0.478 | "
                   "216 % |", R + "accuracy_v4_models.json"),
    *(claim for model, text in (
        ("demo-float", "| 0.310 | 0.402 ± 0.04 | 7.01 | 0.003 | 20 % | 0.389 | 105 % |"),
        ("demo-w4a4", "| 0.310 | 0.441 ± 0.04 | 6.01 | 0.000 | 29 % | 0.441 | 169 % |"),
        ("demo-w4a4-p50", "| 0.310 | 0.437 ± 0.04 | 6.04 | 0.000 | 28 % | 0.432 | 158 % |"))
      for claim in _accuracy_row(model, text, ACC1)),
    *(claim for setting, text in (
        ("0x1", "| 0 x 1 (one pass) | 1 | 0.433 | 0.000 | 0.771 | 100.5 | 401.9 |"),
        ("1x1", "| 1 x 1 (left-right) | 2 | 0.445 | 0.000 | 0.776 | 50.2 | 200.9 |"),
        ("3x1", "| 3 x 1 | 8 | 0.456 | 0.000 | 0.781 | 12.6 | 50.2 |"),
        ("1x2", "| 1 x 2 | 4 | 0.497 | 0.055 | 0.787 | 25.1 | 100.5 |"),
        ("3x2", "| 3 x 2 | 16 | 0.517 | 0.057 | 0.795 | 6.3 | 25.1 |"),
        ("1x3", "| 1 x 3 | 6 | 0.518 | 0.064 | 0.786 | 16.7 | 67.0 |"),
        ("3x3", "| **3 x 3 (shipped)** | 24 | 0.538 | 0.063 | 0.800 | 4.2 | 16.7 |"))
      for claim in _passes_row(setting, text)),
    *(claim for setting, text in (
        ("0x1", "| 0 x 1 (one pass) | 1 | 0.441 | 0.000 | 0.762 | 100.5 | 401.9 |"),
        ("1x1", "| 1 x 1 (left-right) | 2 | 0.458 | 0.000 | 0.767 | 50.2 | 200.9 |"),
        ("3x1", "| 3 x 1 | 8 | 0.460 | 0.000 | 0.771 | 12.6 | 50.2 |"),
        ("1x2", "| 1 x 2 | 4 | 0.487 | 0.078 | 0.767 | 25.1 | 100.5 |"),
        ("3x2", "| 3 x 2 (its shipped setting) | 16 | 0.499 | 0.071 | 0.783 | 6.3 | 25.1 |"),
        ("3x3", "| 3 x 3 | 24 | 0.509 | 0.092 | 0.783 | 4.2 | 16.7 |"))
      for claim in _passes_row(setting, text, PASSES_V4)),
    Claim("fold (12.9 k LUT, 336 BRAM_18K, 142 DSP)", PASSES, _k("builds/0/LUT"), "{:.1f} k"),
    Claim("fold (12.9 k LUT, 336 BRAM_18K, 142 DSP)", PASSES, "builds/0/BRAM_18K", "{} BRAM"),
    Claim("fold (12.9 k LUT, 336 BRAM_18K, 142 DSP)", PASSES, "builds/0/DSP", "{} DSP"),
    Claim("fold (15.7 k LUT, 480 BRAM_18K, 420 DSP)", PASSES, _k("builds/1/LUT"), "{:.1f} k"),
    Claim("fold (15.7 k LUT, 480 BRAM_18K, 420 DSP)", PASSES, "builds/1/BRAM_18K", "{} BRAM"),
    Claim("fold (15.7 k LUT, 480 BRAM_18K, 420 DSP)", PASSES, "builds/1/DSP", "{} DSP"),
    Claim("1 x 2 keeps 100 pairs/s\n(0.497 default Dice, 0.787 on the real brain", PASSES,
          "settings/3/default_dice"),
    Claim("1 x 2 keeps 100 pairs/s\n(0.497 default Dice, 0.787 on the real brain", PASSES,
          "settings/3/real_brain_model_grid"),
    Claim("third round pay on the real brain (0.783 -> 0.783 for v4", PASSES_V4,
          "settings/5/real_brain_model_grid"),
    Claim("0.795 -> 0.800 now)", PASSES, "settings/4/real_brain_model_grid"),
    Claim("0.795 -> 0.800 now)", PASSES, "settings/6/real_brain_model_grid"),
    # a real brain
    Claim("| identity (before) | 0.734 | 0.821 |", RB, "models/demo-w4a4/parcels/before"),
    Claim("| identity (before) | 0.734 | 0.821 |", RB, "models/demo-w4a4/tissue/before"),
    Claim(SYN_ROW, RB, "ants/parcels_after"),
    Claim(SYN_ROW, RB, "ants/tissue_after"),
    Claim(SYN_ROW, R + "realbrain_syn.json", "ants/seconds_per_pair", "{:.0f}"),
    *_brain_row(V1_ROW, RB1, "demo-float", fraction=False),
    *_brain_row(V1_ROW, RB1, "demo-w4a4", fraction=False),
    Claim(V1_ROW, RB1, lambda d: 100 * _get(d, "models/demo-float/parcels/gain") / _get(
        _load(RB), "models/demo-w4a4/parcels/syn_gain"), "{:.0f} %"),
    Claim(V1_ROW, RB1, lambda d: 100 * _get(d, "models/demo-w4a4/parcels/gain") / _get(
        _load(RB), "models/demo-w4a4/parcels/syn_gain"), "{:.0f} %"),
    *_brain_row(FLOAT_ROW, RB3, "demo-float"),
    *_brain_row(V3_ROW, RB3, "demo-w4a4"),
    *_brain_row(V3_ROW, RB3, "demo-w4a4-p50"),
    *_brain_row(V2_ROW, RB2, "demo-w4a4"),
    *_brain_row(V2_ROW, RB2, "demo-w4a4-p50"),
    *_brain_row(W4_ROW, RB1P, "demo-w4a4"),
    *_brain_row(P50_ROW, RB1P, "demo-w4a4-p50"),
    *_brain_row(V4_ROW, RB4, "demo-w4a4"),
    *_brain_row(V4_ROW, RB4, "demo-w4a4-p50"),
    *_brain_row("(the previous demo-float, 16 passes; `results/realbrain_float_v2.json`) | 0.810 "
                "| 0.877 | 44 % | 5 |", R + "realbrain_float_v2.json", "demo-float"),
    *_brain_row("| **demo-float** (shipped: trained through 2 cascade passes; 24 passes) | 0.848 "
                "| 0.908 | 65 % | 4 |", RB, "demo-float"),
    *_brain_row("(shipped: trained through 2 cascade passes; 24 passes: flips 3, cascade 3) | "
                "0.856 | 0.914 | 71 % | 3 |", RB, "demo-w4a4"),
    *_brain_row("| **demo-w4a4-p50** (shipped, 24 passes) | 0.856 | 0.914 | 70 % | 3 |", RB,
                "demo-w4a4-p50"),
    Claim("is **met** by the W4A4 models: 71 % of SyN's parcel gain", RB,
          _pct("models/demo-w4a4/parcels/fraction_of_syn_gain"), "{:.0f} %"),
    Claim("and 70 % for its 50 % pruned version (55 % for the previous", RB,
          _pct("models/demo-w4a4-p50/parcels/fraction_of_syn_gain"), "{:.0f} %"),
    Claim("(55 % for the previous W4A4 model,\n37 % for it with one pass", RB4,
          _pct("models/demo-w4a4/parcels/fraction_of_syn_gain"), "{:.0f} %"),
    Claim("(55 % for the previous W4A4 model,\n37 % for it with one pass", RB1P,
          _pct("models/demo-w4a4/parcels/fraction_of_syn_gain"), "{:.0f} %"),
    Claim("trained through the cascade too, reaches 65 %", RB,
          _pct("models/demo-float/parcels/fraction_of_syn_gain"), "{:.0f} %"),
    Claim("(44 % before: demo-float-v2)", R + "realbrain_float_v2.json",
          _pct("models/demo-float/parcels/fraction_of_syn_gain"), "{:.0f} %"),
    Claim("raised it from 0.450 (demo-float-v2)\nto 0.495", ACC, "models/demo-float-v2/dice"),
    Claim("raised it from 0.450 (demo-float-v2)\nto 0.495", ACC, "models/demo-float/dice"),
    Claim("scores 0.929 parcel Dice at 1 mm", R + "realbrain_ceiling.json",
          "rows/0/true_map_at_6mm"),
    Claim("(0.933 at full resolution; pair 0;", R + "realbrain_ceiling.json",
          "rows/0/true_map_1mm"),
    # levers on the cascade-trained model
    *(claim for name, text in (
        ("demo-w4a4", "start) | 74,443 | 0.433 / 0.483 / 0.538 | 50 % | 0.063 | 0.771 / 0.800 |"),
        ("lc", "change) | 74,443 | 0.438 / 0.482 / 0.541 | 50 % | 0.041 | 0.766 / 0.800 |"),
        ("li", "7`) | 74,443 | 0.430 / 0.485 / 0.538 | 50 % | 0.000 | 0.770 / 0.798 |"),
        ("lm", "weight 3) | 74,443 | 0.430 / 0.504 / 0.537 | 50 % | 0.054 | 0.765 / 0.796 |"),
        ("lh", "init_partial`) | 78,995 | 0.430 / 0.496 / 0.543 | 51 % | 0.006 | 0.765 / 0.794 |"),
        ("lw", "grown) | 166,095 | 0.438 / 0.506 / 0.539 | 50 % | 0.040 | 0.767 / 0.798 |"),
        ("ld", "grown) | 323,467 | 0.441 / 0.502 / 0.548 | 52 % | 0.052 | 0.767 / 0.801 |"),
        ("lw2", "grown) | 294,035 | 0.438 / 0.495 / 0.546 | 52 % | 0.057 | 0.775 / 0.801 |"),
        ("lf", "grown) | 736,659 | 0.423 / 0.481 / 0.537 | 50 % | 0.071 | 0.756 / 0.798 |"),
        ("ls", "grown) | 77,038 | 0.433 / 0.489 / 0.542 | 51 % | 0.057 | 0.767 / 0.800 |"),
      )
      for claim in _lever_row(name, text)),
    *(claim for name, cell in (
        ("lh", "100.0 k LUT, 1281 BRAM_18K, 426 DSP: does not fit"),
        ("lw", "102.0 k LUT, 686 BRAM_18K, 420 DSP: does not fit"),
        ("ld", "20.3 k LUT, 474 BRAM_18K, 262 DSP: fits"),
        ("lw2", "126.1 k LUT, 491 BRAM_18K, 410 DSP: fits"),
        ("lf", "163.8 k LUT, 666 BRAM_18K, 570 DSP: does not fit"),
        ("ls", "15.7 k LUT, 421 BRAM_18K, 143 DSP: fits"))
      for claim in _lever_build(name, cell)),
    # levers (the W4A4 rows; the others are one-off)
    Claim("real brain, model grid (identity 0.731,", R + "levers_w4a4.json",
          "rows/demo-w4a4-v2/cascade_1/real_brain_before"),
    Claim(LEVER + "demo-w4a4-v2 (650 QAT steps from demo-float) | 650 | 0.404 | 0.745 |",
          R + "levers_w4a4.json", "rows/demo-w4a4-v2/cascade_1/default_dice"),
    Claim(LEVER + "demo-w4a4-v2 (650 QAT steps from demo-float) | 650 | 0.404 | 0.745 |",
          R + "levers_w4a4.json", "rows/demo-w4a4-v2/cascade_1/real_brain_model_grid"),
    Claim("1400 more QAT steps (control; not shipped) | 2050 | 0.406 | 0.746 |",
          R + "levers_w4a4.json", "rows/w4a4-same-recipe-2050/cascade_1/default_dice"),
    Claim("1400 more QAT steps (control; not shipped) | 2050 | 0.406 | 0.746 |",
          R + "levers_w4a4.json", "rows/w4a4-same-recipe-2050/cascade_1/real_brain_model_grid"),
    Claim("1325 more steps (not shipped) | 1975 | 0.415 | 0.756 |",
          R + "levers_w4a4.json", "rows/w4a4-warps-x2-1975/cascade_1/default_dice"),
    Claim("1325 more steps (not shipped) | 1975 | 0.415 | 0.756 |",
          R + "levers_w4a4.json", "rows/w4a4-warps-x2-1975/cascade_1/real_brain_model_grid"),
    Claim("(demo-w4a4-v3, the previous demo-w4a4) | 2250 | 0.428 | 0.760 |", LEVERS,
          "rows/demo-w4a4-v3/cascade_1/default_dice"),
    Claim("(demo-w4a4-v3, the previous demo-w4a4) | 2250 | 0.428 | 0.760 |", LEVERS,
          "rows/demo-w4a4-v3/cascade_1/real_brain_model_grid"),
    Claim("(demo-w4a4-v4, the previous demo-w4a4) | 2250 + 2200 | 0.441 | 0.762 |", LEVERS,
          "rows/demo-w4a4-average/cascade_1/default_dice"),
    Claim("(demo-w4a4-v4, the previous demo-w4a4) | 2250 + 2200 | 0.441 | 0.762 |", LEVERS,
          "rows/demo-w4a4-average/cascade_1/real_brain_model_grid"),
    Claim("(slope 0.42 on the synthetic subject", R + "ddf_recovery.json",
          "models/demo-w4a4/synthetic_max7mm/slope", "(slope {:.2f}"),
    Claim("correlates 0.65 with it at 14 mm (0.52 at 7 mm)", R + "ddf_recovery.json",
          "models/demo-w4a4/synthetic_max14mm/corr", "{:.2f} with"),
    Claim("same 74 k-weight `demo` network", P50, _k("sparsity/weights"), "{:.0f} k"),
    Claim("ZCU104 estimate 100.5 pairs/s, 8.1 k LUT, 244 BRAM_18K, 142 DSP", BOARDS,
          "boards/ZCU104/estimated_pairs_per_s", "{:.1f}"),
    Claim("ZCU104 estimate 100.5 pairs/s, 8.1 k LUT, 244 BRAM_18K, 142 DSP", BOARDS,
          _k("boards/ZCU104/totals_layers/LUT"), "{:.1f} k"),
    Claim("ZCU104 estimate 100.5 pairs/s, 8.1 k LUT, 244 BRAM_18K, 142 DSP", BOARDS,
          "boards/ZCU104/totals_layers/BRAM_18K", "{:.0f}"),
    Claim("ZCU104 estimate 100.5 pairs/s, 8.1 k LUT, 244 BRAM_18K, 142 DSP", BOARDS,
          "boards/ZCU104/totals_layers/DSP", "{:.0f}"),
    # network speed vs SyN on the model grid
    Claim("| ANTs SyN (antspyx default `SyN`: affine + SyN) | 1.22 s | 0.385 |", REG,
          "ants/ants_seconds_mean", "{:.2f}"),
    Claim("| ANTs SyN (antspyx default `SyN`: affine + SyN) | 1.22 s | 0.385 |", REG,
          "ants/ants_dice_mean"),
    Claim("Brevitas fake-quant on CPU) | 0.066 s | 0.363 |", REG, "ants/model_seconds_mean"),
    Claim("Brevitas fake-quant on CPU) | 0.066 s | 0.363 |", REG, "ants/model_dice_mean"),
    Claim("the network is 18x faster (`ants.speedup`)", REG, "ants/speedup", "{:.0f}x"),
    Claim("the previous model was 0.022 Dice below SyN", REG,
          lambda d: _get(d, "ants/ants_dice_mean") - _get(d, "ants/model_dice_mean")),
    Claim("took 1.0-1.2 s (`models.*.seconds_register_cli_path`)", REG,
          "models/demo-float/seconds_register_cli_path", "{:.1f}"),
    Claim("took 1.0-1.2 s (`models.*.seconds_register_cli_path`)", REG,
          "models/demo-w4a4/seconds_register_cli_path", "{:.1f}"),
    # end to end on 1 mm brains
    *REGISTER_CLAIMS,
    # pruning
    Claim("(49.2 % of all conv weights zero", P50, _pct("sparsity/sparsity"), "{:.1f} %"),
    # scaling out
    Claim("| 1 | 0.193 | 1.00x |", R + "ddp.json", "rows/0/pairs_per_s"),
    Claim("| 2 | 0.284 | 1.47x |", R + "ddp.json", "rows/1/pairs_per_s"),
    Claim("| 2 | 0.284 | 1.47x |", R + "ddp.json", "rows/1/speedup", "{:.2f}x"),
    # benchmarks
    Claim("| 120 s (6.7 s/subject) |", R + "data.json", "prepare_s", "{:.0f} s"),
    Claim("| 120 s (6.7 s/subject) |", R + "data.json",
          lambda d: _get(d, "prepare_s") / _get(d, "subjects"), "{:.1f} s/subject"),
    Claim("on an 80x96x80 grid (batch 1) | 28 ms |", R + "data.json",
          lambda d: 1000 * _get(d, "warp_image_s"), "{:.0f} ms"),
    Claim("label warp, same grid | 13 ms |", R + "data.json",
          lambda d: 1000 * _get(d, "warp_labels_s"), "{:.0f} ms"),
    # make demo on a fresh clone
    Claim("`make demo` took **8 min 39 s** (519 s)", DEMO, "make_demo_wall_s", "({:.0f} s)"),
    Claim("`make demo` took **8 min 39 s** (519 s)", DEMO,
          lambda d: divmod(round(_get(d, "make_demo_wall_s")), 60), "{0[0]} min {0[1]} s"),
    Claim("(load average 0.63 at the start)", DEMO, "load_average_at_start", "{:.2f}"),
    Claim("139 s of install, data preparation and report, then 380 s", DEMO,
          "install_data_and_report_s", "{:.0f} s of"),
    Claim("139 s of install, data preparation and report, then 380 s", DEMO, "stages_wall_s",
          "then {:.0f} s"),
    Claim("(emulation with L4/L5 256 s, compiling", DEMO, "stage_s/emulate", "{:.0f} s"),
    Claim("the trainings, 71-78 s, the pruning, 30 s", DEMO,
          lambda d: (_get(d, "stage_s/train float"), _get(d, "stage_s/train w4a4")),
          "{0[0]:.0f}-{0[1]:.0f} s"),
    Claim("the trainings, 71-78 s, the pruning, 30 s", DEMO, "stage_s/prune w4a4 50%",
          "pruning, {:.0f} s"),
    Claim("the sweep\n102 s at the end", DEMO, "stage_s/sweep", "{:.0f} s"),
    Claim("every level exact (L1 = L2 = L3, L4 27/27, L5). Earlier", DEMO,
          lambda d: (f"every level exact (L1 = L2 = L3, L4 {_get(d, 'L4_layers_exact')}, L5)"
                     if _get(d, "every_level_exact") and _get(d, "L5_exact") else "not exact"),
          "{}"),
    *HARDWARE_CLAIMS,
)



def check(readme: str, claims: tuple[Claim, ...] = CLAIMS) -> list[str]:
    """One line per claim that fails against ``readme``'s text; empty when all hold."""
    text, faults = _squash(readme), []
    for claim in claims:
        snippet = _squash(claim.text)
        if snippet not in text:
            faults.append(f"README no longer says {snippet!r} (reworded? update {__file__})")
            continue
        data = _load(claim.source)
        value = claim.path(data) if callable(claim.path) else _get(data, claim.path)
        shown = claim.fmt.format(value)
        if shown not in snippet:
            where = claim.path if isinstance(claim.path, str) else "a value computed from it"
            faults.append(f"{claim.source} [{where}] reads {shown}, the README says {snippet!r}")
    return faults


def main() -> None:
    """Print each failing claim; exit 1 when any fails."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args()
    faults = check(args.readme.read_text())
    for fault in faults:
        print(fault)
    print(f"{len(CLAIMS) - len(faults)}/{len(CLAIMS)} README numbers match their results files")
    sys.exit(1 if faults else 0)


if __name__ == "__main__":
    main()
