"""Estimate reports of a folded hardware graph: per-layer resources and cycles, totals against
the board's capacity, throughput at the clock, pipeline balance.

FINN's abstract ``MVAU`` (before ``SpecializeLayers``) leaves LUT/DSP estimates to its HLS/RTL
subclasses, and FINN's analyses look only at specialised nodes, so the reports come from FINN's
own ``exp_cycles_per_layer`` and ``res_estimation`` on a specialised copy of the graph (the 3D
ops take part through their ``_rtl`` variants, :mod:`hwreg.compile.ops.backends`). Estimates, not
synthesis results.

Every buffer counts: a layer's row has its own memories (window and upsample buffers, MVAU
weights and thresholds, in FINN's estimate; ``param_bits`` says how many weight and threshold
bits it stores) and, in ``fifo_*`` columns, the FIFOs and width converters on its inputs
(:mod:`hwreg.compile.fifos`, depths from ``BUILD/fifo_depths.json``). The totals and the
``fits`` verdict include them; a build that does not fit names the overflow and the buffers
that dominate it, and each skip connection's memory is listed.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hwreg.compile.boards import BoardInfo

RESOURCES = ("LUT", "BRAM_18K", "URAM", "DSP")


def specialised_copy(model: ModelWrapper, part: str) -> ModelWrapper:
    """A copy of the HW graph after FINN's ``SpecializeLayers`` (node i <-> node i)."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    import hwreg.compile.ops.backends  # noqa: F401  (the 3D ops' _rtl variants)

    return copy.deepcopy(model).transform(SpecializeLayers(part))


def layer_estimates(model: ModelWrapper, part: str) -> dict[str, dict[str, Any]]:
    """Per hardware node (abstract name): FINN's ``exp_cycles_per_layer`` and
    ``res_estimation`` of its specialised variant (``impl``)."""
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    spec = specialised_copy(model, part)
    cycles = exp_cycles_per_layer(spec)
    res = res_estimation(spec, part)
    out: dict[str, dict[str, Any]] = {}
    for node, twin in zip(model.graph.node, spec.graph.node, strict=True):
        row: dict[str, Any] = {"op_type": node.op_type, "impl": twin.op_type,
                               "cycles": int(cycles[twin.name])}
        row.update({k: round(float(res[twin.name].get(k, 0))) for k in RESOURCES})
        row["param_bits"] = param_bits(model, node)
        out[node.name] = row
    return out


def param_bits(model: ModelWrapper, node: Any) -> int:
    """Bits of the constant inputs of ``node`` (MVAU weights, thresholds) at their datatypes."""
    bits = 0
    for t in node.input:
        value = model.get_initializer(t)
        if value is not None:
            bits += int(value.size) * model.get_tensor_datatype(t).bitwidth()
    return bits


def ecp5_multipliers(node: Any) -> int:
    """MULT18X18Ds of an MVAU in hwreg's RTL (``hw/hdl/hwreg_mvau.sv``) on ECP5: one per
    product, PE x SIMD (x the 18-bit pieces of wider operands), when both operands have at
    least 2 bits (Yosys's ``synth_ecp5`` maps each such multiplier to MULT18X18Ds; a 1-bit
    operand stays in LUTs). FINN's DSP estimate packs narrow products into a DSP48 and was 42 %
    low here (measured: demo-w4a4 on 40x48x40 for the ULX3S-85F, 106 estimated, 184 used =
    the sum of PE x SIMD)."""
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    a, w = inst.get_input_datatype(0).bitwidth(), inst.get_input_datatype(1).bitwidth()
    if min(a, w) < 2:
        return 0
    pieces = -(-a // 18) * -(-w // 18)
    return int(inst.get_nodeattr("PE")) * int(inst.get_nodeattr("SIMD")) * pieces


def add_buffers(layers: dict[str, dict[str, Any]], buffers: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, Any]]:
    """``layers`` with ``fifo_LUT``/``fifo_BRAM_18K``/``fifo_URAM``/``fifo_bits``: the FIFOs
    and width converters on each layer's inputs (rows of
    :func:`hwreg.compile.fifos.buffer_estimates`)."""
    out = {name: {**row, "fifo_LUT": 0, "fifo_BRAM_18K": 0, "fifo_URAM": 0, "fifo_bits": 0}
           for name, row in layers.items()}
    for b in buffers.values():
        row = out[b["consumer"]]
        for k in ("LUT", "BRAM_18K", "URAM", "bits"):
            row[f"fifo_{k}"] += b[k]
    return out


def skip_memory(buffers: dict[str, dict[str, Any]], layers: dict[str, dict[str, Any]],
                model: ModelWrapper | None = None) -> list[dict[str, Any]]:
    """One row per skip connection (a join: a node with several stream inputs): the FIFOs
    into it, their bits (depth x width), the bits of one pair's skip tensor, and their
    LUT/BRAM_18K/URAM."""
    joins: dict[str, list[dict[str, Any]]] = {}
    for name, b in buffers.items():
        if b["join"]:
            joins.setdefault(b["consumer"], []).append({"fifo": name, **b})
    rows = []
    for node, fifos in joins.items():
        row: dict[str, Any] = {"node": node, "fifos": [f["fifo"] for f in fifos],
                               "bits_buffered": sum(f["bits"] for f in fifos)}
        row.update({k: sum(f[k] for f in fifos) for k in ("LUT", "BRAM_18K", "URAM")})
        if model is not None:
            from qonnx.custom_op.registry import getCustomOp

            inst = getCustomOp(model.get_node_from_name(node))
            shape = inst.get_normal_input_shape(0)  # (..., pixels, channels)
            bits = inst.get_input_datatype(0).bitwidth()
            row.update(pixels=int(np.prod(shape[:-1])), channels=int(shape[-1]), act_bits=bits,
                       bits_per_pair=int(np.prod(shape)) * bits)
        rows.append(row)
    return rows


def network_report(layers: dict[str, dict[str, Any]], board: BoardInfo,
                   clock_hz: float) -> dict[str, Any]:
    """Totals against the board, bottleneck, throughput (pairs/s) and pipeline balance.

    Totals include the ``fifo_*`` columns of :func:`add_buffers` where present
    (``totals_layers`` and ``totals_fifos`` split them). Balance = ideal cycles (total cycles
    spread evenly over the layers) / bottleneck cycles: 1.0 means every layer is equally busy.
    """
    own = {k: sum(int(r[k]) for r in layers.values()) for k in RESOURCES}
    fifo = {k: sum(int(r.get(f"fifo_{k}", 0)) for r in layers.values()) for k in RESOURCES}
    totals = {k: own[k] + fifo[k] for k in RESOURCES}
    cap = board.capacity()
    util = {k: (totals[k] / cap[k] if cap[k] else (0.0 if totals[k] == 0 else float("inf")))
            for k in RESOURCES}
    over = {k: totals[k] - cap[k] for k in RESOURCES if totals[k] > cap[k]}
    cycles = {name: int(r["cycles"]) for name, r in layers.items()}
    bottleneck = max(cycles, key=lambda n: cycles[n])
    worst = cycles[bottleneck]
    ideal = sum(cycles.values()) / len(cycles)
    # heavy layers only: a stream fork/add is cheap by nature and says nothing about balance
    heavy = [c for n, c in cycles.items() if layers[n]["op_type"] == "MVAU"]
    return {
        "part": board.part,
        "clock_MHz": clock_hz / 1e6,
        "totals": totals,
        "totals_layers": own,
        "totals_fifos": fifo,
        "fifo_bits": sum(int(r.get("fifo_bits", 0)) for r in layers.values()),
        "capacity": cap,
        "utilisation": util,
        "fits": all(u <= 1.0 for u in util.values()),
        "over_capacity": over,
        "dominant_buffers": {k: dominant(layers, k) for k in over},
        "bottleneck_layer": bottleneck,
        "bottleneck_cycles": worst,
        "estimated_pairs_per_s": clock_hz / worst if worst else 0.0,
        "latency_cycles_upper_bound": sum(cycles.values()),
        "pipeline_balance_all_layers": ideal / worst if worst else 0.0,
        "pipeline_balance_mvau": (sum(heavy) / len(heavy)) / max(heavy) if heavy else 0.0,
    }


def dominant(layers: dict[str, dict[str, Any]], resource: str, n: int = 3
             ) -> list[list[Any]]:
    """The ``n`` largest users of ``resource``: [name, amount], a layer's own memories as
    ``<layer>`` and its input FIFOs as ``<layer> input FIFOs``."""
    users = [[name, int(r[resource])] for name, r in layers.items()]
    users += [[f"{name} input FIFOs", int(r.get(f"fifo_{resource}", 0))]
              for name, r in layers.items()]
    return sorted((u for u in users if u[1] > 0), key=lambda u: -u[1])[:n]


def fit_line(report: dict[str, Any]) -> str:
    """One line: fits, or by how much and which buffers dominate."""
    if report["fits"]:
        return "fits: True (FIFOs and width converters included)"
    parts = []
    for k, extra in report["over_capacity"].items():
        top = ", ".join(f"{n} {v}" for n, v in report["dominant_buffers"][k])
        parts.append(f"needs {report['totals'][k]} {k}, {extra} over the "
                     f"{report['capacity'][k]} of the part (largest: {top})")
    return "fits: False: " + "; ".join(parts)


def markdown_summary(layers: dict[str, dict[str, Any]], report: dict[str, Any]) -> str:
    """A Markdown table of the layers and the totals."""
    lines = ["| layer | op | cycles | LUT | BRAM_18K | URAM | DSP | param bits | "
             "input FIFO bits | FIFO LUT | FIFO BRAM_18K | FIFO URAM |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in layers.items():
        lines.append(f"| {name} | {r['op_type']} | {r['cycles']} | {r['LUT']} | "
                     f"{r['BRAM_18K']} | {r['URAM']} | {r['DSP']} | {r.get('param_bits', 0)} | "
                     f"{r.get('fifo_bits', 0)} | {r.get('fifo_LUT', 0)} | "
                     f"{r.get('fifo_BRAM_18K', 0)} | {r.get('fifo_URAM', 0)} |")
    t, c = report["totals"], report["capacity"]
    lines.append(f"| **total** | | {report['latency_cycles_upper_bound']} | "
                 + " | ".join(f"{t[k]} / {c[k]}" for k in RESOURCES) + " | | "
                 f"{report.get('fifo_bits', 0)} | | | |")
    fifo = report.get("totals_fifos")
    lines += [""]
    if fifo is not None:
        lines.append(f"- totals include FIFOs and width converters ({report.get('fifo_sizing')} "
                     f"sizing, {report['fifo_bits'] / 1024:.0f} kbit): "
                     + ", ".join(f"{fifo[k]} {k}" for k in RESOURCES if k != "DSP"))
    lines += [f"- part {report['part']} at {report['clock_MHz']:.0f} MHz; {fit_line(report)}",
              f"- bottleneck {report['bottleneck_layer']}: {report['bottleneck_cycles']} "
              f"cycles -> {report['estimated_pairs_per_s']:.1f} pairs/s"
              + (f" ({report['estimated_passes_per_s']:.1f} accelerator passes/s, "
                 f"{report['passes_per_pair']} per pair: model.cascade x 2**model.flips)"
                 if report.get("passes_per_pair", 1) > 1 else ""),
              f"- pipeline balance (MVAUs) {report['pipeline_balance_mvau']:.2f}, "
              f"(all layers) {report['pipeline_balance_all_layers']:.2f}"]
    for sk in report.get("skips", []):
        per_pair = (f"; the skip tensor is {sk['pixels']} pixels x {sk['channels']} channels "
                    f"x {sk['act_bits']} bits = {sk['bits_per_pair']} bits per pair"
                    if "bits_per_pair" in sk else "")
        lines.append(f"- skip connection into {sk['node']}: its FIFOs hold up to "
                     f"{sk['bits_buffered']} bits ({sk['BRAM_18K']} BRAM_18K, {sk['URAM']} URAM, "
                     f"{sk['LUT']} LUT){per_pair}")
    return "\n".join(lines) + "\n"


def estimate_with_buffers(model: ModelWrapper, board: BoardInfo, clock_hz: float,
                          table: dict[str, Any]) -> tuple[dict, dict, dict[str, Any]]:
    """Layers (with their input FIFOs), FIFO rows and the network report of ``model`` on
    ``board`` with the FIFOs of ``table`` (``fifo_depths.json``): each FIFO mapped by
    :func:`hwreg.compile.fifos.buffer_estimates`, then moved between BRAM and URAM where that
    makes both fit (:func:`hwreg.compile.fifos.rebalance_memory`)."""
    from hwreg.compile.fifos import buffer_estimates, rebalance_memory

    layers = layer_estimates(model, board.finn_part)
    # in the board's own units (ECP5: LUT4s, EBRs; see BoardInfo.from_finn)
    layers = {n: board.from_finn(r) for n, r in layers.items()}
    if board.is_ecp5:  # hwreg's MVAU RTL: one multiplier per product, not FINN's DSP packing
        for node in model.graph.node:
            if node.op_type == "MVAU":
                layers[node.name]["DSP"] = ecp5_multipliers(node)
    buffers = {n: board.from_finn(b) for n, b in buffer_estimates(table, board.capacity()).items()}
    cap = board.capacity()
    moved = rebalance_memory(buffers, {k: cap[k] - sum(r[k] for r in layers.values())
                                       for k in ("LUT", "BRAM_18K", "URAM")})
    layers = add_buffers(layers, buffers)
    report = network_report(layers, board, clock_hz)
    report["fifo_sizing"] = table["sizing"]
    report["fifos_moved_to_fit"] = moved
    report["skips"] = skip_memory(buffers, layers, model)
    return layers, buffers, report
