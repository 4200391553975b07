"""The sweep's table (CSV and Markdown) and plots, from its finished points' files.

Per point: Dice mean and sd, TRE (mm) and folding % on the held-out pairs (``eval/metrics.json``);
the measured global sparsity of the deployed (integer, where quantized) conv weights; the
non-zero weight bits (non-zero weights x their bits, float = 32) and the compression ratio vs the
dense float32 conv weights (sparse index overhead not counted).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwreg.atomic import atomic_path, write_text
from hwreg.checkpoint import load_model
from hwreg.compress import sparsity_report

if TYPE_CHECKING:
    from hwreg.studies.sweep_plan import Point, SweepConfig

COLUMNS = ("point", "stage", "bits", "target_sparsity", "sparsity", "dice_mean", "dice_sd",
           "dice_vs_float", "dice_vs_float_ci95", "tre_mm", "folding_percent",
           "nonzero_weight_bits", "compression")
#: FINN estimate columns (quantized points of a sweep with ``estimates: true``).
HW_COLUMNS = ("LUT", "BRAM_18K", "DSP", "pairs_per_s")
STAGES = ("trained", "pruned", "pruned + re-trained", "quantized")


def point_row(point: Point, folder: Path) -> dict[str, Any] | None:
    """The table row of a finished point (None if it has no results)."""
    metrics = folder / "eval" / "metrics.json"
    if not metrics.exists() or not (folder / "model.pt").exists():
        return None
    result = json.loads(metrics.read_text())
    reg = result["registered"]
    report = sparsity_report(load_model(folder)[0])
    return {"point": point.name, "stage": point.stage or "",
            "bits": "float" if point.bits is None else point.bits,
            "target_sparsity": point.sparsity, "sparsity": round(report["sparsity"], 4),
            "dice_mean": round(reg["dice_mean"], 4), "dice_sd": round(reg["dice_sd"], 4),
            "tre_mm": round(reg["tre_mm"], 3), "folding_percent": round(reg["folding_percent"], 4),
            "nonzero_weight_bits": report["nonzero_bits"],
            "compression": round(report["compression"], 2), **hardware_columns(folder),
            "pair_dice": {tuple(r["pair"]): r["dice_after"] for r in result.get("rows", [])}}


def paired_difference(values: dict[tuple, float], reference: dict[tuple, float]
                      ) -> tuple[float, float, int]:
    """Mean paired Dice difference ``values - reference`` over the pairs both have, the half
    width of its 95 % confidence interval (Student t) and the number of pairs."""
    diffs = [values[k] - reference[k] for k in values if k in reference]
    n = len(diffs)
    if n == 0:
        return float("nan"), float("nan"), 0
    return sum(diffs) / n, mean_ci95(diffs), n


def add_float_differences(rows: list[dict[str, Any]]) -> None:
    """Fill ``dice_vs_float`` / ``dice_vs_float_ci95``: each point's paired Dice difference to
    the dense float point on the same held-out pairs ("4-bit costs X +- Y Dice")."""
    reference = next((r for r in rows if r["bits"] == "float" and r["target_sparsity"] == 0),
                     None)
    for r in rows:
        if reference is None or r is reference:
            r["dice_vs_float"], r["dice_vs_float_ci95"] = ("", "") if reference is None else (0, 0)
            continue
        mean, half, _ = paired_difference(r["pair_dice"], reference["pair_dice"])
        r["dice_vs_float"] = round(mean, 4) if math.isfinite(mean) else ""
        r["dice_vs_float_ci95"] = round(half, 4) if math.isfinite(half) else ""


def hardware_columns(folder: Path) -> dict[str, Any]:
    """LUT, BRAM_18K, DSP and pairs/s of a point's FINN estimates ("" when it has none)."""
    path = folder / "build" / "report" / "estimate_network_performance.json"
    if not path.exists():
        return dict.fromkeys(HW_COLUMNS, "")
    r = json.loads(path.read_text())
    return {"LUT": r["totals"]["LUT"], "BRAM_18K": r["totals"]["BRAM_18K"],
            "DSP": r["totals"]["DSP"], "pairs_per_s": round(r["estimated_pairs_per_s"], 1)}


def _md_row(r: dict[str, Any], first: str, hw: bool) -> str:
    extra = "".join(f" {r[k]} |" for k in HW_COLUMNS) if hw else ""
    delta = (f"{r['dice_vs_float']:+.3f} ± {r['dice_vs_float_ci95']:.3f}"
             if isinstance(r["dice_vs_float_ci95"], float) else "-")
    return (f"| {first} | {r['bits']} | {100 * r['target_sparsity']:g} % | "
            f"{100 * r['sparsity']:.1f} % | {r['dice_mean']:.3f} ± {r['dice_sd']:.3f} | "
            f"{delta} | "
            f"{r['tre_mm']:.2f} | {r['folding_percent']:.3f} | {r['nonzero_weight_bits']} | "
            f"{r['compression']:.1f}x |" + extra)


def table_markdown(rows: list[dict[str, Any]], grid: set[str], pairs: int | None) -> str:
    """The Markdown table: the grid, then the seed's Table 1 stages; FINN estimate columns
    (LUT, BRAM_18K, DSP, pairs/s; dense hardware: FINN does not skip zero weights) when any
    point has them."""
    hw = any(r["LUT"] != "" for r in rows)
    head = ["| {} | bits | target sparsity | sparsity | Dice mean ± sd | Dice vs float (95 % CI) "
            "| TRE (mm) | folding % | non-zero weight bits | compression vs float32 |"
            + (" LUT | BRAM_18K | DSP | pairs/s |" if hw else ""),
            "|---|---|---|---|---|---|---|---|---|---|" + ("---|" * 4 if hw else "")]
    lines = ["# Accuracy per bit width x sparsity", "",
             f"Every point evaluated on the same held-out pairs ({pairs or 'all'}). \"Dice vs "
             "float\" is the mean paired difference to the dense float point on those pairs, "
             "with the half width of its 95 % confidence interval (Student t over pairs): an "
             "interval that excludes 0 is a measured cost or gain.", "",
             head[0].format("point"), head[1]]
    lines += [_md_row(r, r["point"], hw) for r in rows if r["point"] in grid]
    staged = {r["stage"]: r for r in rows if r["stage"]}
    if staged:
        lines += ["", "## The seed's Table 1 stages", "", head[0].format("stage"), head[1]]
        lines += [_md_row(staged[s], f"{s} ({staged[s]['point']})", hw) for s in STAGES
                  if s in staged]
    return "\n".join(lines) + "\n"


def mean_ci95(values: list[float]) -> float:
    """Half width of the 95 % confidence interval of the mean of ``values`` (Student t;
    nan below two values)."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return float("nan")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))


def _dice_interval(r: dict[str, Any]) -> float:
    """A row's 95 % interval of the mean Dice over its pairs (its sd when it has no pairs)."""
    pairs = list(r.get("pair_dice", {}).values())
    half = mean_ci95(pairs)
    return half if math.isfinite(half) else r["dice_sd"]


def write_plots(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """``dice_vs_bits.png`` (one line per sparsity; float drawn at 32 bits) and
    ``dice_vs_model_bits.png`` (Dice vs non-zero weight bits, log scale); error bars: the 95 %
    confidence interval of the mean Dice over the held-out pairs. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def bits_value(r: dict[str, Any]) -> int:
        return 32 if r["bits"] == "float" else int(r["bits"])

    def save(fig: Any, path: Path) -> None:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)

    pairs = max((len(r.get("pair_dice", {})) for r in rows), default=0)
    ylabel = "held-out Dice (mean, 95 % CI; unitless)"
    paths = [out / "dice_vs_bits.png", out / "dice_vs_model_bits.png"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for s in sorted({r["target_sparsity"] for r in rows}):
        pts = sorted((bits_value(r), r["dice_mean"], _dice_interval(r)) for r in rows
                     if r["target_sparsity"] == s)
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                    marker="o", capsize=3, label=f"{100 * s:g} % sparse")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("weight and activation bits (float drawn at 32)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"Accuracy vs bit width ({pairs} held-out pairs per point)")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, paths[0])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for b in sorted({bits_value(r) for r in rows}):
        sel = [r for r in rows if bits_value(r) == b]
        ax.errorbar([max(1, r["nonzero_weight_bits"]) for r in sel],
                    [r["dice_mean"] for r in sel], yerr=[_dice_interval(r) for r in sel],
                    fmt="o", capsize=3, label="float" if b == 32 else f"w{b}a{b}")
    ax.set_xscale("log")
    ax.set_xlabel("model size: non-zero weight bits (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"Accuracy vs model size ({pairs} held-out pairs per point)")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, paths[1])
    return paths


def write_report(points: list[Point], out: Path, cfg: SweepConfig) -> list[dict[str, Any]]:
    """Write ``table.csv``, ``table.md`` and the plots for the finished points (atomically);
    returns rows."""
    rows = [r for p in points if (r := point_row(p, out / "points" / p.name)) is not None]
    add_float_differences(rows)
    with atomic_path(out / "table.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, *HW_COLUMNS], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    grid = {p.name for p in points if p.grid}
    write_text(out / "table.md", table_markdown(rows, grid, cfg.eval_pairs))
    grid_rows = [r for r in rows if r["point"] in grid and math.isfinite(r["dice_mean"])]
    if grid_rows:
        write_plots(grid_rows, out)
    return rows
