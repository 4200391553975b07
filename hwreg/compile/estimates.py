"""Estimate reports of a folded hardware graph: per-layer resources and cycles, totals against
the board's capacity, throughput at the clock, pipeline balance.

FINN's abstract ``MVAU`` (before ``SpecializeLayers``) leaves LUT/DSP estimates to its HLS/RTL
subclasses, so FINN nodes are estimated through the class ``SpecializeLayers`` would pick for
LUT-based arithmetic (``<op>_hls`` where it exists); the project's 3D ops estimate themselves
(:mod:`hwreg.compile.ops`). Estimates, not synthesis results.
"""

from __future__ import annotations

import copy
from typing import Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hwreg.compile.boards import BoardInfo

RESOURCES = ("LUT", "BRAM_18K", "URAM", "DSP")


def _estimator(node: Any) -> Any:
    """An op instance whose estimates are complete (HLS variant for FINN ops that have one)."""
    if node.op_type.endswith("_hwreg"):
        return getCustomOp(node)
    import finn.custom_op.fpgadataflow.hls as hls

    cls = hls.custom_op.get(node.op_type + "_hls")
    if cls is None:
        return getCustomOp(node)
    twin = copy.deepcopy(node)
    twin.op_type = node.op_type + "_hls"
    twin.domain = "finn.custom_op.fpgadataflow.hls"
    return cls(twin)


def layer_estimates(model: ModelWrapper, part: str) -> dict[str, dict[str, Any]]:
    """Per hardware node: op type, resources (LUT, BRAM_18K, URAM, DSP) and expected cycles."""
    out: dict[str, dict[str, Any]] = {}
    for node in model.graph.node:
        est = _estimator(node)
        res = est.node_res_estimation(part)
        row = {"op_type": node.op_type, "cycles": int(getCustomOp(node).get_exp_cycles())}
        row.update({k: round(float(res.get(k, 0))) for k in RESOURCES})
        out[node.name] = row
    return out


def network_report(layers: dict[str, dict[str, Any]], board: BoardInfo,
                   clock_hz: float) -> dict[str, Any]:
    """Totals against the board, bottleneck, throughput (pairs/s) and pipeline balance.

    Balance = ideal cycles (total cycles spread evenly over the layers) / bottleneck cycles:
    1.0 means every layer is equally busy.
    """
    totals = {k: sum(int(r[k]) for r in layers.values()) for k in RESOURCES}
    cap = board.capacity()
    util = {k: (totals[k] / cap[k] if cap[k] else (0.0 if totals[k] == 0 else float("inf")))
            for k in RESOURCES}
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
        "capacity": cap,
        "utilisation": util,
        "fits": all(u <= 1.0 for u in util.values()),
        "bottleneck_layer": bottleneck,
        "bottleneck_cycles": worst,
        "estimated_pairs_per_s": clock_hz / worst if worst else 0.0,
        "latency_cycles_upper_bound": sum(cycles.values()),
        "pipeline_balance_all_layers": ideal / worst if worst else 0.0,
        "pipeline_balance_mvau": (sum(heavy) / len(heavy)) / max(heavy) if heavy else 0.0,
    }


def markdown_summary(layers: dict[str, dict[str, Any]], report: dict[str, Any]) -> str:
    """A Markdown table of the layers and the totals."""
    lines = ["| layer | op | cycles | LUT | BRAM_18K | URAM | DSP |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, r in layers.items():
        lines.append(f"| {name} | {r['op_type']} | {r['cycles']} | {r['LUT']} | "
                     f"{r['BRAM_18K']} | {r['URAM']} | {r['DSP']} |")
    t, c = report["totals"], report["capacity"]
    lines.append(f"| **total** | | {report['latency_cycles_upper_bound']} | "
                 + " | ".join(f"{t[k]} / {c[k]}" for k in RESOURCES) + " |")
    lines += ["", f"- part {report['part']} at {report['clock_MHz']:.0f} MHz; fits: "
                  f"{report['fits']}",
              f"- bottleneck {report['bottleneck_layer']}: {report['bottleneck_cycles']} "
              f"cycles -> {report['estimated_pairs_per_s']:.1f} pairs/s",
              f"- pipeline balance (MVAUs) {report['pipeline_balance_mvau']:.2f}, "
              f"(all layers) {report['pipeline_balance_all_layers']:.2f}"]
    return "\n".join(lines) + "\n"
