"""The demo report: ``report.md``, ``report.html``, ``results.json`` and PNG figures.

Everything shown is read from what the demo's stages wrote (:mod:`.demo`, in the folders of
:mod:`.demo_layout`) or computed here from
the trained models; nothing is typed in. Numbers this run did not compute (ANTs SyN from the
committed ``benchmarks/results/register.json``) are *quoted*: marked so where they appear, with
their file, and listed apart in the report's last section and in ``results.json["quoted"]``.
The report is built as a list of blocks (headings,
paragraphs, tables, figures with captions, Markdown fragments of other stages) rendered to
Markdown; the HTML is that Markdown rendered by markdown-it-py (:mod:`.report_html`), figures
embedded. Files are written atomically.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.atomic import write_json, write_text
from hwreg.compile.boards import Board
from hwreg.studies.demo_layout import (
    BOARDS,
    HW_MODEL,
    PRUNED,
    SYN_BASELINE,
    evaluated_models,
    slug,
)
from hwreg.studies.report_html import markdown_to_html, shift_headings

Block = tuple[str, Any]


def _percent(value: float | None) -> str:
    """A fraction as ``"12 %"`` (``"-"`` when absent)."""
    return "-" if value is None or value != value else f"{100 * value:.0f} %"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _table(headers: list[str], rows: list[list[Any]]) -> Block:
    return ("table", (headers, [[_fmt(v) for v in row] for row in rows]))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if not np.isfinite(v) else f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def _numeric(cells: list[str]) -> bool:
    """True when every cell of a column reads as a number (right-aligned in the tables)."""
    return bool(cells) and all(re.match(r"^[-+]?(\d|nan$)", c) for c in cells)


def _to_markdown(blocks: list[Block]) -> str:
    """The report as Markdown; fragments from other stages (``md``) get their headings demoted
    below the report's sections; figures are an image and an italic caption paragraph."""
    lines: list[str] = []
    figure = 0
    for kind, body in blocks:
        if kind in ("h1", "h2"):
            lines += ["#" * int(kind[1]) + " " + body, ""]
        elif kind == "p":
            lines += [body, ""]
        elif kind == "table":
            headers, rows = body
            lines += ["| " + " | ".join(_cell(h) for h in headers) + " |",
                      "|" + "".join("---:|" if _numeric([r[k] for r in rows]) else "---|"
                                    for k in range(len(headers)))]
            lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
            lines.append("")
        elif kind == "img":
            figure += 1
            src, caption = body
            lines += [f"![Figure {figure}]({src})", "", f"*Figure {figure}. {caption}*", ""]
        elif kind == "md":
            lines += [shift_headings(body.strip(), 3), ""]
    return "\n".join(lines)


def _registration_figure(out: Path, data: Path) -> Path | None:
    """Fixed / moving / warped slices of the shipped W4A4 model on the first held-out pair."""
    import torch

    from hwreg.checkpoint import load_model
    from hwreg.data.datasets import find_subjects, prepare_subject, split
    from hwreg.evaluate import predict_ddf
    from hwreg.studies.figures import registration_figure
    from hwreg.warp import warp_image_np, warp_labels_np

    model, cfg, _ = load_model(HW_MODEL)
    cfg.data.root = data
    _, test = split(find_subjects(cfg.data), cfg.data)
    fixed, moving = (prepare_subject(s, cfg.data) for s in test[:2])
    with torch.no_grad():
        ddf = predict_ddf(model, fixed.image, moving.image)
    return registration_figure(
        fixed.image, moving.image, warp_image_np(moving.image, ddf), fixed.labels,
        moving.labels, warp_labels_np(moving.labels, ddf), ddf, out / "fig_registration.png",
        f"demo-w4a4: {moving.id} -> {fixed.id} (held out; axial mid slice, one pixel per voxel)")


def write_report(out: Path, data: Path, full: bool = False, embed_images: bool = True,
                 bench: Path = SYN_BASELINE) -> Path:
    """Write ``report.md``, ``report.html`` (the Markdown rendered by markdown-it-py; figures
    embedded as data URIs unless ``embed_images`` is False), ``results.json`` and figures into
    ``out``. ``bench``: the committed ANTs SyN results (``make bench``) the report quotes."""
    results: dict[str, Any] = {"models": {}, "full": full, "quoted": {}}
    blocks: list[Block] = [("h1", "hwreg demo report"), (
        "p", "Label-driven, quantization-aware 3D registration on the embedded default data "
             "(synthetic subjects from the IBSR atlas; MGH CMA), compiled with FINN for an FPGA. "
             "Every number below was computed by this run" + (" (full schedule)" if full else
                                                               " (CPU-short schedules)")
             + ", except those marked **quoted**: they are read from committed results files, "
               "named where they appear and listed in the last section.")]
    # accuracy
    rows, evals = [], {}
    for label in evaluated_models(out):
        m = _read(out / "eval" / slug(label) / "metrics.json")
        if m is None:
            continue
        evals[label] = m
        ident, reg = m["identity"], m["registered"]
        ceiling = m.get("ceiling", {})
        syn = ceiling.get("syn", {})
        rows.append([label, m.get("passes", "-"), m["pairs"], ident["dice_mean"],
                     f"{reg['dice_mean']:.3f} ± "
                     f"{reg['dice_sd']:.3f}", ident["tre_mm"], reg["tre_mm"],
                     reg["folding_percent"], reg["dice_mean"] - ident["dice_mean"],
                     _percent(ceiling.get("fraction_of_oracle_gain")),
                     _percent(syn.get("fraction_of_syn_gain"))])
        results["models"][label] = m["model"]
    oracle = next((v["ceiling"]["oracle_dice"] for v in evals.values()
                   if "oracle_dice" in v.get("ceiling", {})), None)
    syn_note = next((v["ceiling"]["syn"] for v in evals.values()
                     if "syn" in v.get("ceiling", {})), None)
    note = ("The oracle warps each moving label map by the true fixed-to-moving map of the "
            "synthetic data on the model grid" + (f" (Dice {oracle:.3f}): the ceiling of any DDF"
                                                 " on this grid." if oracle else "."))
    if syn_note:
        source = syn_note.get("from", str(bench))
        note += (f" SyN (**quoted**, not computed by this run): ANTs SyN on {syn_note['pairs']} "
                 f"of these pairs reached Dice {syn_note['syn_dice']:.3f} ({source}, written by "
                 "`make bench`); the 'of SyN gain' column is computed by this run from that "
                 "quoted Dice, comparing the gains on those pairs.")
        results["quoted"].setdefault(source, {})["syn_dice_on_eval_pairs"] = {
            "pairs": syn_note["pairs"], "dice": syn_note["syn_dice"]}
    blocks += [("h2", "Registration accuracy on held-out pairs"),
               _table(["model", "passes per pair", "pairs", "Dice before", "Dice after ± sd",
                       "TRE before (mm)",
                       "TRE after (mm)", "folding %", "Dice gain", "of oracle gain",
                       "of SyN gain"], rows), ("p", note)]
    results["accuracy"] = {k: {"dice_before": v["identity"]["dice_mean"],
                               "dice": v["registered"]["dice_mean"],
                               "ceiling": v.get("ceiling", {}),
                               "tre_mm": v["registered"]["tre_mm"],
                               "folding_percent": v["registered"]["folding_percent"]}
                           for k, v in evals.items()}
    blocks += _dice_blocks(out, evals)
    try:
        _registration_figure(out, data)
        blocks.append(("img", ("fig_registration.png", (
            "The shipped W4A4 model on the first held-out pair: fixed, moving and warped moving "
            "image (axial mid slice) with label contours, the DDF as a deformed grid and its "
            "Jacobian determinant (blue < 1 < red). Look for: warped contours closer to the "
            "fixed ones than the moving ones, and no Jacobian at or below 0 (folding)."))))
    except Exception as exc:  # a figure must not sink the report
        blocks.append(("p", f"(registration figure not drawn: {type(exc).__name__}: {exc})"))
    blocks += _compression_blocks(out, results)
    blocks += _hardware_blocks(out, BOARDS, results)
    blocks += _ants_blocks(bench, results)
    blocks += _provenance_blocks(out, results["quoted"])
    text = _to_markdown(blocks)
    write_text(out / "report.md", text)
    write_text(out / "report.html", markdown_to_html(text, "hwreg demo report", out,
                                                     embed=embed_images))
    write_json(out / "results.json", results)
    return out / "report.md"


def _dice_blocks(out: Path, evals: dict[str, Any]) -> list[Block]:
    """Dice per IBSR structure of the shipped models (horizontal bars, structure names)."""
    from hwreg.data.labels import ibsr_label_names
    from hwreg.studies.figures import structure_dice_figure

    shipped = [k for k in evals if "shipped" in k]
    if not shipped:
        return []
    names = {str(k): v for k, v in ibsr_label_names().items()}
    series = {k.replace(" (shipped)", ""): evals[k]["registered"]["dice_per_label"]
              for k in shipped}
    before = evals[shipped[0]]["identity"]["dice_per_label"]
    pairs = evals[shipped[0]]["pairs"]
    structure_dice_figure(series, names, out / "fig_dice_per_label.png",
                          f"Dice per structure after registration ({pairs} held-out pairs)",
                          before=before)
    return [("img", ("fig_dice_per_label.png", (
        "Mean Dice per IBSR structure (names from the atlas's ibsr.csv) after registration with "
        "each shipped model, best structure of the first model at the top; black ticks: before "
        "registration. Look for: bars well right of their tick (the gain), and structures where "
        "the quantized or pruned model falls behind the float one.")))]


def _compression_blocks(out: Path, results: dict[str, Any]) -> list[Block]:
    """Pruning report and the bit-width x sparsity sweep (table and plots as the sweep wrote)."""
    blocks: list[Block] = [("h2", "Compression: pruning and the bit-width x sparsity sweep")]
    sparsity = _read(out / "models" / PRUNED / "sparsity.json")
    if sparsity is not None:
        results["pruning"] = {k: v for k, v in sparsity.items() if not isinstance(v, (list, dict))}
        blocks.append(("p", "W4A4 pruned to 50 % by global magnitude, fine-tuned with the masks "
                            "held: per-layer sparsity in models/w4a4-p50/sparsity.md."))
    table = out / "sweep" / "table.md"
    if table.is_file():
        blocks.append(("md", table.read_text()))
        for png, caption in SWEEP_FIGURES.items():
            if (out / "sweep" / png).is_file():
                blocks.append(("img", (f"sweep/{png}", caption)))
        results["sweep_table"] = str(out / "sweep" / "table.csv")
    return blocks


#: The sweep's plots (:func:`hwreg.studies.sweep_report.write_plots`) and their captions.
SWEEP_FIGURES = {
    "dice_vs_bits.png": (
        "Held-out Dice against weight/activation bits, one line per target sparsity (float "
        "drawn at 32 bits); bars: 95 % confidence interval of the mean over the held-out pairs. "
        "Look for: the bit width below which Dice drops out of the float point's interval."),
    "dice_vs_model_bits.png": (
        "Held-out Dice against model size (non-zero weight bits, log scale), one marker per "
        "bit width; bars: 95 % confidence interval of the mean over pairs. Look for: the "
        "smallest model whose interval still overlaps the float model's."),
}


def _fit_cell(perf: dict[str, Any]) -> str:
    """``yes``, or ``does not fit (needs N BRAM_18K of C)`` for each resource over capacity."""
    if perf["fits"]:
        return "yes"
    over = perf.get("over_capacity") or {k: 0 for k, u in perf["utilisation"].items() if u > 1}
    return "does not fit (" + ", ".join(
        f"needs {perf['totals'][k]} {k} of {perf['capacity'][k]}" for k in over) + ")"


def _hardware_blocks(out: Path, boards: tuple[Board, ...], results: dict[str, Any]
                     ) -> list[Block]:
    from hwreg.studies.figures import layer_cycles_figure

    blocks: list[Block] = [("h2", "FINN build of demo-w4a4 (estimates, 200 MHz)")]
    rows = []
    for board in (b.value for b in boards):
        perf = _read(out / "build" / board / "report" / "estimate_network_performance.json")
        if perf is None:
            continue
        t, u = perf["totals"], perf["utilisation"]
        rows.append([board, perf["estimated_pairs_per_s"] if perf["fits"] else "-",
                     *[f"{t[k]} ({100 * u[k]:.1f}%)" if k in t else "-"
                       for k in ("LUT", "BRAM_18K", "URAM", "DSP")],
                     f"{perf.get('fifo_bits', 0) / 1024:.0f}", _fit_cell(perf),
                     perf["pipeline_balance_mvau"]])
        results.setdefault("hardware", {})[board] = {
            "pairs_per_s": perf["estimated_pairs_per_s"], "fits": perf["fits"], **t,
            "fifo_bits": perf.get("fifo_bits"), "over_capacity": perf.get("over_capacity", {})}
    blocks.append(_table(["board", "pairs/s", "LUT", "BRAM_18K", "URAM", "DSP", "FIFOs (kbit)",
                          "fits", "balance (MVAU)"], rows))
    blocks.append(("p", "Totals include every buffer: layer memories (window and upsample "
                        "buffers, weights, thresholds), the FIFOs between layers and the width "
                        "converters (BUILD/fifo_depths.json, report/estimates.md)."))
    emu = _read(out / "emulation" / "emulation.json")
    blocks += _dataflow_blocks(out / "build" / Board.zcu104.value, out, emu)
    layers = _read(out / "build" / Board.zcu104.value / "report"
                   / "estimate_layer_resources_cycles.json")
    if layers:
        perf = _read(out / "build" / Board.zcu104.value / "report"
                     / "estimate_network_performance.json") or {}
        layer_cycles_figure({n: v["cycles"] for n, v in layers.items()},
                            out / "fig_cycles_per_layer.png",
                            "ZCU104: expected cycles per layer (one volume pair)",
                            perf.get("clock_MHz"))
        blocks.append(("img", ("fig_cycles_per_layer.png", (
            "FINN's expected cycles per layer for one pair, in graph order; colour and the "
            "dashed line: the slowest layer, which sets the pairs/s. Look for: how many layers "
            "sit at the line (a balanced pipeline) and which cheap layers could be folded "
            "less to save resources."))))
        blocks.append(_table(["layer", "impl", "cycles", "LUT", "BRAM_18K", "DSP"],
                             [[n, v["impl"], v["cycles"], v["LUT"], v["BRAM_18K"], v["DSP"]]
                              for n, v in layers.items()]))
        blocks.append(("p", "FINN reports 0 LUT for its RTL MVAU (DSP-based). Per layer "
                            "without its input FIFOs; the board table's totals include them."))
    if emu is not None:
        blocks.append(("h2", "Bit-exact emulation (L1 Brevitas, L2 QONNX, L3 FINN HW graph)"))
        blocks.append(_table(["level", "max abs diff vs L1 (integers)", "ms per pair"],
                             [[k, v["max_abs_diff_vs_L1"], 1e3 * v["time_s_per_pair"]]
                              for k, v in emu["levels"].items()]))
        acc = emu.get("accuracy", {})
        blocks.append(_table(["level", "Dice", "TRE (mm)", "folding %"],
                             [[k, v["dice"], v["tre_mm"], v["folding_percent"]]
                              for k, v in acc.items()]))
        blocks.append(("p", f"{emu['pairs']} pairs; bit-exact: {emu['exact']}. L0 is the float "
                            "model demo-float; L3 is the integer hardware graph of demo-w4a4."))
        blocks += _rtl_blocks(emu)
        results["emulation"] = {"exact": emu["exact"], "pairs": emu["pairs"],
                                "levels": emu["levels"]}
    return blocks


def _dataflow_blocks(build: Path, out: Path, emu: dict[str, Any] | None) -> list[Block]:
    """The accelerator drawn (:mod:`hwreg.compile.dataflow`): redrawn as ``fig_dataflow.png``
    with the FIFO depths the emulation's L5 sized by simulation when the build has none of its
    own, else the build's ``report/dataflow.png``."""
    caption = ("The accelerator as FINN builds it for ZCU104: one box per hardware layer with "
               "its op, folding (PE/SIMD) and expected cycles per pair, coloured by its share "
               "of the slowest layer (red border); arrows carry the stream width in bits per "
               "beat (a -> b: a width converter) and the FIFO depth in entries; the dashed "
               "stream is the U-Net's skip. Look for: the red boxes (the bottleneck) and the "
               "deep FIFOs, which cost memory.")
    l5 = (emu or {}).get("L5", {})
    try:
        from qonnx.core.modelwrapper import ModelWrapper

        from hwreg.compile.dataflow import write_build_dataflow
        from hwreg.compile.steps import hw_graph_path

        paths = write_build_dataflow(
            build, ModelWrapper(str(hw_graph_path(build))), stem=out / "fig_dataflow",
            depths=l5.get("fifo_depths"),
            depths_source=f"sized by the L5 simulation ({l5.get('fifo_sizing', '')}, "
                          "emulation.json)")
        if paths:
            return [("img", (paths[1].name, caption))]
    except Exception as exc:  # a figure must not sink the report
        if (build / "report" / "dataflow.png").is_file():
            return [("img", (f"build/{build.name}/report/dataflow.png", caption))]
        return [("p", f"(dataflow diagram not drawn: {type(exc).__name__}: {exc})")]
    return []


def _rtl_blocks(emu: dict[str, Any]) -> list[Block]:
    """L4/L5 of ``hwreg emulate --level rtl`` (Verilator), when the emulation ran them."""
    l4, l5 = emu.get("L4"), emu.get("L5")
    if l4 is None or l5 is None:
        return [("p", "L4/L5 (RTL under Verilator) were not run: `hwreg emulate --level rtl`.")]
    rows = [["L4: every layer's RTL vs L3", f"{l4['layers_exact']}/{l4['layers']} layers exact",
             f"{l4['sim_cycles']} cycles simulated in {l4['time_s']} s"]]
    if "cycles_one_volume" in l5:
        rows.append(["L5: stitched accelerator vs L3", f"exact: {l5['exact']}",
                     f"{l5['cycles_one_volume']} cycles per volume; interval "
                     f"{l5['interval_cycles']} cycles vs FINN's slowest layer "
                     f"{l5['finn_max_layer_cycles']} "
                     f"({100 * (l5['interval_cycles'] / l5['finn_max_layer_cycles'] - 1):+.1f} "
                     f"%); {l5['sim_cycles_per_s'] / 1e6:.2f} M cycles/s simulated"
                     + (f"; FIFOs {l5['fifo_sizing']} ({l5['fifo_bits'] / 1024:.0f} kbit)"
                        if "fifo_bits" in l5 else "")])
    else:
        rows.append(["L5: stitched accelerator", "not run", l5.get("why", "")])
    return [("h2", "RTL emulation without Vivado (L4 per layer, L5 stitched; Verilator)"),
            _table(["level", "result", "cycles"], rows),
            ("p", f"On {l4.get('pair', 'the first pair')}: every layer's generated RTL (the "
                  "project's 3D ops, FINN's MVAU_rtl and Thresholding_rtl, the add/fork RTL) "
                  "streamed with its L3 inputs and compared bit for bit.")]


def _ants_blocks(path: Path, results: dict[str, Any]) -> list[Block]:
    """Timing vs ANTs SyN: quoted from the committed ``make bench`` results (the demo does not
    run ANTs), labelled as such."""
    bench = _read(path)
    if not bench or "ants" not in bench:
        return [("h2", "Timing vs ANTs SyN"),
                ("p", f"Not measured by this run and no {path} to quote: run `make bench` "
                      "(needs .venv-ants).")]
    a = bench["ants"]
    results["quoted"].setdefault(str(path), {})["ants"] = {
        k: a[k] for k in ("model", "ants_seconds_mean", "model_seconds_mean", "ants_dice_mean",
                          "model_dice_mean", "speedup")}
    return [("h2", f"Timing vs ANTs SyN (quoted from {path}, `make bench`)"),
            _table(["method", "seconds per pair (quoted)", "Dice (quoted)"],
                   [["ANTs SyN (default, 2 threads)", a["ants_seconds_mean"], a["ants_dice_mean"]],
                    [f"{a['model']} network (2 threads)", a["model_seconds_mean"],
                     a["model_dice_mean"]]]),
            ("p", f"**Quoted, not computed by this run**: every number in this section is read "
                  f"from {path}, which `make bench` wrote on {len(a['pairs'])} held-out pairs on "
                  f"the same model grid (speed-up {a['speedup']:.0f}x); the model it timed is "
                  "the one named there, which may predate the shipped one.")]


#: What the demo's stages wrote, by report section (computed by this run).
COMPUTED_SOURCES = (
    ("Registration accuracy", "eval/*/metrics.json (hwreg evaluate)"),
    ("Compression", "models/w4a4-p50/sparsity.json, sweep/table.md (hwreg prune, hwreg sweep)"),
    ("FINN build", "build/<board>/report/*.json (hwreg build)"),
    ("Emulation, L4/L5", "emulation/emulation.json (hwreg emulate)"),
)


def _provenance_blocks(out: Path, quoted: dict[str, Any]) -> list[Block]:
    """The last section: which numbers this run computed (and from which of its files) and
    which it quotes (and from which committed file)."""
    rows = [[section, "computed by this run", f"{out.name}/{source}"]
            for section, source in COMPUTED_SOURCES]
    rows += [[", ".join(sorted(values)), "**quoted** (not computed by this run)", source]
             for source, values in quoted.items()]
    return [("h2", "Where the numbers come from"),
            _table(["numbers", "provenance", "file"], rows)]
