"""The accelerator drawn: a dataflow diagram of a build (matplotlib; ``report/dataflow.svg`` and
``report/dataflow.png`` in the build folder).

Each hardware layer of the folded graph is a box with its name, op (and the implementation FINN
specialises it to), PE/SIMD and expected cycles per pair, coloured by its share of the
bottleneck (cycles / the slowest layer's cycles; the slowest layer sets the pairs/s). Each stream
is an arrow with its width in bits per beat (``a -> b b`` where a width converter sits between
producer and consumer) and the depth of its FIFO in entries. Layers are laid out in graph order
as a serpentine (left to right, then right to left, ...); streams that skip ahead (the residual
skip of the U-Net) run in the margin, dashed.

FIFO depths, first found wins: ``BUILD/fifo_depths.json`` (the FIFO-sizing step), else the
``depth`` of FINN ``StreamingFIFO`` nodes in a given graph (after FINN's own FIFO insertion),
else the stream is drawn as "FIFO not sized". ``fifo_depths.json`` is read (and checked) by
:func:`hwreg.compile.fifos.read_fifo_depths`; a depth map may name a stream by its tensor, its
L5 instance (``fifo_t_<tensor>``, :mod:`hwreg.rtl.stitch`) or its consumer's input
(``<node>:<input index>``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwreg.atomic import atomic_path

#: A FIFO at least this deep (entries) is labelled in bold: it costs real memory.
DEEP_FIFO = 1024
#: Boxes per row of the serpentine.
PER_ROW = 4
#: Short display names of the op types (the node name keeps its index).
SHORT_OPS = {"ConvolutionInputGenerator3D_hwreg": "SWG3D", "UpsampleNearest3D_hwreg": "Upsample3D"}
#: What each op does, for the box's second line.
OP_WORDS = {"ConvolutionInputGenerator3D_hwreg": "3D sliding window", "MVAU": "matrix-vector",
            "Thresholding": "thresholds", "DuplicateStreams": "fork",
            "ElementwiseAdd": "add (skip join)", "UpsampleNearest3D_hwreg": "3D upsample x2",
            "StreamingDataWidthConverter": "width converter"}


@dataclass(frozen=True)
class Layer:
    """One hardware layer: FINN node name, op type, specialised op, PE/SIMD and expected
    cycles per pair (FINN's ``exp_cycles_per_layer``)."""

    name: str
    op: str
    impl: str
    pe: int | None
    simd: int | None
    cycles: int


@dataclass(frozen=True)
class Stream:
    """One AXI stream: its tensor, producer (``"in"`` for the accelerator input) and consumer
    (``"out"`` for the output), producer and consumer widths in bits per beat, FIFO depth in
    entries (None: not sized)."""

    tensor: str
    src: str
    dst: str
    bits_out: int
    bits_in: int
    fifo: int | None


def _fifo_id(tensor: str) -> str:
    """The L5 FIFO instance name of a stream (as :func:`hwreg.rtl.stitch._id` names it)."""
    return "fifo_t_" + re.sub(r"\W", "_", tensor)


def fifo_depths_from_graph(model: Any) -> dict[str, int]:
    """``{input tensor: depth}`` of FINN ``StreamingFIFO`` nodes in ``model`` (``{}`` if none)."""
    from qonnx.custom_op.registry import getCustomOp

    return {n.input[0]: int(getCustomOp(n).get_nodeattr("depth")) for n in model.graph.node
            if n.op_type.startswith("StreamingFIFO")}


def _attr(inst: Any, name: str) -> int | None:
    return int(inst.get_nodeattr(name)) if name in inst.get_nodeattr_types() else None


def dataflow_graph(model: Any, layers: dict[str, dict[str, Any]],
                   depths: dict[str, int] | None = None) -> tuple[list[Layer], list[Stream]]:
    """Layers (graph order) and streams of the folded HW graph ``model`` (a qonnx
    ModelWrapper), with cycles and implementations from the build's
    ``estimate_layer_resources_cycles.json`` (``layers``) and FIFO depths from ``depths``."""
    from qonnx.custom_op.registry import getCustomOp

    depths = depths or {}
    nodes, streams = [], []
    producer: dict[str, tuple[str, int]] = {}
    g = model.graph
    producer[g.input[0].name] = ("in", 0)
    for node in g.node:
        inst = getCustomOp(node)
        est = layers.get(node.name, {})
        nodes.append(Layer(node.name, node.op_type, est.get("impl", node.op_type),
                           _attr(inst, "PE"), _attr(inst, "SIMD"), int(est.get("cycles", 0))))
        for k, t in enumerate(node.output):
            producer[t] = (node.name, inst.get_outstream_width(k))
    for node in g.node:
        inst = getCustomOp(node)
        for i, t in enumerate(node.input):
            if model.get_initializer(t) is not None or t not in producer:
                continue
            src, w = producer[t]
            bits_in = inst.get_instream_width(i)
            depth = next((depths[k] for k in (t, _fifo_id(t), f"{node.name}:{i}")
                          if k in depths), None)
            streams.append(Stream(t, src, node.name, w if src != "in" else bits_in, bits_in,
                                  depth))
    out = g.output[0].name
    src, w = producer[out]
    streams.append(Stream(out, src, "out", w, w, depths.get(out, depths.get(_fifo_id(out)))))
    return nodes, streams


def _short(name: str) -> str:
    for long, short in SHORT_OPS.items():
        name = name.replace(long, short)
    return name


def _impl_suffix(layer: Layer) -> str:
    return layer.impl[len(layer.op):].strip("_") if layer.impl.startswith(layer.op) else layer.impl


def _box_text(layer: Layer, worst: int) -> str:
    fold = " · ".join(f"{k} {v}" for k, v in (("PE", layer.pe), ("SIMD", layer.simd)) if v)
    impl = _impl_suffix(layer)
    share = layer.cycles / worst if worst else 0.0
    return "\n".join([f"$\\bf{{{_short(layer.name)}}}$".replace("_", r"\_"),
                      OP_WORDS.get(layer.op, layer.op) + (f" ({impl})" if impl else ""),
                      fold or "no folding",
                      f"{layer.cycles / 1e6:.2f} M cycles ({100 * share:.0f} %)"])


def _stream_label(s: Stream) -> str:
    bits = f"{s.bits_out} b" if s.bits_out == s.bits_in else f"{s.bits_out}→{s.bits_in} b"
    return bits + "\n" + ("FIFO ?" if s.fifo is None else f"FIFO {s.fifo:,}")


def draw_dataflow(layers: list[Layer], streams: list[Stream], stem: Path, title: str,
                  note: str = "") -> list[Path]:
    """Draw the diagram; writes ``stem.svg`` and ``stem.png`` (atomically) and returns them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    order = ["in", *[la.name for la in layers], "out"]
    index = {n: i for i, n in enumerate(order)}
    per_row = min(PER_ROW, len(order))
    rows = -(-len(order) // per_row)
    bw, bh, pitch_x, pitch_y = 2.3, 1.15, 3.25, 2.1  # inches: box, column and row pitch
    worst = max((la.cycles for la in layers), default=0)
    cmap, norm = plt.get_cmap("YlOrRd"), Normalize(0, 1)

    def centre(name: str) -> tuple[float, float]:
        r, c = divmod(index[name], per_row)
        col = c if r % 2 == 0 else per_row - 1 - c  # serpentine: odd rows run right to left
        return 1.2 + col * pitch_x + bw / 2, -(r * pitch_y)

    margin = 0.9 + 0.5 * sum(1 for s in streams if abs(index[s.dst] - index[s.src]) > 1)
    width = 1.2 + (per_row - 1) * pitch_x + bw + margin
    height = 2.0 + rows * pitch_y
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 1.1 / height, 1, 1 - 1.6 / height))
    ax.set_xlim(0, width)
    ax.set_ylim(-(rows - 1) * pitch_y - 1.0, 0.9)
    ax.axis("off")
    for la in layers:
        x, y = centre(la.name)
        share = la.cycles / worst if worst else 0.0
        hot = la.cycles == worst and worst > 0
        ax.add_patch(FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=cmap(norm(share)), edgecolor="red" if hot else "0.3",
                                    linewidth=2.5 if hot else 0.8))
        ax.text(x, y, _box_text(la, worst), ha="center", va="center", fontsize=10.5,
                linespacing=1.35, color="white" if share > 0.7 else "black")
    for term in ("in", "out"):
        x, y = centre(term)
        ax.text(x, y, "input\n(host, NDHWC)" if term == "in" else "output\n(DDF codes)",
                ha="center", va="center", fontsize=10.5,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "0.92", "edgecolor": "0.5"})
    lane = 0
    for s in streams:
        (x0, y0), (x1, y1) = centre(s.src), centre(s.dst)
        step = index[s.dst] - index[s.src]
        weight = "bold" if (s.fifo or 0) >= DEEP_FIFO else "normal"
        arrow = {"arrowstyle": "-|>", "mutation_scale": 12, "linewidth": 1.2, "color": "0.15"}
        if step == 1 and y0 == y1:  # next in the same row
            sign = 1 if x1 > x0 else -1
            ax.add_patch(FancyArrowPatch((x0 + sign * bw / 2, y0), (x1 - sign * bw / 2, y1),
                                         **arrow))
            ax.text((x0 + x1) / 2, y0 + 0.06, _stream_label(s), ha="center", va="bottom",
                    fontsize=9.5, color="0.1", fontweight=weight)
        elif step == 1:  # row turn: straight down
            ax.add_patch(FancyArrowPatch((x0, y0 - bh / 2), (x1, y1 + bh / 2), **arrow))
            ax.text(x0 + 0.1, (y0 + y1) / 2, _stream_label(s).replace("\n", ", "),
                    ha="left", va="center", fontsize=9.5, fontweight=weight)
        else:  # a skip: down into the gap, out to a margin lane, down, in above the consumer
            lane += 1
            lx = width - margin + 0.4 * lane
            gy0, gy1 = y0 - pitch_y / 2 - 0.1 * lane, y1 + pitch_y / 2 - 0.1 * lane
            xs, ys = [x0, x0, lx, lx, x1], [y0 - bh / 2, gy0, gy0, gy1, gy1]
            ax.plot(xs, ys, color="tab:blue", linewidth=1.6, linestyle="--")
            ax.add_patch(FancyArrowPatch((x1, gy1), (x1, y1 + bh / 2), arrowstyle="-|>",
                                         mutation_scale=12, linewidth=1.6, color="tab:blue"))
            ax.text(x0 + 0.15, gy0 - 0.05, "skip stream: " + _stream_label(s).replace(
                "\n", ", "), ha="left", va="top", fontsize=10, color="tab:blue",
                fontweight=weight, bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    ax.set_title(title, fontsize=13, loc="left", x=0.02)
    cax = fig.add_axes((0.3, 0.75 / height, 0.4, 0.15 / height))
    bar = fig.colorbar(ScalarMappable(norm, cmap), cax=cax, orientation="horizontal")
    bar.set_label("box colour: expected cycles / bottleneck cycles (red border: the bottleneck)",
                  fontsize=10)
    if note:
        fig.text(0.5, 0.1 / height, note, ha="center", va="bottom", fontsize=10)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".svg"), stem.with_suffix(".png")]
    # text stays text (searchable, smaller); fixed ids: the same build draws the same file
    with (plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "hwreg"}),
          atomic_path(paths[0]) as tmp):
        fig.savefig(tmp, format="svg", metadata={"Date": None})
    with atomic_path(paths[1]) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return paths


def write_build_dataflow(build_dir: str | Path, hw_graph: Any, final_graph: Any | None = None,
                         stem: Path | None = None, depths: dict[str, int] | None = None,
                         depths_source: str = "", name: str | None = None) -> list[Path]:
    """Draw the build in ``build_dir`` (its folded HW graph ``hw_graph`` and
    ``report/estimate_*.json``) as ``stem.svg``/``.png`` (default ``BUILD/report/dataflow``).
    FIFO depths from ``BUILD/fifo_depths.json``, else from the ``StreamingFIFO`` nodes of
    ``final_graph``, else ``depths`` (said to come from ``depths_source``). Returns the written
    paths ([] when the build has no estimates yet). ``name`` heads the title (default: the
    board in ``BUILD/build_config.yaml``, else the folder's name)."""
    build_dir = Path(build_dir)
    rep = build_dir / "report"
    est = rep / "estimate_layer_resources_cycles.json"
    if not est.is_file():
        return []
    layers_est = json.loads(est.read_text())
    perf_path = rep / "estimate_network_performance.json"
    perf = json.loads(perf_path.read_text()) if perf_path.is_file() else {}
    from hwreg.compile.fifos import FIFO_FILE, read_fifo_depths

    from_file = read_fifo_depths(build_dir)
    found = fifo_depths_from_graph(final_graph) if final_graph is not None else {}
    if from_file is not None:
        depths, source = from_file, f"FIFO depths (entries) from {FIFO_FILE}"
    elif found:
        depths, source = found, "FIFO depths (entries) of FINN's StreamingFIFO nodes"
    elif depths:
        source = f"FIFO depths (entries) {depths_source}"
    else:
        source = "FIFO ?: not sized in this build (hwreg emulate --level rtl sizes them)"
    layers, streams = dataflow_graph(hw_graph, layers_est, depths)
    if name is None:
        import yaml

        saved = build_dir / "build_config.yaml"
        board = yaml.safe_load(saved.read_text()).get("board") if saved.is_file() else None
        name = str(board or build_dir.name)
    title = f"{name}: dataflow of {len(layers)} hardware layers"
    if perf:
        title += (f" on {perf.get('part', '?')} at {perf.get('clock_MHz', 0):.0f} MHz\n"
                  f"bottleneck {_short(perf['bottleneck_layer'])} "
                  f"({perf['bottleneck_cycles']:,} cycles) -> "
                  f"{perf['estimated_pairs_per_s']:.1f} pairs/s")
    note = f"arrows: stream width in bits per beat; {source}"
    return draw_dataflow(layers, streams, stem or rep / "dataflow", title, note)
