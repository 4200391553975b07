"""Backend (``_rtl``) variants of the 3D ops, registered in FINN's ``...fpgadataflow.rtl`` domain.

FINN's ``SpecializeLayers`` turns every hardware node into an ``<op>_hls``/``<op>_rtl`` node, and
FINN's analyses (``exp_cycles_per_layer``, ``res_estimation``, ``dataflow_performance``) and
``SetFolding`` look only at such specialised nodes. These variants make the 3D ops take part in
all of that: they inherit execution, geometry, cycles and estimates from the abstract op.

They have no HDL yet: :data:`HDL_AVAILABLE` is False and :meth:`generate_hdl` raises a clear
error, so FINN's IP generation / stitched-IP / bitfile steps stop at the first 3D op instead of
producing a broken design.
"""

from __future__ import annotations

from typing import Any

from finn.custom_op.fpgadataflow.rtl import register_custom_op
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

from hwreg.compile.ops.upsample3d import UpsampleNearest3D_hwreg
from hwreg.compile.ops.window3d import ConvolutionInputGenerator3D_hwreg

#: Whether the project's 3D ops can generate RTL (they cannot yet).
HDL_AVAILABLE = False


class NoHDLError(RuntimeError):
    """Raised when FINN asks a 3D op for HDL it does not have."""


class _NoHDL(RTLBackend):
    def generate_hdl(self, model: Any, fpgapart: str, clk: float) -> None:
        raise NoHDLError(f"{self.onnx_node.name} ({self.onnx_node.op_type}): the 3D ops have no "
                         "RTL yet; FINN cannot generate IP, a stitched design or a bitfile for "
                         "this network")

    def get_rtl_file_list(self, abspath: bool = False) -> list[str]:
        return []

    def code_generation_ipi(self) -> list[str]:
        raise NoHDLError(f"{self.onnx_node.name}: no RTL to instantiate")

    def execute_node(self, context: dict, graph: Any) -> None:
        # python execution of the abstract op (FINN's RTLBackend would dispatch to rtlsim)
        super(RTLBackend, self).execute_node(context, graph)  # type: ignore[safe-super]


@register_custom_op
class ConvolutionInputGenerator3D_hwreg_rtl(_NoHDL, ConvolutionInputGenerator3D_hwreg):
    """Specialised 3D sliding-window generator (no HDL yet)."""

    def get_nodeattr_types(self) -> dict[str, Any]:
        attrs = ConvolutionInputGenerator3D_hwreg.get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs


@register_custom_op
class UpsampleNearest3D_hwreg_rtl(_NoHDL, UpsampleNearest3D_hwreg):
    """Specialised 3D nearest upsample (no HDL yet)."""

    def get_nodeattr_types(self) -> dict[str, Any]:
        attrs = UpsampleNearest3D_hwreg.get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs
