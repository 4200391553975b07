"""The stream buffers between the layers of a folded HW graph: FIFOs and width converters.

One FIFO sits on every stream edge of the dataflow graph (the graph input included), named
``fifo_<tensor>`` exactly as the stitched top names the instance (:mod:`hwreg.rtl.stitch`); a
width converter (DWC) follows it where producer and consumer are folded differently.

FIFO depths come from the build step ``step_set_fifo_depths`` (:mod:`hwreg.compile.steps`):

- ``simulation``: the stitched accelerator runs under Verilator (:func:`hwreg.rtl.stitch.
  size_fifos`) with deep FIFOs and its input fed at the bottleneck layer's rate; each FIFO gets
  its highest fill + 1, rounded up (:func:`round_depth`);
- ``analytic``: :func:`analytic_depths`, a bound from each edge's production and
  consumption pattern, no simulation, including the row- and plane-level backlog of window
  generators and upsamples (:func:`schedule_backlog`); checked against simulation on the
  tiny nets (``tests/rtl/test_fifo_sizing.py``) and by ``benchmarks/bench_fifo_bound.py``.

``BUILD/fifo_depths.json`` (written by the step; read, and checked, only by
:func:`read_fifo_table` for L5, the estimates, the board package and its Vivado flow, and the
dataflow diagram)::

    {"sizing": "simulation" | "analytic",
     "fifos": {"fifo_<tensor>": {"depth": 64,          # entries (round_depth)
                                 "width_bits": 16,     # stream width (TDATA unpadded)
                                 "bits": 1024,         # depth * width_bits
                                 "tensor": "<tensor>", "producer": "<node>" | null,
                                 "consumer": "<node>", "join": false,
                                 "analytic_depth": 64, # the analytic upper bound
                                 "dwc": null | {"in_bits": 8, "out_bits": 32}}}}

``producer`` null is the accelerator input; ``join`` marks an edge into a node with several
stream inputs (the skip add); ``dwc`` the width converter after the FIFO (stream widths
unpadded). Memory: :func:`fifo_memory` maps each FIFO by depth and width onto SRL, LUTRAM,
BRAM_18K or URAM with FINN's fitted model of its ``fifo.sv``
(``finn.util.resource_models``), URAM only where the part has it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hwreg.errors import UserError

#: Least FIFO depth (a register pair: the stitched top always has one FIFO per edge).
MIN_DEPTH = 2
#: The build's FIFO table (:func:`fifo_table`), in the build folder.
FIFO_FILE = "fifo_depths.json"
#: Keys every FIFO row of ``fifo_depths.json`` must have.
_ROW_KEYS = ("depth", "width_bits", "bits", "consumer", "producer", "join", "dwc")
#: Beats of slack the analytic bound adds for the handshake pipeline of producer and consumer.
PIPELINE_SLACK = 8


def fifo_name(tensor: str) -> str:
    """The FIFO instance of the stream ``tensor`` (a Verilog identifier: FINN's random tensor
    names may start with a digit)."""
    return "fifo_t_" + re.sub(r"\W", "_", tensor)


def round_depth(n: int) -> int:
    """A FIFO depth for ``n`` entries: the power of two at or above (at least
    :data:`MIN_DEPTH`) up to 1024 entries, a multiple of 512 above (a BRAM_18K holds 512
    entries at its widest)."""
    n = max(int(n), MIN_DEPTH)
    return 1 << (n - 1).bit_length() if n <= 1024 else -(-n // 512) * 512


@dataclass
class StreamEdge:
    """One stream between two layers (or from the accelerator input)."""

    fifo: str
    tensor: str
    producer: str | None
    consumer: str
    #: FIFO width: the producer's stream width without TDATA byte padding (the consumer's at
    #: the accelerator input): the FIFO stores only the stream's bits.
    width_bits: int
    #: Beats of this stream per volume.
    beats: int
    #: Into a node with several stream inputs.
    join: bool
    #: A join's early input: straight from the fork (DuplicateStreams), the skip side.
    skip: bool
    #: (producer, consumer) unpadded stream widths when they differ (a width converter).
    dwc: tuple[int, int] | None
    #: Op types of producer (None at the input) and consumer.
    producer_op: str | None
    consumer_op: str
    #: Beats the consumer holds in its plane buffer (window generator, upsample), else 0.
    consumer_buffer: int
    #: Beats the producer may emit per beat group of its own (one output pixel's beats).
    producer_group: int
    #: Beats the consumer takes per group (one input pixel's beats).
    consumer_group: int
    #: Beats of this stream that the plane-level schedules of producer and consumer can pile
    #: up (:func:`schedule_backlog`).
    schedule_backlog: int = 0


WINDOW_OP = "ConvolutionInputGenerator3D_hwreg"
UPSAMPLE_OP = "UpsampleNearest3D_hwreg"


def _group(folded: tuple[int, ...]) -> int:
    """Beats per pixel of a folded stream shape (..., beats per pixel, elements per beat)."""
    return int(folded[-2]) if len(folded) >= 2 else 1


def _buffer_beats(op_type: str, inst: Any) -> int:
    """Input beats held by a plane-buffering consumer that stops taking input while it drains
    them: two input planes of an upsample; 0 for other ops (a window generator's writer keeps
    taking input while its reader drains the buffer, one volume ahead; what its buffer cannot
    absorb is its :func:`schedule_backlog`)."""
    if op_type == UPSAMPLE_OP:
        _, h, w = inst._dims()
        return 2 * h * w * _group(inst.get_folded_input_shape(0))
    return 0


def schedule_backlog(producer_op: str | None, pinst: Any, consumer_op: str, cinst: Any,
                     beats: int) -> int:
    """Beats of a stream (``beats`` per volume) that pile up in its FIFO because producer and
    consumer move whole rows and planes at different times, when every layer keeps the
    bottleneck's rate (the input throttled to it, as in the sizing simulation):

    - into a window generator: the input pixels its buffer cannot absorb while its reader
      lags the input (:meth:`~hwreg.compile.ops.window3d.ConvolutionInputGenerator3D_hwreg.
      input_backlog`: exact for its schedule, 0 on every generator of the demo network since
      the buffer holds :meth:`~hwreg.compile.ops.window3d.ConvolutionInputGenerator3D_hwreg.
      buffer_span`, the ``(K+s-2)`` planes a stride-``s`` generator needs to go from one
      output plane to the next without starving its consumer);
    - out of an upsample (x2): it emits output plane ``2p`` while input plane ``p`` arrives,
      then output plane ``2p + 1`` (and each odd row) from its buffer as fast as the FIFO
      takes it, while the consumer takes it at the bottleneck's rate: one output plane and
      one output row.

    In beats of the stream (the producer's beats per pixel); 0 for other edges."""
    backlog = 0
    if consumer_op == WINDOW_OP:
        (d, h, w), _, _, _, _ = cinst._geom()
        backlog += cinst.input_backlog() * (beats // (d * h * w))
    if producer_op == UPSAMPLE_OP:
        d, h, w = (2 * n for n in pinst._dims())
        backlog += (h * w + w) * (beats // (d * h * w))
    return backlog


def stream_edges(model: ModelWrapper) -> list[StreamEdge]:
    """The stream edges of a folded HW graph in the stitched top's order (by consumer)."""
    prod: dict[str, tuple[str, Any, int]] = {}
    for node in model.graph.node:
        for k, t in enumerate(node.output):
            prod[t] = (node.name, node.op_type, getCustomOp(node), k)
    edges = []
    for node in model.graph.node:
        inst = getCustomOp(node)
        streams = [t for t in node.input if model.get_initializer(t) is None]
        for t in streams:
            i = list(node.input).index(t)
            c_raw = int(inst.get_instream_width(i))
            c_beats = int(np.prod(inst.get_folded_input_shape(i)[:-1]))
            pname: str | None = None
            pop: str | None = None
            pinst = None
            if t in prod:
                pname, pop, pinst, k = prod[t]
                width = p_raw = int(pinst.get_outstream_width(k))
                beats = int(np.prod(pinst.get_folded_output_shape(k)[:-1]))
                p_group = _group(pinst.get_folded_output_shape(k))
            else:
                width, p_raw, beats, p_group = c_raw, c_raw, c_beats, 1
            edges.append(StreamEdge(
                fifo=fifo_name(t), tensor=t, producer=pname, consumer=node.name,
                width_bits=width, beats=beats, join=len(streams) > 1,
                skip=len(streams) > 1 and pop == "DuplicateStreams",
                dwc=(p_raw, c_raw) if p_raw != c_raw else None, producer_op=pop,
                consumer_op=node.op_type, consumer_buffer=_buffer_beats(node.op_type, inst),
                producer_group=p_group, consumer_group=_group(inst.get_folded_input_shape(i)),
                schedule_backlog=schedule_backlog(pop, pinst, node.op_type, inst, beats)))
    return edges


def linear_need(e: StreamEdge) -> int:
    """Beats a FIFO needs to even out the burstiness of producer and consumer: each moves its
    data in groups (one pixel's beats: an MVAU's ``MW/SIMD`` input and ``MH/PE`` output
    beats, a window generator's ``K^3 C/SIMD`` window beats); the FIFO holds at most a group
    of each while a third starts, plus the handshake pipeline (:data:`PIPELINE_SLACK`)."""
    return 2 * (e.producer_group + e.consumer_group) + PIPELINE_SLACK


def probe_caps(model: ModelWrapper) -> dict[str, int]:
    """Depths fixed before the sizing simulation: window streams (a window generator's
    output), whose beats are ``K^3`` times the pixels they come from. A window generator
    emits the windows of its last planes without new input and would fill any FIFO behind
    it; capping its output at two groups makes it stall instead, so the backlog collects on
    its (narrow) pixel input, which is sized by the simulation."""
    return {e.fifo: round_depth(linear_need(e)) for e in stream_edges(model)
            if e.producer_op == WINDOW_OP}


def analytic_depths(model: ModelWrapper) -> dict[str, int]:
    """An upper bound on the FIFO depth each edge needs, from production and consumption
    patterns alone (no simulation), rounded up like the simulated depths (:func:`round_depth`):

    - a window stream: the probe cap (:func:`probe_caps`), the same as in simulation;
    - a join (the skip add) takes its two addends beat by beat, so the skip, straight from
      the fork, waits for the decoder branch; that branch cannot lag by more than the whole
      tensor: ``beats`` + :func:`linear_need` on the skip side, :func:`linear_need` on the
      late side (a join whose inputs both come through layers gets the tensor on both);
    - into an upsample: it stops taking input while the copies of its buffered planes
      drain, during which its producer delivers at most one buffer's worth: its buffer in
      beats + :func:`linear_need`;
    - any other edge: :func:`linear_need`;
    - plus, on every edge, the backlog of the row- and plane-level schedules of a window
      generator (consumer) or an upsample (producer): :func:`schedule_backlog`.

    The bound assumes every layer sustains FINN's cycle estimate on average and streams
    arrive at the bottleneck's steady rate give or take the beat-group bursts of
    :func:`linear_need` (the sizing simulation throttles its input to the slowest layer's
    estimate; L5 measured the demo's interval at the estimate + 1 cycle); a layer slower
    than that builds a backlog that grows with the volume and that no depth covers (as the
    stride-2 window generators did with a buffer of ``(K-1)`` planes + ``K`` rows: their
    consumer waited ~1,200 input pixels at each output plane, ``benchmarks/results/
    fifo_bound_before.json``).
    """
    caps = probe_caps(model)
    edges = stream_edges(model)
    has_skip = {e.consumer for e in edges if e.skip}
    out = {}
    for e in edges:
        if e.fifo in caps:
            out[e.fifo] = caps[e.fifo]
            continue
        need = linear_need(e)
        if e.join and (e.skip or e.consumer not in has_skip):
            need += e.beats
        need += e.consumer_buffer + e.schedule_backlog
        out[e.fifo] = round_depth(need)
    return out


def fifo_memory(depth: int, width_bits: int, capacity: dict[str, int], style: str = "auto"
                ) -> dict[str, Any]:
    """Resources of one ``depth`` x ``width_bits`` FIFO on a part of ``capacity`` (keys
    ``LUT``, ``BRAM_18K``, ``URAM``), from FINN's fitted model of its ``fifo.sv``. Up to 257
    entries FINN's style ladder decides (SRL up to 33, LUTRAM above); deeper FIFOs take the
    memory of LUTRAM, BRAM and URAM (where the part has it) that uses the smallest share of
    the part (FINN's ladder would put a narrow deep FIFO in LUTRAM and every FIFO above 2028
    entries in URAM, whatever the cost). Returns ``{"style", "LUT", "BRAM_18K", "URAM"}``."""
    from finn.util.resource_models import _fifo_cost, _resolve

    chosen = _resolve(depth, width_bits, style)
    if style == "auto" and depth > 257:
        styles = ["distributed", "block"] + (["ultra"] if capacity.get("URAM") else [])
        costs = {s: _fifo_cost(depth, width_bits, s) for s in styles}
        share = {s: c.lut / capacity["LUT"] + c.bram / capacity["BRAM_18K"]
                 + (c.uram / capacity["URAM"] if c.uram else 0.0) for s, c in costs.items()}
        chosen = min(share, key=lambda s: share[s])
    elif chosen == "ultra" and not capacity.get("URAM"):
        chosen = "block"
    cost = _fifo_cost(depth, width_bits, chosen)
    return {"style": chosen, "LUT": int(cost.lut), "BRAM_18K": int(cost.bram),
            "URAM": int(cost.uram)}


def dwc_luts(in_bits: int, out_bits: int) -> int:
    """LUTs of a width converter (FINN's ``StreamingDataWidthConverter`` model: a shift
    register through the least common multiple of the widths)."""
    lo, hi = min(in_bits, out_bits), max(in_bits, out_bits)
    mid = lo * hi // math.gcd(lo, hi)
    luts = 0
    if in_bits != mid:
        luts += abs(math.ceil(math.log2(in_bits / mid))) + mid
    if mid != out_bits:
        luts += abs(math.ceil(math.log2(mid / out_bits))) + out_bits
    return luts


def fifo_table(model: ModelWrapper, depths: dict[str, int], sizing: str) -> dict[str, Any]:
    """The ``fifo_depths.json`` content (module docstring) of ``model`` with ``depths``."""
    bound = analytic_depths(model)
    fifos = {}
    for e in stream_edges(model):
        depth = int(depths[e.fifo])
        row = asdict(e)
        fifos[e.fifo] = {
            "depth": depth, "width_bits": e.width_bits, "bits": depth * e.width_bits,
            "tensor": e.tensor, "producer": e.producer, "consumer": e.consumer,
            "join": e.join, "beats_per_volume": e.beats, "analytic_depth": bound[e.fifo],
            "dwc": None if row["dwc"] is None else {"in_bits": e.dwc[0], "out_bits": e.dwc[1]}}
    return {"sizing": sizing, "fifos": fifos}


def write_fifo_depths(path: Path, table: dict[str, Any]) -> Path:
    """Write ``table`` (:func:`fifo_table`) as JSON via a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(table, indent=2) + "\n")
    tmp.replace(path)
    return path


def _fault(path: Path, where: str, value: Any, want: str) -> UserError:
    return UserError(f"{path}: {where}: expected {want}, got {value!r}"[:300])


def _check_int(path: Path, where: str, value: Any, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise _fault(path, where, value, f"an integer >= {least}")


def read_fifo_table(build_dir: str | Path, required: bool = False) -> dict[str, Any] | None:
    """``BUILD/fifo_depths.json`` (module docstring), checked: every FIFO an object with an
    integer ``depth`` >= :data:`MIN_DEPTH`, ``width_bits`` >= 0, ``bits``, ``consumer``,
    ``producer``, ``join`` and ``dwc`` (null or ``{"in_bits", "out_bits"}``). The one reader
    of the file (estimates, L5, the board package, the dataflow diagram). None for a build
    without one unless ``required``; a missing (``required``), unreadable or malformed file
    raises a one-line :class:`UserError` naming it."""
    path = Path(build_dir) / FIFO_FILE
    if not path.is_file():
        if required:
            raise UserError(f"{path}: not found; run step_set_fifo_depths first")
        return None
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable FIFO depths ({str(exc).splitlines()[0]})") from None
    if not isinstance(table, dict) or not isinstance(table.get("fifos"), dict):
        raise UserError(f"{path}: expected {{\"sizing\": ..., \"fifos\": {{instance: "
                        "{\"depth\": ..., ...}}}} as step_set_fifo_depths writes it")
    for name, row in table["fifos"].items():
        where = f"fifos.{name!r}"
        if not isinstance(row, dict):
            raise _fault(path, where, row, "an object")
        missing = [k for k in _ROW_KEYS if k not in row]
        if missing:
            raise UserError(f"{path}: {where}: no {missing[0]!r}")
        _check_int(path, f"{where}.depth", row["depth"], MIN_DEPTH)
        # 0: an MVAU whose accumulator can only be 0 (FINN narrows it to UINT0; seen on the
        # walkthrough's 50 %-pruned tiny model); such a FIFO stores no bits
        _check_int(path, f"{where}.width_bits", row["width_bits"], 0)
        _check_int(path, f"{where}.bits", row["bits"], 0)
        dwc = row["dwc"]
        if dwc is not None:
            if not isinstance(dwc, dict):
                raise _fault(path, f"{where}.dwc", dwc, "null or {in_bits, out_bits}")
            for k in ("in_bits", "out_bits"):
                _check_int(path, f"{where}.dwc.{k}", dwc.get(k), 1)
    table.setdefault("sizing", "unknown")
    return table


def read_fifo_depths(build_dir: str | Path, required: bool = False) -> dict[str, int] | None:
    """FIFO instance -> depth from ``BUILD/fifo_depths.json`` (:func:`read_fifo_table`);
    None for a build without one unless ``required``."""
    table = read_fifo_table(build_dir, required)
    if table is None:
        return None
    return {name: int(r["depth"]) for name, r in table["fifos"].items()}


#: hwreg_fifo's STYLE parameter per estimated memory style (``hw/hdl/hwreg_fifo.sv``): LUT RAM
#: for FINN's shift-register and LUTRAM styles, block RAM for block; URAM (Xilinx only) is
#: left to the synthesis tool's choice.
FIFO_STYLE = {"srl": 1, "distributed": 1, "block": 2}


def read_fifo_styles(build_dir: str | Path) -> dict[str, int] | None:
    """FIFO instance -> hwreg_fifo ``STYLE`` (:data:`FIFO_STYLE`) from the build's estimate
    (``BUILD/report/estimate_fifos.json``); None before ``step_estimates``."""
    p = Path(build_dir) / "report" / "estimate_fifos.json"
    if not p.is_file():
        return None
    return {name: FIFO_STYLE.get(r["style"], 0) for name, r in json.loads(p.read_text()).items()}


def buffer_estimates(table: dict[str, Any], capacity: dict[str, int]
                     ) -> dict[str, dict[str, Any]]:
    """Per FIFO of ``table`` (:func:`fifo_table`): its memory (:func:`fifo_memory`) and, where
    there is one, its width converter's LUTs (``dwc_LUT``). Rows keyed by FIFO name:
    ``{"consumer", "depth", "width_bits", "bits", "style", "LUT", "BRAM_18K", "URAM",
    "dwc_LUT"}`` (``LUT`` includes the converter)."""
    rows = {}
    for name, f in table["fifos"].items():
        mem = fifo_memory(int(f["depth"]), int(f["width_bits"]), capacity)
        dwc = dwc_luts(f["dwc"]["in_bits"], f["dwc"]["out_bits"]) if f["dwc"] else 0
        rows[name] = {"consumer": f["consumer"], "producer": f["producer"], "join": f["join"],
                      "depth": int(f["depth"]), "width_bits": int(f["width_bits"]),
                      "bits": int(f["bits"]), "style": mem["style"], "LUT": mem["LUT"] + dwc,
                      "BRAM_18K": mem["BRAM_18K"], "URAM": mem["URAM"], "dwc_LUT": dwc}
    return rows


def rebalance_memory(rows: dict[str, dict[str, Any]], free: dict[str, int]) -> list[str]:
    """Move FIFOs out of BRAM (in place) while the FIFOs' BRAM_18K exceed ``free`` (what the
    layers leave of ``LUT``, ``BRAM_18K``, ``URAM``): each time the BRAM FIFO whose move to
    URAM or LUTRAM frees the most BRAM per share of the receiving resource, as long as that
    resource stays within ``free``. Returns ``"<fifo> -> <style>"`` per move."""
    from finn.util.resource_models import _fifo_cost

    moved = []

    def total(key: str) -> int:
        return sum(r[key] for r in rows.values())

    while total("BRAM_18K") > free["BRAM_18K"]:
        best = None
        for name, r in rows.items():
            if r["style"] != "block":
                continue
            for style, key in (("ultra", "URAM"), ("distributed", "LUT")):
                cost = _fifo_cost(r["depth"], r["width_bits"], style)
                new = {"LUT": int(cost.lut) + r["dwc_LUT"], "BRAM_18K": int(cost.bram),
                       "URAM": int(cost.uram)}
                if style == "ultra" and not new["URAM"]:
                    continue
                if any(total(k) - r[k] + new[k] > free[k] for k in ("LUT", "URAM")):
                    continue
                # BRAM freed per share of the free receiving resource used
                share = max(1, new[key] - r[key]) / max(1, free[key])
                gain = (r["BRAM_18K"] - new["BRAM_18K"]) / share
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, name, style, new)
        if best is None:
            break
        _, name, style, new = best
        rows[name].update(style=style, **new)
        moved.append(f"{name} -> {style}")
    return moved
