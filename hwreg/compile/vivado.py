"""The Vivado/Vitis part of the build: FINN's own builder steps on the folded HW graph.

Runs only when ``vivado`` is on PATH (FINN's ``build_dataflow_steps`` cannot even be imported
without ``XILINX_VIVADO``). The HW graph goes through FINN's ``step_create_dataflow_partition``,
``step_specialize_layers``, ``step_minimize_bit_width``, ``step_generate_hardware`` (code and IP
generation, HLS synthesis, FIFO sizing), ``step_create_stitched_ip`` and
``step_synthesize_bitfile`` with a FINN ``DataflowBuildConfig`` made from the hwreg config;
FINN's outputs land in ``BUILD/finn/``. The PYNQ driver step is left out (FINN clones it from
the internet). FINN's builder also needs the ``mip`` package, which hwreg's requirements leave
out (a 600 MB solver): install it on a Vivado machine.

Before any Vivado time is spent, every node is checked for an HDL generator: the 3D ops have
none yet (:data:`hwreg.compile.ops.backends.HDL_AVAILABLE`), so today this stops with one
message naming them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from hwreg.compile.boards import board_info
from hwreg.compile.config import BuildConfig
from hwreg.errors import UserError

#: FINN builder steps run, in order.
FINN_STEPS = ("step_create_dataflow_partition", "step_specialize_layers",
              "step_minimize_bit_width", "step_generate_hardware", "step_create_stitched_ip",
              "step_synthesize_bitfile")


def vivado_available() -> bool:
    """True when ``vivado`` is on PATH."""
    return shutil.which("vivado") is not None


def missing_hdl(model: ModelWrapper) -> list[str]:
    """Names of nodes that cannot produce HDL (the 3D ops until they have RTL)."""
    from hwreg.compile.ops.backends import HDL_AVAILABLE

    if HDL_AVAILABLE:
        return []
    return [f"{n.name} ({n.op_type})" for n in model.graph.node if n.op_type.endswith("_hwreg")]


def finn_build_config(cfg: BuildConfig, build_dir: Path):  # -> DataflowBuildConfig
    """FINN's ``DataflowBuildConfig`` equivalent of ``cfg``."""
    from finn.builder.build_dataflow_config import (
        DataflowBuildConfig,
        DataflowOutputType,
        ShellFlowType,
    )

    info = board_info(cfg.board)
    shell = ShellFlowType.VIVADO_ZYNQ if info.shell == "zynq" else ShellFlowType.VITIS_ALVEO
    return DataflowBuildConfig(
        output_dir=str(build_dir / "finn"), synth_clk_period_ns=cfg.clock_ns,
        board=info.finn_board, fpga_part=info.part, shell_flow_type=shell,
        folding_config_file=str(build_dir / "folding_config.json"),
        generate_outputs=[DataflowOutputType.STITCHED_IP, DataflowOutputType.BITFILE])


def run_finn_backend(model: ModelWrapper, cfg: BuildConfig, build_dir: Path) -> ModelWrapper:
    """FINN's IP generation, stitched IP and bitfile (see module docstring)."""
    missing = missing_hdl(model)
    if missing:
        raise UserError("vivado found, but these layers have no RTL yet, so FINN cannot build "
                        f"IP or a bitfile: {', '.join(missing)}")
    try:
        import finn.builder.build_dataflow_steps as finn_steps

        finn_cfg = finn_build_config(cfg, build_dir)
    except ImportError as exc:  # FINN's builder needs mip and XILINX_VIVADO
        raise UserError(f"FINN's builder cannot be imported ({exc}); it needs the `mip` package "
                        "(pip install mip) and XILINX_VIVADO set (source Vivado's settings64.sh)"
                        ) from None
    from finn.util.settings import get_settings

    # FINN's worker processes start fresh interpreters that have not imported hwreg, so they
    # would not know the 3D ops: keep FINN's parallel passes in this process.
    get_settings().num_default_workers = 1
    for name in FINN_STEPS:
        model = getattr(finn_steps, name)(model, finn_cfg)
        model.save(str(build_dir / "intermediate_models" / f"finn_{name}.onnx"))
    return model
