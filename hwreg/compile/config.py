"""The typed configuration of one ``hwreg build`` (saved as ``BUILD/build_config.yaml``).

The board is the one :class:`~hwreg.compile.boards.Board` type; the default input grid is the
default model grid (:data:`hwreg.config.DEFAULT_GRID_SHAPE`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from hwreg.compile.boards import Board
from hwreg.config import DEFAULT_GRID_SHAPE, Rule, check_rules
from hwreg.errors import ConfigError

#: The build steps in order (the functions live in :mod:`hwreg.compile.steps`; kept here so the
#: CLI can list them without importing FINN).
STEP_NAMES: tuple[str, ...] = (
    "step_tidy", "step_lower_to_integer", "step_convert_to_hw", "step_set_folding",
    "step_set_fifo_depths", "step_estimates", "step_generate_hdl", "step_vivado_synthesis",
)


class RamStyle(enum.StrEnum):
    """Memory primitive for the sliding-window and upsample buffers (FINN's ``ram_style``)."""

    auto = "auto"
    block = "block"
    distributed = "distributed"
    ultra = "ultra"


class MvauStyle(enum.StrEnum):
    """How a conv's matrix product and activation become FINN layers."""

    #: MVAU without activation + a separate Thresholding layer; FINN implements both in RTL
    #: (SystemVerilog generated without Vivado; the MVAU uses DSPs).
    rtl = "rtl"
    #: MVAU with the thresholds inside (one layer, LUT arithmetic); FINN implements it in HLS
    #: (C++ generated without Vivado; RTL needs vitis_hls).
    hls = "hls"


class RtlBackend(enum.StrEnum):
    """Whose RTL implements the MVAU and Thresholding layers in L4/L5, the stitched top and
    ``hwreg synth`` (:mod:`hwreg.rtl.mvau`)."""

    #: FINN's MVAU_rtl (built around Xilinx DSP slices) and Thresholding_rtl (which Yosys
    #: rejects): the Xilinx flow.
    finn = "finn"
    #: hwreg's vendor-neutral ``hw/hdl/hwreg_mvau.sv`` and ``hwreg_thresholding.sv`` (inferred
    #: memories and multipliers; Yosys-clean for ECP5 and Xilinx); also covers FINN's MVAU with
    #: embedded thresholds (``mvau_style: hls``).
    hwreg = "hwreg"


class FifoSizing(enum.StrEnum):
    """How ``step_set_fifo_depths`` sizes the FIFOs between layers
    (:mod:`hwreg.compile.fifos`)."""

    #: A bound from each edge's production/consumption pattern; no simulation.
    analytic = "analytic"
    #: The stitched RTL under Verilator, input at the bottleneck rate, highest fill per FIFO
    #: (needs Vivado-free RTL of every layer: ``mvau_style: rtl``).
    simulation = "simulation"


@dataclass
class BuildConfig:
    """One build: board, throughput target, input grid and what to generate."""

    #: Target board (FPGA part and capacity).
    board: Board = Board.zcu104
    #: Target throughput in accelerator passes (volume pairs through the network) per second;
    #: folding meets it where possible. A model that makes several passes per registered pair
    #: (``model.cascade`` x ``2**model.flips``) registers ``target_fps / passes_per_pair`` pairs/s.
    target_fps: float = 100.0
    #: Accelerator passes per registered pair (set from the model by ``export_and_build``).
    passes_per_pair: int = 1
    #: Clock period in ns (5.0 = 200 MHz).
    clock_ns: float = 5.0
    #: Model input grid (D, H, W) in voxels; must match the exported QONNX file.
    grid_shape: tuple[int, int, int] = DEFAULT_GRID_SHAPE
    #: MVAU implementation style (see :class:`MvauStyle`).
    mvau_style: MvauStyle = MvauStyle.rtl
    #: Buffer memory of the 3D sliding-window and upsample ops.
    ram_style: RamStyle = RamStyle.auto
    #: A folding config JSON (FINN ``ApplyConfig`` format) used instead of automatic folding.
    folding_config: Path | None = None
    #: Write RTL/HLS sources FINN can generate without Vivado (step ``step_generate_hdl``).
    generate_hdl: bool = True
    #: FIFO sizing of ``step_set_fifo_depths`` (see :class:`FifoSizing`).
    fifo_sizing: FifoSizing = FifoSizing.analytic
    #: RTL of the MVAU and Thresholding layers (see :class:`RtlBackend`).
    rtl_backend: RtlBackend = RtlBackend.finn

    @property
    def clock_hz(self) -> float:
        """Clock frequency in Hz."""
        return 1e9 / self.clock_ns

    def target_cycles(self) -> int:
        """Cycles per pair that meet ``target_fps`` at the clock."""
        return int(self.clock_hz / self.target_fps)

    def validate(self) -> None:
        """Raise ConfigError on a value out of range (see :data:`BUILD_RULES`)."""
        check_rules(self, BUILD_RULES, "build.")
        if self.target_cycles() < 1:
            raise ConfigError(f"build.target_fps {self.target_fps:g}: more than one pair per "
                              f"clock cycle at {self.clock_hz / 1e6:g} MHz")


#: Range rules of :class:`BuildConfig` (types are checked on loading).
BUILD_RULES: dict[str, Rule] = {
    "target_fps": (lambda v: v > 0, "> 0 pairs/s"),
    "passes_per_pair": (lambda v: v >= 1, ">= 1"),
    "clock_ns": (lambda v: v > 0, "> 0 ns"),
    "grid_shape": (lambda v: all(s >= 1 for s in v), "each axis >= 1"),
}
