"""Sources FINN can generate without Vivado/Vitis, per hardware node of a folded graph.

Each FINN node is specialised the way FINN's ``SpecializeLayers`` would (RTL where FINN prefers
it, else HLS) on a one-off copy, and its generator is called: RTL nodes write SystemVerilog
(``generate_hdl``), HLS nodes write their C++ top (``code_generation_ipgen`` generates the code;
turning it into RTL needs ``vitis_hls``). The project's 3D ops have no HDL generator yet.
Outcome per node: ``BUILD/hdl/hdl_report.json``.
"""

from __future__ import annotations

import copy
import json
import traceback
from pathlib import Path
from typing import Any

from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp


def _specialised(model: ModelWrapper, node: Any, part: str) -> tuple[Any, str]:
    from finn.transformation.fpgadataflow.specialize_layers import _determine_impl_style

    style = _determine_impl_style(node, part, model)
    twin = helper.make_node(f"{node.op_type}_{style}", node.input, node.output,
                            domain=f"finn.custom_op.fpgadataflow.{style}", name=node.name)
    twin.attribute.extend(a for a in node.attribute if a.name != "preferred_impl_style")
    return twin, style


def generate_sources(model: ModelWrapper, part: str, clock_ns: float, out: Path) -> dict:
    """Generate what can be generated; returns (and writes) the per-node report."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, Any]] = {}
    for node in model.graph.node:
        if node.op_type.endswith("_hwreg"):
            report[node.name] = {"status": "skipped", "why": "no HDL generator for this 3D op "
                                 "yet (python execution and estimates only)"}
            continue
        d = out / node.name
        d.mkdir(exist_ok=True)
        try:
            work = copy.deepcopy(model)  # a one-off copy: the build's graph stays abstract
            idx = [n.name for n in work.graph.node].index(node.name)
            twin, style = _specialised(work, work.graph.node[idx], part)
            work.graph.node.remove(work.graph.node[idx])
            work.graph.node.insert(idx, twin)
            inst = getCustomOp(work.graph.node[idx])
            inst.set_nodeattr("code_gen_dir_ipgen", str(d))
            if style == "rtl":
                inst.generate_hdl(work, part, clock_ns)
            else:
                inst.code_generation_ipgen(work, part, clock_ns)
            files = sorted(str(p.relative_to(out)) for p in d.rglob("*") if p.is_file())
            report[node.name] = {"status": "generated", "style": style, "files": files}
        except Exception as exc:  # one node's failure must not stop the others
            report[node.name] = {"status": "failed", "why": f"{type(exc).__name__}: {exc}",
                                 "trace": traceback.format_exc(limit=3)}
    (out / "hdl_report.json").write_text(json.dumps(report, indent=2))
    return report
