"""Check the README's measured numbers against the committed results files they cite.

Each claim is a piece of README text (whitespace-insensitive), the committed file the README
names for it (``benchmarks/results/*.json``, written by ``benchmarks/*.py`` / ``make bench``, or
a shipped model file, written by ``hwreg train``/``prune``), a path into that file and how the
README rounds the value. A claim fails when its text is no longer in the README (reworded: update
the table) or when the value in the file, rounded as the README rounds it, is not in that text
(a stale number). Reads JSON and one model file's metrics; no training, a second or two.

Usage: ``python benchmarks/check_readme_numbers.py [--readme README.md]`` (exit 1 on a failure;
``tests/test_readme_numbers.py`` runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
R = "benchmarks/results/"


@dataclass(frozen=True)
class Claim:
    """README ``text`` shows the value at ``path`` of ``source`` as ``fmt.format(value)``."""

    text: str
    source: str  # relative to the repository root
    path: str | Callable[[Any], float]  # "a/b/0/c" into the JSON, or a function of it
    fmt: str = "{:.3f}"


def _frac(gain: str, ceiling: str) -> Callable[[Any], float]:
    """100 x one value over another (a fraction of a gain, in %)."""
    return lambda d: 100 * _get(d, gain) / _get(d, ceiling)


def _k(path: str) -> Callable[[Any], float]:
    """A value in thousands (``8.1 k``)."""
    return lambda d: _get(d, path) / 1000


def _pct(path: str) -> Callable[[Any], float]:
    """A fraction in % (``35 %``)."""
    return lambda d: 100 * _get(d, path)


def _lever_row(name: str, row: str) -> list[Claim]:
    """A row of the levers-on-the-cascade-trained-model table: weights, default Dice at 1, 3
    and 24 passes, folding at 24, real-brain parcels at 1 and 24 passes."""
    key = f"rows/{name}/"
    claims = [Claim(row, LEV, key + "weights", "{:,}")]
    claims += [Claim(row, LEV, f"{key}settings/{i}/default_dice") for i in range(3)]
    claims += [Claim(row, LEV, f"{key}settings/{i}/real_brain_model_grid") for i in (0, 2)]
    return [*claims, Claim(row, LEV, f"{key}settings/2/folding_percent")]


def _brain_row(row: str, source: str, model: str, fraction: bool = True) -> list[Claim]:
    """A real-brain table row: parcel and tissue Dice, the % of SyN's gain, seconds per pair."""
    key = f"models/{model}/"
    claims = [Claim(row, source, key + "parcels/after"), Claim(row, source, key + "tissue/after"),
              Claim(row, source, key + "seconds_per_pair", "{:.0f}")]
    if fraction:
        claims.append(Claim(row, source, _pct(key + "parcels/fraction_of_syn_gain"), "{:.0f} %"))
    return claims


def _accuracy_row(model: str, cells: str, src: str = "") -> list[Claim]:
    """A row of the accuracy table (``cells``: Dice before to the fraction of SyN's gain), from
    ``src`` (default: accuracy.json)."""
    key, src = f"models/{model}/", src or ACC
    return [Claim(cells, src, key + "dice_before", "| {:.3f} |"),
            Claim(cells, src, key + "dice", "| {:.3f} ±"),
            Claim(cells, src, key + "dice_sd", "± {:.2f} |"),
            Claim(cells, src, key + "tre_mm", "| {:.2f} |"),
            Claim(cells, src, key + "folding_percent", "| {:.3f} |"),
            Claim(cells, src, _pct(key + "fraction_of_oracle_gain"), "| {:.0f} % |"),
            Claim(cells, src, key + "syn/dice_on_syn_pairs", "| {:.3f} |"),
            Claim(cells, src, _pct(key + "syn/fraction_of_syn_gain"), "| {:.0f} % |")]


def _passes_row(setting: str, cells: str, src: str = "") -> list[Claim]:
    """A row of a passes table: ``src``'s (default passes.json) ``setting`` (Dice, folding, real
    brain, pairs/s on the two ZCU104 folds)."""
    src = src or PASSES

    def field(key: str) -> Callable[[Any], float]:
        return lambda d: next(r[key] for r in d["settings"] if r["setting"] == setting)

    def rate(build: int) -> Callable[[Any], float]:
        return lambda d: d["builds"][build]["passes_per_s"] / field("passes")(d)

    return [Claim(cells, src, field(k), fmt) for k, fmt in (
        ("passes", "| {} |"), ("default_dice", "| {:.3f} |"), ("folding_percent", "| {:.3f} |"),
        ("real_brain_model_grid", "| {:.3f} |"))] + [
        Claim(cells, src, rate(b), "| {:.1f} |") for b in (0, 1)]


def _board_row(board: str, cells: str) -> list[Claim]:
    """A row of the FIFO section's board table (``cells``: LUT to FIFOs): LUT, BRAM_18K used /
    capacity, DSP, FIFO bits."""
    key, row = f"boards/{board}/", f"| {board} | {cells} |"
    return [Claim(row, BOARDS, key + "totals/LUT", f"| {board} | " + "{:,} |"),
            Claim(row, BOARDS, lambda d: "{} / {}".format(
                _get(d, key + "totals/BRAM_18K"), _get(d, key + "capacity/BRAM_18K")), "{}"),
            Claim(row, BOARDS, key + "totals/DSP", "| {} |"),
            Claim(row, BOARDS, lambda d: _get(d, key + "fifo_bits") / 1e6, "{:.1f} Mbit")]


def _layer_share(board: str, key: str) -> Callable[[Any], float]:
    """Percent of ``board``'s ``key`` capacity that its layers (no FIFOs) take, boards.json."""
    return lambda d: 100 * _get(d, f"boards/{board}/totals_layers/{key}") / _get(
        d, f"boards/{board}/capacity/{key}")


def _bit_row(key: str, row: str) -> list[Claim]:
    """A row of the ECP5 bitstream table: ``bitstream.json``'s ``key`` run (LUT4, FF, EBR,
    MULT18X18D used, Fmax, Yosys and nextpnr seconds)."""
    fields = {"utilisation/LUT/used": "| {:,} |", "utilisation/FF/used": "| {:,} |",
              "utilisation/BRAM_18K/used": "| {} |", "utilisation/DSP/used": "| {} |",
              "fmax_MHz": "{:.1f} MHz", "yosys_s": "| {:.0f} s |", "nextpnr_s": "| {:.0f} s |"}
    return [Claim(row, BIT, f"{key}/{path}", fmt) for path, fmt in fields.items()]


MODULE_FMAX = R + "module_fmax.json"


def _module_row(case: str, row: str) -> list[Claim]:
    """A row of the per-module Fmax table (``module_fmax.json``): Fmax, LUT4 and FF before
    (main's RTL) and after."""
    return [Claim(row, MODULE_FMAX, f"{case}/{when}/{key}", fmt)
            for when in ("before", "after")
            for key, fmt in (("fmax_MHz", "{:.1f} MHz"), ("LUT4", "{:,}"), ("FF", "{}"))]


RB, RB1, RB2, RB3, RB4 = (R + f"realbrain{v}.json" for v in (
    "", "_v1_models", "_v2_models", "_v3_models", "_v4_models"))
ACC, LEVERS, LEV = R + "accuracy.json", R + "levers_w4a4.json", R + "levers_cascade.json"
S24 = R + "register_speed_24.json"
ACC1, RB1P, PASSES = R + "accuracy_1pass.json", R + "realbrain_1pass.json", R + "passes.json"
PASSES_V4 = R + "passes_v4.json"
REG, SPEED, COMPILE, RTL, SYNTH = (R + f for f in (
    "register.json", "register_speed.json", "compile.json", "rtl.json", "synth.json"))
P50 = "hwreg/models/demo-w4a4-p50.pt"
BOARDS = R + "boards.json"
FIFO_BOUND = R + "fifo_bound.json"
FIT, BIT = R + "ecp5_fit.json", R + "bitstream.json"
FIT_ROW = ("it fits: 39,195 LUT4 (47 %), 146 EBR (70 %), 106 MULT18X18D (68 %), 32.2 pairs/s "
           "at 100 MHz")
SYN_ROW = "| ANTs SyN (antspyx default, 2 threads) | 0.908 | 0.949 | 100 % | 206 "
V1_ROW = "| 0.706 / 0.710 | 0.802 / 0.800 | -16 % / -14 % | 21-22 |"
V2_ROW = "| 0.777 / 0.777 | 0.850 / 0.854 | 25 % / 25 % | 13-14 |"
V3_ROW = "| 0.793 / 0.791 | 0.866 / 0.864 | 34 % / 33 % | 13-14 |"
V4_ROW = "| 0.829 / 0.831 | 0.894 / 0.895 | 55 % / 56 % | 4 |"
FLOAT_ROW = "| 0.779 | 0.855 | 26 % | 27 (machine loaded) |"
W4_ROW = "| 0.799 | 0.870 | 37 % | 7 |"
P50_ROW = "| demo-w4a4-p50, one pass (`results/realbrain_1pass.json`) | 0.797 | 0.869 | 36 % | 5 |"
LEVER = "| W4A4: "
STEP = "| per pair in batch mode (read to write) | 2.4 | 2.9 |"


def _step_row(row: str, keys: tuple[str, ...], fmt: str = "{:.2f}") -> list[Claim]:
    """A row of the end-to-end step table: each key's CPU seconds on this branch, then before
    (``cpu_seconds_per_step_main``), as the row shows them."""
    return [Claim(row, SPEED, f"{entry}/{key}", fmt) for key in keys
            for entry in ("cpu_seconds_per_step", "cpu_seconds_per_step_main")]

#: The README's measured numbers and where they come from, section by section.
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
    # the 24-pass default on an idle machine (register_speed_24.json)
    Claim("takes 6.1 s of wall time (7.9 CPU s)", S24, "summary/hwreg_wall_s", "{:.1f} s"),
    Claim("takes 6.1 s of wall time (7.9 CPU s)", S24, "summary/hwreg_cpu_s", "{:.1f} CPU"),
    Claim("and 3.4 s in\nthe process", S24, "summary/hwreg_in_process_s", "{:.1f} s"),
    *(Claim("(load 0.41, resample in 0.22, network 0.89 for all 24 passes, resample out 1.16,\n"
            "write 0.58 on pair 0)", S24, f"pairs/0/hwreg/in_process_s/{k}", "{:.2f}")
      for k in ("load", "resample_in", "network", "resample_out", "write")),
    Claim("the parcels go from 0.730 to 0.853 (SyN 0.906)", S24, "summary/dice_before"),
    Claim("the parcels go from 0.730 to 0.853 (SyN 0.906)", S24, "summary/hwreg_dice"),
    Claim("the parcels go from 0.730 to 0.853 (SyN 0.906)", S24, "summary/syn_dice"),
    Claim("Batch mode: 0.27 pairs/s.", S24, "batch/pairs_per_second", "{:.2f}"),
    Claim("3.7 ms wall (8.7 ms CPU)", S24, "host/model_grid_ms", "{:.1f} ms"),
    Claim("3.7 ms wall (8.7 ms CPU)", S24, "host/model_grid_cpu_ms", "{:.1f} ms"),
    Claim("at 1 mm 1.5 s", S24, lambda d: _get(d, "host/one_mm_ms") / 1000, "{:.1f} s"),
    Claim("the file's ratio is 42x", S24, "summary/ratio_wall", "{:.0f}x"),
    Claim("from a loaded run (254 s)", S24, "summary/syn_wall_s", "{:.0f} s"),
    # levers on the cascade-trained model
    *(claim for name, text in (
        ("demo-w4a4", "(the start) | 74,443 | 0.433 / 0.483 / 0.538 | 0.063 | 0.771 / 0.800 |"),
        ("lc", "| control (no change) | 74,443 | 0.438 / 0.482 / 0.541 | 0.041 | 0.766 / 0.800 |"),
        ("li", "(`model.integrate: 7`) | 74,443 | 0.430 / 0.485 / 0.538 | 0.000 | 0.770 / 0.798 |"),
        ("lm", "weight 3) | 74,443 | 0.430 / 0.504 / 0.537 | 0.054 | 0.765 / 0.796 |"),
        ("lh", "`train.init_partial`) | 78,995 | 0.430 / 0.496 / 0.543 | 0.006 | 0.765 / 0.794 |"),
      )
      for claim in _lever_row(name, text)),
    Claim("100.0 k LUT, 1281 BRAM_18K, 426 DSP: does not fit", LEV,
          _k("rows/lh/build_zcu104_100/LUT"), "{:.1f} k"),
    Claim("100.0 k LUT, 1281 BRAM_18K, 426 DSP: does not fit", LEV,
          "rows/lh/build_zcu104_100/BRAM_18K", "{} BRAM"),
    Claim("100.0 k LUT, 1281 BRAM_18K, 426 DSP: does not fit", LEV, "rows/lh/build_zcu104_100/DSP",
          "{} DSP"),
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
    *_step_row("import torch` / `import hwreg.runtime.register` (no Brevitas now) | 1.97 / 2.36 "
               "| 2.68 / 5.63 |", ("import_torch_cpu_s", "import_register_module_cpu_s")),
    *_step_row("(inference form; before: Brevitas network) | 0.01 | 0.31 |", ("load_model",)),
    *_step_row("| read fixed + moving + labels (gzip, 3 threads) | 0.47 | 0.53 |", ("load",)),
    *_step_row("model grid (torch) | 0.15 | 0.15 |", ("resample_in",)),
    *_step_row("before: Brevitas fake-quant) | 0.09 | 0.14 |", ("network",)),
    *_step_row("warp image and labels (torch) | 1.10 | 1.19 |", ("resample_out",)),
    *_step_row("| 0.61 (`.nii`: 0.37) | 0.85 (`.nii`: 0.53) |", ("write_nii.gz", "write_nii")),
    *_step_row(STEP, ("per_pair_batch",), "{:.1f}"),
    Claim("**This session's machine was loaded** (load average 7-9 on 2 cores", SPEED,
          lambda d: "{:.0f}-{:.0f}".format(*_span(d["machine"]["loadavg_start"]
                                                  + d["machine"]["loadavg_end"])), "{}"),
    Claim("one process 22 s (7 s CPU), batch 0.068 pairs/s", SPEED, "summary/hwreg_wall_s",
          "{:.0f}"),
    Claim("one process 22 s (7 s CPU), batch 0.068 pairs/s", SPEED, "summary/hwreg_cpu_s",
          "{:.0f}"),
    Claim("one process 22 s (7 s CPU), batch 0.068 pairs/s", SPEED, "batch/pairs_per_second"),
    Claim("Dice of the warped parcels 0.730 -> 0.797 (SyN 0.906)", SPEED, "summary/dice_before"),
    Claim("Dice of the warped parcels 0.730 -> 0.797 (SyN 0.906)", SPEED, "summary/hwreg_dice"),
    Claim("Dice of the warped parcels 0.730 -> 0.797 (SyN 0.906)", SPEED, "summary/syn_dice"),
    Claim("registration time only: 254 s)", SPEED, "summary/syn_registration_s", "{:.0f}"),
    Claim("so the 11.3x ratio in the file", SPEED, "summary/ratio_wall", "{:.1f}x"),
    Claim("6.5 ms CPU per pair (wall on the loaded machine: 149 ms)", SPEED,
          "host/model_grid_cpu_ms", "{:.1f}"),
    Claim("6.5 ms CPU per pair (wall on the loaded machine: 149 ms)", SPEED,
          "host/model_grid_ms", "{:.0f}"),
    Claim("warp of an image and a label map: 2.7 CPU s", SPEED, _k("host/one_mm_cpu_ms"),
          "{:.1f}"),
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
    # compile: RTL emulation
    Claim("L4 21/21 (head_level 0) and 12/12", RTL, lambda d: _get(d, "rows/0/L4_layers_exact"),
          "{}"),
    Claim("L4 21/21 (head_level 0) and 12/12", RTL, lambda d: _get(d, "rows/1/L4_layers_exact"),
          "{}"),
    Claim("The demo network (shipped `demo-w4a4`, 48x64x48, folded for 100 pairs/s on ZCU104; "
          "`hwreg emulate --model demo-w4a4 --build B --pairs 1 --level rtl --out E`): **L4 27/27",
          RTL, lambda d: _get(d, "rows/2/L4_layers_exact"), "{}"),
    Claim("165,888 cycles = FINN's slowest layer", RTL, "rows/0/L5_interval_cycles", "{:,}"),
    Claim("head_level 1: 110,592, +0.0 %", RTL, "rows/1/L5_interval_cycles", "{:,}"),
    Claim("1.1 M (2.0 M) cycles/s simulated", RTL, lambda d: _get(d, "rows/0/sim_cycles_per_s")
          / 1e6, "{:.1f} M"),
    Claim("1.1 M (2.0 M) cycles/s simulated", RTL, lambda d: _get(d, "rows/1/sim_cycles_per_s")
          / 1e6, "{:.1f} M"),
    Claim("interval between volumes is then **1,990,657 cycles vs FINN's slowest layer 1,990,656",
          RTL, "rows/2/L5_interval_cycles", "{:,}"),
    Claim("interval between volumes is then **1,990,657 cycles vs FINN's slowest layer 1,990,656",
          RTL, "rows/2/finn_max_layer_cycles", "{:,}"),
    Claim("each within 7 % of FINN's cycle estimate", RTL,
          lambda d: 100 * (_get(d, "rows/2/L4_max_cycles_over_finn") - 1), "{:.0f} %"),
    Claim("(0.23 M in `bench_rtl.py --demo`;", RTL, lambda d: _get(d, "rows/2/sim_cycles_per_s")
          / 1e6, "{:.2f} M"),
    # FIFOs and the fit verdict (benchmarks/bench_boards.py)
    *_board_row("ZCU104", "12,857 | 336 / 624 | 0 | 142 | 1.4 Mbit"),
    *_board_row("KV260", "66,535 | 244 / 288 | 0 | 142 | 1.4 Mbit"),
    *_board_row("Pynq-Z2", "17,535 | 324 / 280 | 0 | 142 | 1.4 Mbit"),
    *_board_row("U250", "12,857 | 336 / 5376 | 0 | 142 | 1.4 Mbit"),
    Claim("| ZCU104 | 12,857 | 336 / 624 | 0 | 142 | 1.4 Mbit | yes, 100.5 pairs/s |", BOARDS,
          "boards/ZCU104/estimated_pairs_per_s", "{:.1f} pairs/s"),
    Claim("yes (skip FIFO in LUTRAM: 49 k LUT), 100.5 pairs/s", BOARDS,
          _k("boards/KV260/skips/0/LUT"), "{:.0f} k LUT"),
    Claim("no: needs 324 BRAM_18K (44 over)", BOARDS, "boards/Pynq-Z2/over_capacity/BRAM_18K",
          "({} over)"),
    Claim("The layers alone read 8.1 k LUT and 244 BRAM_18K on every board", BOARDS,
          _k("boards/ZCU104/totals_layers/LUT"), "{:.1f} k LUT"),
    Claim("The layers alone read 8.1 k LUT and 244 BRAM_18K on every board", BOARDS,
          "boards/ZCU104/totals_layers/BRAM_18K", "{} BRAM_18K"),
    Claim("16 channels x 4 bits = 1.18 Mbit per pair) is the largest buffer: 80 BRAM_18K on "
          "ZCU104", BOARDS, "boards/ZCU104/skips/0/BRAM_18K", "{} BRAM_18K"),
    Claim("16 channels x 4 bits = 1.18 Mbit per pair)", BOARDS,
          lambda d: _get(d, "boards/ZCU104/skips/0/bits_per_pair") / 1e6, "{:.2f} Mbit"),
    Claim("| 12.9 k LUT (6 %), 336 BRAM_18K (54 %), 0 URAM, 142 DSP (8 %) |", BOARDS,
          _k("boards/ZCU104/totals/LUT"), "{:.1f} k"),
    Claim("| 12.9 k LUT (6 %), 336 BRAM_18K (54 %), 0 URAM, 142 DSP (8 %) |", BOARDS,
          lambda d: 100 * _get(d, "boards/ZCU104/totals/LUT") / _get(
              d, "boards/ZCU104/capacity/LUT"), "({:.0f} %)"),
    Claim("| 12.9 k LUT (6 %), 336 BRAM_18K (54 %), 0 URAM, 142 DSP (8 %) |", BOARDS,
          lambda d: 100 * _get(d, "boards/ZCU104/totals/BRAM_18K") / _get(
              d, "boards/ZCU104/capacity/BRAM_18K"), "({:.0f} %)"),
    # the analytic FIFO bound against a sizing simulation (benchmarks/bench_fifo_bound.py)
    Claim("within the analytic bound (0 FIFOs below it), no probe FIFO saturated (0)",
          FIFO_BOUND, lambda d: len(_get(d, "below")), "({} FIFOs below it)"),
    Claim("within the analytic bound (0 FIFOs below it), no probe FIFO saturated (0)",
          FIFO_BOUND, lambda d: len(_get(d, "saturated")), "saturated ({})"),
    Claim("1.44 Mbit analytic vs 0.35 Mbit simulated", FIFO_BOUND,
          lambda d: _get(d, "analytic_bits") / 1e6, "{:.2f} Mbit analytic"),
    Claim("1.44 Mbit analytic vs 0.35 Mbit simulated", FIFO_BOUND,
          lambda d: _get(d, "simulated_bits") / 1e6, "{:.2f} Mbit simulated"),
    Claim("probe in 4,758,270 cycles (5,167,499 before)", FIFO_BOUND,
          "probe_cycles_two_volumes", "{:,} cycles"),
    Claim("probe in 4,758,270 cycles (5,167,499 before)", R + "fifo_bound_before.json",
          "probe_cycles_two_volumes", "({:,} before)"),
    Claim("its 31,232-entry probe FIFO", R + "fifo_bound_before.json",
          "fifos/fifo_t_act_4/probe_depth", "{:,}-entry"),
    Claim("interval of 1,990,657 cycles between volumes vs FINN's slowest layer 1,990,656",
          FIFO_BOUND, "l5_analytic/interval_cycles", "{:,} cycles"),
    Claim("interval of 1,990,657 cycles between volumes vs FINN's slowest layer 1,990,656",
          FIFO_BOUND, "l5_analytic/finn_max_layer_cycles", "layer {:,}"),
    Claim("L5 with the analytic depths is exact", FIFO_BOUND,
          lambda d: "exact" if _get(d, "l5_analytic/exact") else "not exact", "is {}"),
    # compile: Yosys
    Claim("| demo-w4a4 MVAU_0 (54x8, W8, A8) | deployed | 1.6 % | 15.6 k (107 s) | 53.5 k |",
          SYNTH, _k("layers/1/yosys/LUT"), "{:.1f} k"),
    Claim("| demo-w4a4 MVAU_0 (54x8, W8, A8) | deployed | 1.6 % | 15.6 k (107 s) | 53.5 k |",
          SYNTH, _k("layers/1/finn_unrolled/LUT"), "{:.1f} k"),
    Claim("| demo-w4a4 MVAU_0 (54x8, W8, A8) | deployed | 1.6 % | 15.6 k (107 s) | 53.5 k |",
          SYNTH, _pct("layers/1/zeros"), "{:.1f} %"),
    Claim("| deployed | 24.3 % | 22.9 k (318 s) | 152.5 k |", SYNTH, _k("layers/4/yosys/LUT"),
          "{:.1f} k"),
    Claim("| deployed | 24.3 % | 22.9 k (318 s) | 152.5 k |", SYNTH,
          _k("layers/4/finn_unrolled/LUT"), "{:.1f} k"),
    Claim("| deployed | 24.3 % | 22.9 k (318 s) | 152.5 k |", SYNTH, _pct("payoff/deployed/zeros"),
          "{:.1f} %"),
    Claim("| 50 % | 50.0 % | 15.8 k (282 s) | (same) |", SYNTH, _k("payoff/pruned/LUT"),
          "{:.1f} k"),
    Claim("| deployed | 1.5 % | 26.6 k (1280 s) | 85.9 k |", SYNTH, _k("layers/25/yosys/LUT"),
          "{:.1f} k"),
    Claim("| deployed | 1.5 % | 26.6 k (1280 s) | 85.9 k |", SYNTH,
          _k("layers/25/finn_unrolled/LUT"), "{:.1f} k"),
    Claim("| deployed | 1.5 % | 26.6 k (1280 s) | 85.9 k |", SYNTH, "layers/25/yosys/seconds",
          "{:.0f} s"),
    Claim("30.9 % fewer LUTs on the demo layer", SYNTH, _pct("payoff/lut_reduction"),
          "{:.1f} %"),
    Claim("the whole `bench_synth.py` run took 26 minutes (MVAU_7 alone 21)", SYNTH,
          lambda d: _get(d, "seconds") / 60, "{:.0f} minutes"),
    Claim("BRAM_18K 72, 16, 8, 8, 4, 15, 9, 8 against", SYNTH,
          lambda d: ", ".join(str(g["yosys"]["BRAM_18K"]) for g in _windows(d)), "{}"),
    Claim("against hwreg's estimates of 72, 16, 8, 8, 8, 16, 10, 8", SYNTH,
          lambda d: ", ".join(str(g["finn_estimate"]["BRAM_18K"]) for g in _windows(d)), "{}"),
    Claim("the eight window generators take 835-1408 LUT, 331-363 FF, no DSP", SYNTH,
          lambda d: "{}-{} LUT".format(*_span(g["yosys"]["LUT"] for g in _windows(d))), "{}"),
    Claim("the eight window generators take 835-1408 LUT, 331-363 FF, no DSP", SYNTH,
          lambda d: "{}-{} FF".format(*_span(g["yosys"]["FF"] for g in _windows(d))), "{}"),
    # ECP5: the largest demo-family build that fits (benchmarks/bench_ecp5_fit.py)
    Claim("100, 50, 25 pairs/s need 343, 300, 218 EBR of the 208", FIT,
          lambda d: ", ".join(str(r["totals"]["BRAM_18K"]) for r in d["builds"][:3]), "{}"),
    Claim("On a 40x48x40 grid, folded for 25 pairs/s", FIT,
          lambda d: "{}x{}x{} grid, folded for {:g}".format(
              *_get(d, "largest_fitting/grid"), _get(d, "largest_fitting/target_fps")), "{}"),
    Claim(FIT_ROW, FIT, "largest_fitting/totals/LUT", "{:,} LUT4"),
    Claim(FIT_ROW, FIT, lambda d: 100 * _get(d, "largest_fitting/totals/LUT") / _get(
        d, "largest_fitting/capacity/LUT"), "({:.0f} %)"),
    Claim(FIT_ROW, FIT, "largest_fitting/totals/BRAM_18K", "{} EBR"),
    Claim(FIT_ROW, FIT, lambda d: 100 * _get(d, "largest_fitting/totals/BRAM_18K") / _get(
        d, "largest_fitting/capacity/BRAM_18K"), "({:.0f} %)"),
    Claim(FIT_ROW, FIT, "largest_fitting/totals/DSP", "{}"),
    Claim(FIT_ROW, FIT, lambda d: 100 * _get(d, "largest_fitting/totals/DSP") / _get(
        d, "largest_fitting/capacity/DSP"), "({:.0f} %)"),
    Claim(FIT_ROW, FIT, "largest_fitting/estimated_pairs_per_s", "{:.1f} pairs/s"),
    # ECP5 bitstreams of the tiny network (benchmarks/bench_bitstream.py)
    Claim("Yosys mapped it to 269 EBR and 184 MULT18X18D", BIT,
          "demo40_f25_before/utilisation/BRAM_18K/used", "{} EBR"),
    Claim("Yosys mapped it to 269 EBR and 184 MULT18X18D", BIT,
          "demo40_f25_before/utilisation/DSP/used", "{} MULT"),
    Claim("(`demo40_f25_before`: hwreg's estimate 145 and 106)", BIT,
          "demo40_f25_before/estimate/BRAM_18K", "estimate {} and"),
    Claim("(`demo40_f25_before`: hwreg's estimate 145 and 106)", BIT,
          "demo40_f25_before/estimate/DSP", "and {})"),
    Claim("folded for half that rate, 257 EBR and\n  92 MULT18X18D (`demo40_f12_before`)", BIT,
          "demo40_f12_before/utilisation/BRAM_18K/used", "{} EBR"),
    Claim("folded for half that rate, 257 EBR and\n  92 MULT18X18D (`demo40_f12_before`)", BIT,
          "demo40_f12_before/utilisation/DSP/used", "{} MULT"),
    *(Claim("(`demo40_f12`, 2.4 MB): 52,213 LUT4 (62 %), 7,008 FF,\n  206 of the 208 EBR, 92 of "
            "the 156 MULT18X18D; **36.5 MHz achieved**", BIT, f"demo40_f12/{path}", fmt)
      for path, fmt in (("utilisation/LUT/used", "{:,} LUT4"), ("utilisation/FF/used", "{:,} FF"),
                        ("utilisation/BRAM_18K/used", "{} of the 208"),
                        ("utilisation/DSP/used", "{} of the 156"),
                        ("fmax_MHz", "{:.1f} MHz achieved"))),
    Claim("Yosys 638 s, nextpnr 1809 s", BIT, "demo40_f12/yosys_s", "Yosys {:.0f} s"),
    Claim("Yosys 638 s, nextpnr 1809 s", BIT, "demo40_f12/nextpnr_s", "nextpnr {:.0f} s"),
    Claim("runs 5.9 passes/s (6.2 M cycles a pass", BIT,
          lambda d: _get(d, "demo40_f12/fmax_MHz") * 1e6 / _get(d, "demo40_f12/bottleneck_cycles"),
          "{:.1f} passes/s"),
    Claim("runs 5.9 passes/s (6.2 M cycles a pass", BIT,
          lambda d: _get(d, "demo40_f12/bottleneck_cycles") / 1e6, "({:.1f} M cycles"),
    *(Claim("estimate for the build: 33,912 LUT4,\n  139 EBR, 92 MULT18X18D", BIT,
            f"demo40_f12/estimate/{k}", fmt)
      for k, fmt in (("LUT", "{:,} LUT4"), ("BRAM_18K", "{} EBR"), ("DSP", "{} MULT"))),
    *_bit_row("tiny", "| 24,545 | 4,352 | 23 | 21 | 39.5 MHz (100): missed, no .bit "
                      "| 528 s | 2734 s |"),
    *_bit_row("tiny_40", "| 23,720 | 4,230 | 24 | 19 | 39.7 MHz (40): missed, no .bit "
                         "| 867 s | 1650 s |"),
    *_bit_row("tiny_met", "| 23,775 | 4,230 | 24 | 19 | **41.1 MHz (30): met, `tiny30.bit`** "
                          "| 315 s | 1452 s |"),
    Claim("362 pairs/s at its 30 MHz clock (82,944 cycles a pair; 495 at the 41.1 MHz achieved)",
          BIT, lambda d: _get(d, "tiny_met/pll_MHz") * 1e6 / _get(d, "tiny_met/bottleneck_cycles"),
          "{:.0f} pairs/s"),
    Claim("362 pairs/s at its 30 MHz clock (82,944 cycles a pair; 495 at the 41.1 MHz achieved)",
          BIT, "tiny_met/pairs_per_s_at_fmax", "; {:.0f} at"),
    Claim("its critical path, 24.3 ns (7.5 logic, 16.3 routing)", BIT,
          "tiny_met/critical_path/delay_ns", "{:.1f} ns"),
    Claim("The 40 MHz run missed by 0.3 MHz (478 pairs/s at its 39.7 MHz", BIT,
          "tiny_40/pairs_per_s_at_fmax", "({:.0f} pairs/s"),
    *(Claim("| same network, hwreg's estimate (LUT6 x 3, FIFOs counted) | 18,351 | - | 13 | 19 |",
            BIT, f"tiny_40/estimate/{k}", "| {:,} |") for k in ("LUT", "BRAM_18K", "DSP")),
    # compile: bench_compile.py
    Claim("| 100.5 pairs/s (bottleneck 1.99 M cycles/pair) |", COMPILE, "estimated_pairs_per_s",
          "{:.1f}"),
    Claim("| 100.5 pairs/s (bottleneck 1.99 M cycles/pair) |", COMPILE,
          lambda d: _get(d, "clock_MHz") / _get(d, "estimated_pairs_per_s"), "{:.2f} M"),
    Claim("| 8.1 k LUT (4 %), 244 BRAM_18K (39 %), 0 URAM, 142 DSP (8 %) |", BOARDS,
          _layer_share("ZCU104", "LUT"), "({:.0f} %)"),
    Claim("| 8.1 k LUT (4 %), 244 BRAM_18K (39 %), 0 URAM, 142 DSP (8 %) |", BOARDS,
          _layer_share("ZCU104", "BRAM_18K"), "({:.0f} %)"),
    Claim("| 8.1 k LUT (4 %), 244 BRAM_18K (39 %), 0 URAM, 142 DSP (8 %) |", BOARDS,
          _layer_share("ZCU104", "DSP"), "({:.0f} %)"),
    Claim("| 29.2 k LUT (13 %), 220 BRAM_18K (35 %), 0 URAM, 0 DSP |", COMPILE,
          _k("per_mvau_style/hls/totals/LUT"), "{:.1f} k"),
    Claim("| 29.2 k LUT (13 %), 220 BRAM_18K (35 %), 0 URAM, 0 DSP |", COMPILE,
          _pct("per_mvau_style/hls/utilisation/LUT"), "({:.0f} %)"),
    Claim("| 0.99 / 0.45 | >= 0.8 |", COMPILE, "pipeline_balance_mvau", "{:.2f}"),
    Claim("| 0.99 / 0.45 | >= 0.8 |", COMPILE, "pipeline_balance_all_layers", "{:.2f}"),
    Claim("| 0.42 s vs 0.055 s (7.6x) |", COMPILE, "time_s_per_pair/L3_finn_hw_python",
          "{:.2f}"),
    Claim("| 0.42 s vs 0.055 s (7.6x) |", COMPILE, "time_s_per_pair/L0_float_torch"),
    Claim("| 0.42 s vs 0.055 s (7.6x) |", COMPILE, "L3_over_float_torch", "{:.1f}x"),
    *_module_row("swg3d_s1_c8_simd8", "| 46.5 MHz, 2,101, 439 | 100.0 MHz, 956, 309 |"),
    *_module_row("swg3d_s2_c4_simd1", "| 46.7 MHz, 2,010, 413 | 98.8 MHz, 893, 279 |"),
    *_module_row("swg3d_4x4x4_c8_simd2", "| 48.1 MHz, 2,106, 418 | 98.3 MHz, 785, 254 |"),
    *_module_row("chain_fifo_dwc_swg3d", "| 44.4 MHz, 2,230, 532 | 97.3 MHz, 987, 398 |"),
    *_module_row("upsample3d_c8_pe1", "| 76.7 MHz, 1,202, 337 | 145.6 MHz, 412, 78 |"),
)


def _windows(synth: Any) -> list[dict[str, Any]]:
    """The 3D window generators of a ``synth.json``, in graph order."""
    return [g for g in synth["layers"] if g["layer"].startswith("ConvolutionInputGenerator3D")]


def _span(values: Any) -> tuple[Any, Any]:
    values = list(values)
    return min(values), max(values)


def _get(data: Any, path: str) -> Any:
    """``data`` at a ``/``-separated path (list items by index)."""
    for key in path.split("/"):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


@cache
def _load(source: str) -> Any:
    """A results file's JSON, or a model file's ``metrics``."""
    path = ROOT / source
    if path.suffix == ".pt":
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)["metrics"]
    return json.loads(path.read_text())


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


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
