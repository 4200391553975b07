"""Estimate reports of a folded hardware graph: per-layer resources and cycles, totals against
the board's capacity, throughput at the clock, pipeline balance.

FINN's abstract ``MVAU`` (before ``SpecializeLayers``) leaves LUT/DSP estimates to its HLS/RTL
subclasses, and FINN's analyses look only at specialised nodes, so the reports come from FINN's
own ``exp_cycles_per_layer`` and ``res_estimation`` on a specialised copy of the graph (the 3D
ops take part through their ``_rtl`` variants, :mod:`hwreg.compile.ops.backends`). Estimates, not
synthesis results.
"""

from __future__ import annotations

import copy
from typing import Any

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
