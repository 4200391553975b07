"""The demo report as people read it: ``report.html`` parsed with an HTML parser (tables are
tables, no Markdown left as text, every image embedded or resolving), the figure files, and the
dataflow diagram of a real tiny FINN build."""

from __future__ import annotations

import base64
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from qonnx.core.modelwrapper import ModelWrapper

from hwreg.atomic import TMP_PREFIX
from hwreg.compile.dataflow import dataflow_graph, write_build_dataflow
from hwreg.compile.fifos import read_fifo_depths
from hwreg.compile.steps import hw_graph_path, resume_build
from hwreg.data.labels import ibsr_label_names, read_label_names
from hwreg.studies.report import write_report
from hwreg.studies.report_html import markdown_to_html, shift_headings
from hwreg.studies.sweep_report import add_float_differences, table_markdown, write_plots

PNG = b"\x89PNG\r\n\x1a\n"
IDS = ("2", "3", "17", "41", "53")


class Page(HTMLParser):
    """Tables (header row and body rows), images, ``<pre>`` blocks and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list]] = []
        self.images: list[str] = []
        self.pre = 0
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"headers": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        elif tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            table["rows" if table["headers"] else "headers"].append(self._row)
            if table["headers"] and isinstance(table["headers"][0], list):
                table["headers"] = table["headers"][0]
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text())
    return page


def fake_sweep(out: Path) -> None:
    """``sweep/table.md`` and the plots, written by the sweep's own functions from fake rows."""
    rows = []
    for name, bits, sp, stage, dice in (("float", "float", 0.0, "trained", 0.70),
                                        ("w4a4", 4, 0.0, "quantized", 0.66),
                                        ("w4a4-p50", 4, 0.5, "pruned", 0.64)):
        rows.append({"point": name, "stage": stage, "bits": bits, "target_sparsity": sp,
                     "sparsity": sp, "dice_mean": dice, "dice_sd": 0.05, "tre_mm": 3.0,
                     "folding_percent": 0.0, "nonzero_weight_bits": 1000 * (32 if bits == "float"
                                                                              else bits),
                     "compression": 8.0, "LUT": "", "BRAM_18K": "", "DSP": "",
                     "pairs_per_s": "",
                     "pair_dice": {(i, i + 1): dice + 0.01 * (i % 3) for i in range(6)}})
    add_float_differences(rows)
    out.mkdir(parents=True)
    (out / "table.md").write_text(table_markdown(rows, {r["point"] for r in rows}, 6))
    write_plots(rows, out)


def fake_demo(out: Path, build: Path) -> dict[str, Any]:
    """A demo folder as the stages write it: evaluations, the sweep, one real (tiny) build, an
    emulation with L5's simulation-sized FIFO depths."""
    for k, label in enumerate(("demo-float__shipped", "demo-w4a4__shipped",
                               "demo-w4a4-p50__shipped")):
        per = {i: 0.6 + 0.05 * j - 0.02 * k for j, i in enumerate(IDS)}
        summary = {"dice_mean": 0.7, "dice_sd": 0.1, "tre_mm": 3.0, "tre_sd": 1.0,
                   "folding_percent": 0.0, "dice_per_label": per}
        ident = {**summary, "dice_mean": 0.5, "tre_mm": 6.0,
                 "dice_per_label": dict.fromkeys(IDS, 0.5)}
        (out / "eval" / label).mkdir(parents=True)
        (out / "eval" / label / "metrics.json").write_text(json.dumps(
            {"pairs": 6, "identity": ident, "registered": summary, "model": label}))
    fake_sweep(out / "sweep")
    shutil.copytree(build, out / "build" / "ZCU104")
    hw = ModelWrapper(str(hw_graph_path(build)))
    depths = {"fifo_t_" + re.sub(r"\W", "_", t): 64 for n in hw.graph.node for t in n.input
              if hw.get_initializer(t) is None}
    (out / "emulation").mkdir()
    emu = {"pairs": 2, "exact": True,
           "levels": {"L1": {"max_abs_diff_vs_L1": 0, "time_s_per_pair": 0.5},
                      "L3": {"max_abs_diff_vs_L1": 0, "time_s_per_pair": 0.7}},
           "accuracy": {"L3": {"dice": 0.7, "tre_mm": 3.0, "folding_percent": 0.0}},
           "L4": {"layers": 12, "layers_exact": 12, "sim_cycles": 900, "time_s": 3.0},
           "L5": {"exact": True, "cycles_one_volume": 300, "interval_cycles": 220,
                  "finn_max_layer_cycles": 200, "sim_cycles_per_s": 1.5e6,
                  "fifo_sizing": "simulation", "fifo_bits": 4096, "fifo_depths": depths}}
    (out / "emulation" / "emulation.json").write_text(json.dumps(emu))
    return emu


@pytest.mark.parametrize("tiny_build", [(0, "rtl")], indirect=True, ids=["head0-rtl"])
def test_report_html_is_real_html(tiny_build, tmp_path: Path) -> None:
    _, _, build = tiny_build
    out = tmp_path / "demo"
    fake_demo(out, build)
    write_report(out, tmp_path / "no-data")
    html = (out / "report.html").read_text()
    page = parse(out / "report.html")
    text = "".join(page.text)
    # no Markdown left as text: no table rows, separators or headings in the visible text
    assert page.pre == 0
    assert not re.search(r"^\s*\|.*\|\s*$", text, re.MULTILINE), "a Markdown table row as text"
    assert "|---" not in text and not re.search(r"^#+ ", text, re.MULTILINE)
    headers = [t["headers"] for t in page.tables]
    expect = [
        ["model", "passes per pair", "pairs", "Dice before", "Dice after ± sd"],
        ["point", "bits", "target sparsity", "sparsity", "Dice mean ± sd"],  # the sweep
        ["stage", "bits", "target sparsity"],  # the seed's Table 1
        ["board", "pairs/s", "LUT", "BRAM_18K", "URAM", "DSP", "FIFOs (kbit)", "fits"],
        ["layer", "impl", "cycles", "LUT", "BRAM_18K", "DSP"],
        ["level", "max abs diff vs L1 (integers)", "ms per pair"],
        ["level", "Dice", "TRE (mm)", "folding %"],
        ["level", "result", "cycles"],
    ]
    for want in expect:
        assert any(h[:len(want)] == want for h in headers), (want, headers)
    sweep = next(t for t in page.tables if t["headers"][0] == "point")
    assert [r[0] for r in sweep["rows"]] == ["float", "w4a4", "w4a4-p50"]
    table1 = next(t for t in page.tables if t["headers"][0] == "stage")
    assert [r[0] for r in table1["rows"]] == ["trained (float)", "pruned (w4a4-p50)",
                                              "quantized (w4a4)"]
    # the board table has its row; the layer table one row per hardware layer
    layers = json.loads((build / "report" / "estimate_layer_resources_cycles.json").read_text())
    layer_table = next(t for t in page.tables if t["headers"][:2] == ["layer", "impl"])
    assert [r[0] for r in layer_table["rows"]] == list(layers)
    # every image embedded as a PNG; the figures: dice, sweep x2, dataflow, cycles
    assert len(page.images) == 5, page.images
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    for png in ("fig_dice_per_label.png", "fig_cycles_per_layer.png", "fig_dataflow.png",
                "sweep/dice_vs_bits.png", "sweep/dice_vs_model_bits.png"):
        assert (out / png).read_bytes()[:8] == PNG and (out / png).stat().st_size > 5000
    assert html.count("<em>Figure ") == 5  # every figure has its caption
    # the demo's diagram carries the build's FIFO depths (its step_set_fifo_depths)
    svg = (out / "fig_dataflow.svg").read_text()
    sized = json.loads((build / "fifo_depths.json").read_text())["fifos"]
    assert "<svg" in svg and "from fifo_depths.json" in svg
    assert any(f"FIFO {f['depth']:,}" in svg for f in sized.values())
    # the build itself drew its dataflow, with the same depths
    build_svg = (out / "build" / "ZCU104" / "report" / "dataflow.svg").read_text()
    assert "from fifo_depths.json" in build_svg and "MVAU" in build_svg
    assert (build / "report" / "dataflow.png").read_bytes()[:8] == PNG
    # the Markdown keeps the sweep's headings below the report's sections
    md = (out / "report.md").read_text()
    assert "### Accuracy per bit width x sparsity" in md
    assert "#### The seed's Table 1 stages" in md


def test_report_without_embedding_links_existing_files(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    fake_sweep(out / "sweep")
    write_report(out, tmp_path / "no-data", embed_images=False)
    page = parse(out / "report.html")
    assert page.images == ["sweep/dice_vs_bits.png", "sweep/dice_vs_model_bits.png"]
    assert all((out / src).is_file() for src in page.images)
    assert not any(out.rglob(TMP_PREFIX + "*"))  # atomic writes leave no temporary file


def test_markdown_to_html_tables_and_headings(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG + b"0" * 10)
    text = "# T\n\n| a | b |\n|---|---:|\n| 1 | x \\| y |\n\n![fig](a.png)\n\n![gone](b.png)\n"
    page = Page()
    page.feed(markdown_to_html(text, "t <1>", tmp_path))
    assert page.tables == [{"headers": ["a", "b"], "rows": [["1", "x | y"]]}]
    assert page.images[0].startswith("data:image/png;base64,")
    assert page.images[1] == "b.png"  # a missing file stays a link (and the test above fails)
    assert shift_headings("# A\n\ntext # no\n\n## B\n", 3) == "### A\n\ntext # no\n\n#### B\n"
    assert shift_headings("no headings\n", 3) == "no headings\n"


def test_ibsr_structure_names(tmp_path: Path) -> None:
    names = ibsr_label_names()
    assert len(names) == 32 and names[2] == "Left Cerebral White Matter"
    assert names[53] == "Right Hippocampus"
    csv = tmp_path / "x.csv"
    csv.write_text("ROIid,ROIabbr,ROIname\n7,a,Seven\nx,b,skip\n")
    assert read_label_names(csv) == {7: "Seven"}


@pytest.mark.parametrize("tiny_build", [(0, "rtl")], indirect=True, ids=["head0-rtl"])
def test_dataflow_from_fifo_depths_json(tiny_build, tmp_path: Path) -> None:
    _, _, build = tiny_build
    copy = tmp_path / "build"
    shutil.copytree(build, copy)
    hw = ModelWrapper(str(hw_graph_path(copy)))
    layers_est = json.loads((copy / "report" / "estimate_layer_resources_cycles.json")
                            .read_text())
    layers, streams = dataflow_graph(hw, layers_est)
    assert [la.name for la in layers] == [n.name for n in hw.graph.node]
    assert all(la.cycles == layers_est[la.name]["cycles"] > 0 for la in layers)
    add = next(n.name for n in hw.graph.node if n.op_type == "ElementwiseAdd")
    assert len([s for s in streams if s.dst == add]) == 2  # the skip joins here
    assert streams[0].src == "in" and streams[-1].dst == "out"
    mvau = next(la for la in layers if la.op == "MVAU")
    assert mvau.pe and mvau.simd and mvau.impl == "MVAU_rtl"
    # the build's own fifo_depths.json (issue 19): one depth changed, the redrawn diagram shows it
    table = json.loads((copy / "fifo_depths.json").read_text())
    first = next(iter(table["fifos"]))
    table["fifos"][first]["depth"] = 4321
    (copy / "fifo_depths.json").write_text(json.dumps(table))
    assert 4321 in read_fifo_depths(copy).values()
    svg = copy / "report" / "dataflow.svg"
    before = svg.read_text()
    resume_build(copy, "step_set_folding", "step_set_folding")  # stops before the estimates
    assert svg.read_text() == before  # not redrawn from estimates of another graph
    resume_build(copy, "step_estimates", "step_estimates")  # the build redraws itself
    text = svg.read_text()
    assert "FIFO 4,321" in text and "FIFO 4,321" not in before
    assert "from fifo_depths.json" in text
    assert (copy / "report" / "dataflow.png").read_bytes()[:8] == PNG
    # the diagram's own entry point, to another place
    svg2, png2 = write_build_dataflow(copy, hw, stem=tmp_path / "d")
    assert svg2.read_text() == text and png2.stat().st_size > 5000
