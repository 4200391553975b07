"""Folding (PE/SIMD) of the hardware graph to a cycle budget, FINN ``SetFolding`` style.

FINN's ``SetFolding`` knows only FINN's op types by name, so this pass folds every node of the
graph, ours included: each node gets the least parallelism (PE x SIMD) whose
``get_exp_cycles()`` meets the budget (ties: larger SIMD), or its maximum parallelism when the
budget cannot be met. A sliding-window generator takes the SIMD of the MVAU it feeds (the
window stream and the MVAU input stream must have one width). The result is also written as a
FINN ``ApplyConfig`` JSON so a user can edit and re-apply it.
"""

from __future__ import annotations

import itertools
from typing import Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from hwreg.compile.ops.common import divisors

#: Folding attributes written to the folding config, per op type.
FOLD_ATTRS: dict[str, tuple[str, ...]] = {
    "MVAU": ("PE", "SIMD", "ram_style"),
    "ConvolutionInputGenerator3D_hwreg": ("SIMD", "ram_style"),
    "UpsampleNearest3D_hwreg": ("PE", "ram_style"),
    "DuplicateStreams": ("PE",),
    "ElementwiseAdd": ("PE",),
    "Thresholding": ("PE",),
}


def _channels(inst: Any) -> int:
    return int(inst.get_normal_output_shape()[-1])


def _fold_mvau(model: ModelWrapper, node: Any, budget: int) -> None:
    inst = getCustomOp(node)
    mw, mh = int(inst.get_nodeattr("MW")), int(inst.get_nodeattr("MH"))
    producer = model.find_producer(node.input[0])
    swg = None
    simds = divisors(mw)
    if producer is not None and producer.op_type == "ConvolutionInputGenerator3D_hwreg":
        swg = getCustomOp(producer)
        simds = [s for s in simds if s in swg.legal_simd()]
    best = None
    for simd, pe in itertools.product(simds, divisors(mh)):
        inst.set_nodeattr("SIMD", simd)
        inst.set_nodeattr("PE", pe)
        cycles = inst.get_exp_cycles()
        key = (cycles > budget, simd * pe if cycles <= budget else cycles, -simd)
        if best is None or key < best[0]:
            best = (key, simd, pe)
    assert best is not None
    inst.set_nodeattr("SIMD", best[1])
    inst.set_nodeattr("PE", best[2])
    if swg is not None:
        swg.set_nodeattr("SIMD", best[1])


def _fold_pe(node: Any, budget: int) -> None:
    inst = getCustomOp(node)
    choices = divisors(_channels(inst))
    for pe in choices:
        inst.set_nodeattr("PE", pe)
        if inst.get_exp_cycles() <= budget:
            return
    inst.set_nodeattr("PE", choices[-1])


class FoldToCycles(Transformation):
    """Set PE/SIMD of every hardware node for at most ``budget`` cycles per volume pair."""

    def __init__(self, budget: int, ram_style: str = "auto") -> None:
        super().__init__()
        self.budget = int(budget)
        self.ram_style = ram_style

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for node in model.graph.node:
            if node.op_type == "MVAU":
                _fold_mvau(model, node, self.budget)
            elif node.op_type in ("UpsampleNearest3D_hwreg", "DuplicateStreams",
                                  "ElementwiseAdd", "Thresholding"):
                _fold_pe(node, self.budget)
            if node.op_type.endswith("_hwreg"):
                getCustomOp(node).set_nodeattr("ram_style", self.ram_style)
        return model, False


def folding_config(model: ModelWrapper) -> dict[str, Any]:
    """The folding of ``model`` as a FINN ``ApplyConfig`` dict (node name -> attributes)."""
    cfg: dict[str, Any] = {"Defaults": {}}
    for node in model.graph.node:
        attrs = FOLD_ATTRS.get(node.op_type)
        if attrs:
            inst = getCustomOp(node)
            cfg[node.name] = {a: inst.get_nodeattr(a) for a in attrs}
    return cfg
