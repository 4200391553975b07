"""Backend (``_rtl``) variants of the 3D ops, registered in FINN's ``...fpgadataflow.rtl`` domain.

FINN's ``SpecializeLayers`` turns every hardware node into an ``<op>_hls``/``<op>_rtl`` node, and
FINN's analyses (``exp_cycles_per_layer``, ``res_estimation``, ``dataflow_performance``) and
``SetFolding`` look only at such specialised nodes. These variants make the 3D ops take part in
all of that: they inherit execution, geometry, cycles and estimates from the abstract op.

``generate_hdl`` writes the SystemVerilog core (``hdl/``) and a FINN-style top wrapper
(:mod:`hwreg.compile.ops.hdlgen`) into ``code_gen_dir_ipgen``; ``code_generation_ipi`` gives the
Vivado IPI commands FINN's ``CreateStitchedIP`` runs. Verified under Verilator
(``tests/rtl/test_ops_rtl.py``), not yet synthesised with Vivado.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finn.custom_op.fpgadataflow.rtl import register_custom_op
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

from hwreg.compile.ops.hdlgen import swg_params, upsample_params, write_top
from hwreg.compile.ops.upsample3d import UpsampleNearest3D_hwreg
from hwreg.compile.ops.window3d import ConvolutionInputGenerator3D_hwreg

#: Whether the project's 3D ops can generate RTL.
HDL_AVAILABLE = True


class NoHDLError(RuntimeError):
    """Raised when FINN asks an op for HDL it does not have."""


class _HDLBackend(RTLBackend):
    _core = ""

    def _params(self) -> dict[str, int]:
        raise NotImplementedError

    def generate_hdl(self, model: Any, fpgapart: str, clk: float) -> None:
        top = self.get_verilog_top_module_name()
        out = Path(str(self.get_nodeattr("code_gen_dir_ipgen")))
        write_top(out, top, self._core, self._params(), self.get_instream_width(),
                  self.get_instream_width_padded(), self.get_outstream_width(),
                  self.get_outstream_width_padded())
        self.set_nodeattr("gen_top_module", top)
        self.set_nodeattr("ipgen_path", str(out))
        self.set_nodeattr("ip_path", str(out))

    def get_rtl_file_list(self, abspath: bool = False) -> list[str]:
        top = str(self.get_nodeattr("gen_top_module"))
        names = [f"{self._core}.sv", f"{top}.v"]
        if not abspath:
            return names
        base = Path(str(self.get_nodeattr("code_gen_dir_ipgen")))
        return [str(base / n) for n in names]

    def code_generation_ipi(self) -> list[str]:
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        cmd.append(f"create_bd_cell -type module -reference {self.get_nodeattr('gen_top_module')}"
                   f" {self.onnx_node.name}")
        return cmd

    def execute_node(self, context: dict, graph: Any) -> None:
        # python execution of the abstract op (FINN's RTLBackend would dispatch to XSI rtlsim)
        super(RTLBackend, self).execute_node(context, graph)  # type: ignore[safe-super]


@register_custom_op
class ConvolutionInputGenerator3D_hwreg_rtl(_HDLBackend, ConvolutionInputGenerator3D_hwreg):
    """Specialised 3D sliding-window generator (``hdl/hwreg_swg3d.sv``)."""

    _core = "hwreg_swg3d"

    def _params(self) -> dict[str, int]:
        return swg_params(self)

    def get_nodeattr_types(self) -> dict[str, Any]:
        attrs = ConvolutionInputGenerator3D_hwreg.get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs


@register_custom_op
class UpsampleNearest3D_hwreg_rtl(_HDLBackend, UpsampleNearest3D_hwreg):
    """Specialised 3D nearest upsample (``hdl/hwreg_upsample3d.sv``)."""

    _core = "hwreg_upsample3d"

    def _params(self) -> dict[str, int]:
        if int(self.get_nodeattr("Scale")) != 2:
            raise NoHDLError(f"{self.onnx_node.name}: the upsample RTL supports Scale 2 only")
        return upsample_params(self)

    def get_nodeattr_types(self) -> dict[str, Any]:
        attrs = UpsampleNearest3D_hwreg.get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs
