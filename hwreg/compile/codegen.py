"""Sources FINN can generate without Vivado/Vitis, per hardware node of a folded graph.

The graph is specialised by FINN's ``SpecializeLayers`` on a copy (RTL where FINN prefers it,
else HLS) and each node's ``code_generation_ipgen`` is called: RTL nodes write SystemVerilog
(``generate_hdl``), HLS nodes write their C++ top (``code_generation_ipgen`` generates the code;
turning it into RTL needs ``vitis_hls``). The project's 3D ops have no HDL generator yet.
Outcome per node: ``BUILD/hdl/hdl_report.json``.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hwreg.atomic import write_json
from hwreg.compile.ops.backends import NoHDLError


def generate_sources(model: ModelWrapper, part: str, clock_ns: float, out: Path,
                     rtl_backend: str = "finn") -> dict:
    """Generate what can be generated; returns (and writes) the per-node report.
    ``rtl_backend`` ``hwreg``: MVAU and Thresholding nodes get hwreg's vendor-neutral RTL and
    its memory files (:func:`hwreg.rtl.mvau.hwreg_layer_rtl`, style ``hwreg``)."""
    from hwreg.compile.estimates import specialised_copy
    from hwreg.rtl.mvau import hwreg_layer_rtl

    out.mkdir(parents=True, exist_ok=True)
    spec = specialised_copy(model, part)
    report: dict[str, dict[str, Any]] = {}
    for node, twin in zip(model.graph.node, spec.graph.node, strict=True):
        d = out / node.name
        inst = getCustomOp(twin)
        style = twin.domain.rsplit(".", 1)[-1]
        try:
            d.mkdir(exist_ok=True)
            inst.set_nodeattr("code_gen_dir_ipgen", str(d))
            if rtl_backend == "hwreg" and hwreg_layer_rtl(inst, spec, d) is not None:
                style = "hwreg"
            else:
                inst.code_generation_ipgen(spec, part, clock_ns)  # RTL: generate_hdl; HLS: C++
            files = sorted(str(p.relative_to(out)) for p in d.rglob("*") if p.is_file())
            report[node.name] = {"status": "generated", "impl": twin.op_type, "style": style,
                                 "files": files}
        except NoHDLError as exc:
            d.rmdir()
            report[node.name] = {"status": "skipped", "impl": twin.op_type, "why": str(exc)}
        except Exception as exc:  # one node's failure must not stop the others
            report[node.name] = {"status": "failed", "impl": twin.op_type,
                                 "why": f"{type(exc).__name__}: {exc}",
                                 "trace": traceback.format_exc(limit=3)}
    write_json(out / "hdl_report.json", report)
    return report
