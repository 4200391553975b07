"""L5: the stitched accelerator - every layer's RTL (as in L4) connected through FIFOs
(``hw/hdl/hwreg_fifo.sv``) into one top, simulated under Verilator on whole volumes.

FIFO depths (one FIFO per stream edge, named ``fifo_<tensor>`` as in
:func:`hwreg.compile.fifos.fifo_name`): the build's (``depths``, from ``BUILD/fifo_depths.json``);
or a fixed ``fifo_depth`` for every edge, where an edge into a node with several stream inputs
(the residual ElementwiseAdd) gets at least the whole tensor (no deadlock whatever the branch
latencies); or sized by simulation (:func:`size_fifos`, as FINN's ``InsertAndSetFIFODepths``
does, with the input at the bottleneck rate). Reported: exactness vs L3, cycles for one volume
(vs FINN's critical-path estimate) and the interval between volumes (two back to back, vs
FINN's slowest layer), the FIFO depths and their bits, and simulation speed.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.compile.fifos import analytic_depths, fifo_name, probe_caps, round_depth, stream_edges
from hwreg.compile.ops.hdlgen import HDL_DIR, pow2_bits
from hwreg.rtl import harness
from hwreg.rtl.harness import pack, unpack
from hwreg.rtl.layers import layer_rtl

_TIE = {"Thresholding_rtl": ["s_axilite_AWVALID", "s_axilite_AWADDR", "s_axilite_WVALID",
                             "s_axilite_WDATA", "s_axilite_WSTRB", "s_axilite_BREADY",
                             "s_axilite_ARVALID", "s_axilite_ARADDR", "s_axilite_RREADY",
                             "in1_V_TVALID", "in1_V_TDATA"]}


def _id(tensor: str) -> str:
    """A Verilog identifier for a tensor name (FINN's random names may start with a digit)."""
    return fifo_name(tensor).removeprefix("fifo_")


def _dedup(files: list[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for f in files:
        if f.name in seen and seen[f.name].read_text() != f.read_text():
            raise RuntimeError(f"two different sources named {f.name}: {seen[f.name]}, {f}")
        seen.setdefault(f.name, f)
    return list(seen.values())


#: FIFO depth of the sizing run (``fifo_depth=None``).
PROBE_DEPTH = 4096


def stitch(model: Any, workdir: Path, part: str, clock_ns: float, fifo_depth: int = 32,
           depths: dict[str, int] | None = None, backend: str = "finn",
           styles: dict[str, int] | None = None
           ) -> tuple[str, list[Path], list[Path], Any, dict[str, tuple[int, int]]]:
    """Write ``workdir/hwreg_accel.sv``; returns (top, sources, run-time files, spec graph,
    FIFOs as instance -> (width, depth)). ``depths`` (instance -> entries) overrides the
    depth of those FIFOs; ``backend``: the MVAU/Thresholding RTL (``finn`` or ``hwreg``,
    :func:`~hwreg.rtl.layers.layer_rtl`); ``styles`` (instance -> hwreg_fifo ``STYLE``, e.g.
    :func:`hwreg.compile.fifos.read_fifo_styles`) the memory each FIFO asks synthesis for."""
    from qonnx.custom_op.registry import getCustomOp

    from hwreg.compile.estimates import specialised_copy

    spec = specialised_copy(model, part)
    g = spec.graph
    workdir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for name in ("hwreg_fifo.sv", "hwreg_dwc.sv"):
        files.append(workdir / name)
        shutil.copyfile(HDL_DIR / name, files[-1])
    runtime: list[Path] = []
    body: list[str] = []
    producer: dict[str, tuple[str, int]] = {}  # tensor -> (instance, out port)
    consumers: dict[str, list[tuple[str, int, int]]] = {}  # tensor -> (instance, port, fan-in)
    width: dict[str, int] = {}  # padded producer width
    raw: dict[str, tuple[int, int]] = {}  # tensor -> (producer width, element bits)
    need: dict[tuple[str, int], tuple[int, int]] = {}  # consumer port -> (padded, raw width)
    beats: dict[str, int] = {}
    fifos: dict[str, tuple[int, int]] = {}
    for abstract, node in zip(model.graph.node, spec.graph.node, strict=True):
        inst = getCustomOp(node)
        rtl = layer_rtl(inst, spec, workdir / abstract.name, part, clock_ns, backend)
        if rtl is None:
            raise RuntimeError(f"{abstract.name} ({node.op_type}): no Vivado-free RTL")
        top, srcs, rt = rtl
        files += srcs
        runtime += rt
        streams = [t for t in node.input if spec.get_initializer(t) is None]
        for k, t in enumerate(streams):
            consumers.setdefault(t, []).append((abstract.name, k, len(streams)))
            i = list(node.input).index(t)
            need[(abstract.name, k)] = (inst.get_instream_width_padded(i),
                                        inst.get_instream_width(i))
        for k, t in enumerate(node.output):
            producer[t] = (abstract.name, k)
            width[t] = inst.get_outstream_width_padded(k)
            raw[t] = (inst.get_outstream_width(k), inst.get_output_datatype(k).bitwidth())
            beats[t] = int(np.prod(inst.get_folded_output_shape(k)[:-1]))
        conns = [".ap_clk(ap_clk)", ".ap_rst_n(ap_rst_n)"]
        for k in range(len(streams)):
            conns += [f".in{k}_V_{s}({abstract.name}_in{k}_{s})" for s in ("TDATA", "TVALID")]
            conns.append(f".in{k}_V_TREADY({abstract.name}_in{k}_TREADY)")
            body.append(f"    wire [{need[(abstract.name, k)][0] - 1}:0] {abstract.name}_in{k}"
                        "_TDATA;\n"
                        f"    wire {abstract.name}_in{k}_TVALID, {abstract.name}_in{k}_TREADY;")
        for k, t in enumerate(node.output):
            conns += [f".out{k}_V_{s}({_id(t)}_{s})" for s in ("TDATA", "TVALID", "TREADY")]
            body.append(f"    wire [{width[t] - 1}:0] {_id(t)}_TDATA;\n"
                        f"    wire {_id(t)}_TVALID, {_id(t)}_TREADY;")
        if not top.endswith("_hwreg"):  # FINN's layer: its unused AXI-lite etc.
            conns += [f".{p}('0)" for p in _TIE.get(node.op_type, [])]
        body.append(f"    {top} {abstract.name}_i (\n        " + ",\n        ".join(conns)
                    + ");")
    gin, gout = g.input[0].name, g.output[0].name
    for t, cons in consumers.items():
        if len(cons) != 1:
            raise RuntimeError(f"{t}: {len(cons)} consumers (a fork needs DuplicateStreams)")
        inst_name, k, fan_in = cons[0]
        depth = max(fifo_depth, beats.get(t, 0)) if fan_in > 1 else fifo_depth
        depth = (depths or {}).get(f"fifo_{_id(t)}", depth)
        src = "in0_V" if t == gin else _id(t)
        dst = f"{inst_name}_in{k}"
        padded_in, raw_in = need[(inst_name, k)]
        if t == gin:
            width[t], raw[t] = padded_in, (raw_in, 0)
        w_out, bits = raw[t]
        if w_out != raw_in:  # folding differs: FIFO, then a width converter
            dst = f"dwc_{_id(t)}"
            body.append(f"    wire [{width[t] - 1}:0] {dst}_TDATA;\n"
                        f"    wire {dst}_TVALID, {dst}_TREADY;\n"
                        f"    wire [{raw_in - 1}:0] {dst}_o;\n"
                        f"    hwreg_dwc #(.BITS({bits}), .IN_E({w_out // bits}), "
                        f".OUT_E({raw_in // bits})) {dst}_i (.clk(ap_clk), .rst_n(ap_rst_n),\n"
                        f"        .in_data({dst}_TDATA[{w_out - 1}:0]), .in_valid({dst}_TVALID), "
                        f".in_ready({dst}_TREADY),\n"
                        f"        .out_data({dst}_o), .out_valid({inst_name}_in{k}_TVALID), "
                        f".out_ready({inst_name}_in{k}_TREADY));\n"
                        f"    assign {inst_name}_in{k}_TDATA = {padded_in}'({dst}_o);")
        # the FIFO stores the stream's bits without the TDATA byte padding
        depth, name = max(2, depth), f"fifo_{_id(t)}"
        fifos[name] = (w_out, depth)
        w_dst = width[t] if dst.startswith("dwc_") else padded_in
        body.append(f"    wire [{w_out - 1}:0] {name}_o;\n"
                    f"    hwreg_fifo #(.WIDTH({w_out}), .ADDR_BITS({pow2_bits(depth)}), "
                    f".DEPTH({depth}), .STYLE({(styles or {}).get(name, 0)})) "
                    f"{name} (.clk(ap_clk), .rst_n(ap_rst_n),\n"
                    f"        .in_data({src}_TDATA[{w_out - 1}:0]), .in_valid({src}_TVALID), "
                    f".in_ready({src}_TREADY),\n"
                    f"        .out_data({name}_o), .out_valid({dst}_TVALID), "
                    f".out_ready({dst}_TREADY));\n"
                    f"    assign {dst}_TDATA = {w_dst}'({name}_o);")
    text = (f"// generated by hwreg (hwreg/rtl/stitch.py): the stitched accelerator\n"
            f"module hwreg_accel (\n    input wire ap_clk, input wire ap_rst_n,\n"
            f"    input wire [{width[gin] - 1}:0] in0_V_TDATA, input wire in0_V_TVALID,\n"
            f"    output wire in0_V_TREADY,\n"
            f"    output wire [{width[gout] - 1}:0] out0_V_TDATA, output wire out0_V_TVALID,\n"
            f"    input wire out0_V_TREADY\n);\n" + "\n".join(body)
            + f"\n    assign out0_V_TDATA = {_id(gout)}_TDATA;\n"
            f"    assign out0_V_TVALID = {_id(gout)}_TVALID;\n"
            f"    assign {_id(gout)}_TREADY = out0_V_TREADY;\nendmodule\n")
    top_file = workdir / "hwreg_accel.sv"
    top_file.write_text(text)
    return "hwreg_accel", [*_dedup(files), top_file], runtime, spec, fifos


def fifo_fills(sim_log: Path) -> dict[str, int]:
    """Highest fill level per FIFO instance from a simulation's ``sim.log``."""
    fills = {}
    for line in sim_log.read_text().splitlines():
        if line.startswith("hwreg_fifo_fill "):
            _, path, n = line.split()
            fills[path.rsplit(".", 1)[-1]] = int(n)
    return fills


def _build_top(model: Any, workdir: Path, part: str, clock_ns: float, cache_dir: Path,
               depth: int, depths: dict[str, int] | None, backend: str = "finn") -> tuple:
    """Stitch and compile: (exe, runtime files, spec graph, FIFOs, first, last, in, out ports)."""
    from qonnx.custom_op.registry import getCustomOp

    top, files, runtime, spec, fifos = stitch(model, workdir, part, clock_ns, depth, depths,
                                              backend)
    g = spec.graph
    first, last = getCustomOp(g.node[0]), getCustomOp(g.node[-1])
    ins = [harness.Port("in0_V", first.get_instream_width_padded(0))]
    outs = [harness.Port("out0_V", last.get_outstream_width_padded(0))]
    exe = harness.build(files, top, ins, outs, cache_dir, normalise=[str(workdir.parent)])
    return exe, runtime, spec, fifos, first, last, ins, outs


def size_fifos(model: Any, workdir: Path, part: str, clock_ns: float,
               cache_dir: Path = harness.DEFAULT_CACHE, seed: int = 0,
               backend: str = "finn") -> dict[str, Any]:
    """FIFO sizing by simulation (FINN's ``InsertAndSetFIFODepths`` idea): the stitched top
    with FIFOs of ``PROBE_DEPTH`` entries or the analytic bound
    (:func:`~hwreg.compile.fifos.analytic_depths`) where that is deeper (whole tensors at
    joins; a probe FIFO shallower than its backlog would push the backlog onto the FIFOs
    before it) streams two random volumes, its
    input throttled to the bottleneck layer's rate (``get_exp_cycles``), so a FIFO fills only
    as far as rates, bursts and branch latencies make it, not because a faster producer races
    ahead of the bottleneck; each FIFO gets its highest fill + 1, rounded up by
    :func:`~hwreg.compile.fifos.round_depth` (at least 2, at most its probe depth). Returns
    ``{"depths", "fills", "probe_depths", "saturated" (FIFOs that reached their probe depth),
    "in_period", "cycles"}``."""
    from qonnx.custom_op.registry import getCustomOp

    bound = analytic_depths(model)
    probe = {e.fifo: max(PROBE_DEPTH, bound[e.fifo], e.beats if e.join else 0)
             for e in stream_edges(model)}
    exe, runtime, spec, fifos, first, last, ins, outs = _build_top(
        model, workdir / "probe", part, clock_ns, cache_dir, PROBE_DEPTH,
        {**probe, **probe_caps(model)}, backend)
    fin = first.get_folded_input_shape(0)
    n_in = int(np.prod(fin[:-1]))
    dt = first.get_input_datatype(0)
    rng = np.random.default_rng(seed)
    x = rng.integers(int(dt.min()), int(dt.max()) + 1, (2 * n_in, int(fin[-1])))
    n_out = int(np.prod(last.get_folded_output_shape(0)[:-1]))
    period = max(int(getCustomOp(n).get_exp_cycles()) for n in spec.graph.node) / n_in
    _, cycles = harness.run(exe, [pack(x, dt.bitwidth(), ins[0].width)], [2 * n_out],
                            [outs[0].width], workdir / "probe_run", runtime, in_period=period)
    fills = fifo_fills(workdir / "probe_run" / "sim.log")
    depths = {name: min(d, round_depth(fills[name] + 1)) for name, (_, d) in fifos.items()}
    return {"depths": depths, "fills": {n: fills[n] for n in fifos},
            "probe_depths": {n: d for n, (_, d) in fifos.items()},
            "saturated": sorted(n for n, (_, d) in fifos.items()
                                if fills[n] >= d and d >= PROBE_DEPTH),
            "in_period": period, "cycles": cycles}


def simulate_accelerator(model: Any, ctx: dict[str, np.ndarray], workdir: Path, part: str,
                         clock_ns: float, cache_dir: Path = harness.DEFAULT_CACHE,
                         fifo_depth: int | None = None,
                         depths: dict[str, int] | None = None,
                         backend: str = "finn") -> dict[str, Any]:
    """L5 on the L3 context ``ctx`` of one volume: exactness, cycles, FIFO depths and
    simulation speed. FIFO depths: ``depths`` (instance -> entries, e.g. the build's
    ``fifo_depths.json``) if given, else ``fifo_depth`` entries each, else (both None) sized
    by simulation (:func:`size_fifos`). ``backend``: the MVAU/Thresholding RTL."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles

    t0 = time.perf_counter()
    res: dict[str, Any] = {}
    sizing = "build" if depths is not None else f"fixed {fifo_depth}"
    if depths is None and fifo_depth is None:
        probe = size_fifos(model, workdir, part, clock_ns, cache_dir, backend=backend)
        depths, sizing = probe["depths"], "simulation"
        res["fifo_probe_depth"] = PROBE_DEPTH
    exe, runtime, spec, fifos, first, last, ins, outs = _build_top(
        model, workdir / "hdl", part, clock_ns, cache_dir, fifo_depth or 0, depths, backend)
    t1 = time.perf_counter()
    g = spec.graph
    x = ctx[g.input[0].name].reshape(-1, first.get_folded_input_shape(0)[-1])
    ref = ctx[g.output[0].name].reshape(-1, last.get_folded_output_shape(0)[-1])
    xb = pack(x, first.get_input_datatype(0).bitwidth(), ins[0].width)
    dt = last.get_output_datatype(0)
    res["build_s"] = round(t1 - t0, 2)
    cycles = {}
    for frames in (1, 2):
        t2 = time.perf_counter()
        got, cyc = harness.run(exe, [np.concatenate([xb] * frames)], [len(ref) * frames],
                               [outs[0].width], workdir / f"run{frames}", runtime)
        secs = time.perf_counter() - t2
        y = unpack(got[0], ref.shape[1], dt.bitwidth(), dt.signed())
        res[f"exact_{frames}"] = bool(np.array_equal(y, np.concatenate([ref] * frames)))
        cycles[frames] = cyc
        res[f"sim_cycles_per_s_{frames}"] = round(cyc / secs)
    perf = spec.transform(AnnotateCycles()).analysis(dataflow_performance)
    res.update({
        "exact": res["exact_1"] and res["exact_2"],
        "cycles_one_volume": cycles[1],
        "finn_critical_path_cycles": int(perf["critical_path_cycles"]),
        "interval_cycles": cycles[2] - cycles[1],
        "finn_max_layer_cycles": int(perf["max_cycles"]),
        "sim_cycles_per_s": res["sim_cycles_per_s_2"],
        "fifo_sizing": sizing,
        "fifo_depths": {name: d for name, (_, d) in fifos.items()},
        "fifo_bits": sum(w * d for w, d in fifos.values())})
    return res
