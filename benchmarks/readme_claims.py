"""The machinery of ``check_readme_numbers.py``: a README claim, the results files the claims
cite, and the helpers that turn a README table row into claims (one per number it shows)."""

from __future__ import annotations

import json
import re
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
    path: str | Callable[[Any], Any]  # "a/b/0/c" into the JSON, or a function of it
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
    and 24 passes, the % of the oracle's gain at 24, folding at 24, real-brain parcels at 1 and
    24 passes."""
    key = f"rows/{name}/"
    claims = [Claim(row, LEV, key + "weights", "{:,}")]
    claims += [Claim(row, LEV, f"{key}settings/{i}/default_dice") for i in range(3)]
    claims += [Claim(row, LEV, f"{key}settings/{i}/real_brain_model_grid") for i in (0, 2)]
    claims.append(Claim(row, LEV, _pct(key + "fraction_of_oracle_gain_24"), "| {:.0f} % |"))
    return [*claims, Claim(row, LEV, f"{key}settings/2/folding_percent")]


def _lever_build(name: str, cell: str) -> list[Claim]:
    """The ZCU104 cell of a lever row (``cell``: LUT, BRAM_18K, DSP and the fit verdict)."""
    key = f"rows/{name}/build_zcu104_100/"

    def verdict(data: Any) -> str:
        return "fits" if _get(data, key + "fits") else "does not fit"

    return [Claim(cell, LEV, _k(key + "LUT"), "{:.1f} k LUT"),
            Claim(cell, LEV, key + "BRAM_18K", "{} BRAM_18K"),
            Claim(cell, LEV, key + "DSP", "{} DSP"),
            Claim(cell, LEV, verdict, ": {}")]


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
