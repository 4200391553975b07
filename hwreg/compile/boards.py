"""Target boards: FPGA part and resource capacity (BRAM in 18 Kib units, as FINN reports).

Two families: AMD/Xilinx boards (FINN's own targets; Vivado Tcl in ``hwreg package``) and Lattice
ECP5 boards (the open flow: Yosys ``synth_ecp5`` -> nextpnr-ecp5 -> ecppack, ``hwreg bitstream``).
FINN knows only Xilinx parts, so an ECP5 build runs FINN's folding and estimates on a stand-in
7-series part (``finn_part``) and maps the numbers to the ECP5 (:meth:`BoardInfo.from_finn`):
FINN's LUT6 count x ``lut_per_finn_lut`` LUT4s, one BRAM_18K -> one 18 kbit EBR (DP16KD),
one DSP48 -> one MULT18X18D.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Board(enum.StrEnum):
    """Supported boards."""

    pynq_z2 = "Pynq-Z2"
    zcu104 = "ZCU104"
    kv260 = "KV260"
    u250 = "U250"
    ulx3s_85f = "ULX3S-85F"
    orangecrab_85f = "OrangeCrab-85F"


@dataclass(frozen=True)
class Ecp5Pins:
    """What nextpnr-ecp5 needs of an ECP5 board: device, package, speed grade and the pins of
    the clock oscillator and the FTDI UART (from the boards' published constraint files)."""

    #: nextpnr-ecp5's device flag (``--85k``) and package (``--package``).
    device: str
    package: str
    speed: int
    #: The oscillator: pin and frequency (MHz).
    clk_pin: str
    clk_mhz: float
    #: UART pins as seen from the FPGA: ``rx`` (host -> FPGA), ``tx`` (FPGA -> host).
    uart_rx_pin: str
    uart_tx_pin: str


@dataclass(frozen=True)
class BoardInfo:
    """FPGA part and capacity of a board (numbers from the devices' data sheets)."""

    part: str
    lut: int
    ff: int
    bram_18k: int
    uram: int
    dsp: int
    #: FINN flow for the bitstream: ``zynq`` (Zynq/Kria shell), ``alveo`` (Vitis) or ``ecp5``
    #: (no FINN flow: ``hwreg bitstream``).
    shell: str
    #: The board's name in FINN (``finn.util.basic`` part maps); "" where FINN has none.
    finn_board: str
    #: The device family for Yosys's ``synth_xilinx -family`` (``hwreg synth``); ``ecp5`` for
    #: ``synth_ecp5``.
    yosys_family: str = "xcup"
    #: ECP5 only: the Xilinx part FINN folds and estimates on (it knows no other vendor).
    finn_stand_in: str = ""
    #: LUTs of this part per LUT of FINN's estimate (1 for Xilinx; LUT4s per LUT6 on ECP5).
    lut_per_finn_lut: float = 1.0
    #: ECP5 only: nextpnr device, package, pins.
    ecp5: Ecp5Pins | None = None

    @property
    def finn_part(self) -> str:
        """The part handed to FINN (specialisation, estimates, RTL generation)."""
        return self.finn_stand_in or self.part

    @property
    def is_ecp5(self) -> bool:
        """A Lattice ECP5 board (open flow) rather than an AMD/Xilinx one."""
        return self.ecp5 is not None

    def capacity(self) -> dict[str, int]:
        """Capacity keyed like FINN's resource estimates (ECP5: LUT4, EBR, MULT18X18D)."""
        return {"LUT": self.lut, "BRAM_18K": self.bram_18k, "URAM": self.uram, "DSP": self.dsp}

    def from_finn(self, est: dict[str, float]) -> dict[str, float]:
        """FINN's estimate (keys of :meth:`capacity`, made for :attr:`finn_part`) in this
        part's units: LUT x :attr:`lut_per_finn_lut`; BRAM_18K, URAM, DSP as they are (an
        ECP5 EBR holds 18 kbit like a BRAM_18K; a MULT18X18D takes one product like a DSP48,
        so FINN's DSP packing of narrow products is not credited); no URAM on an ECP5: URAM
        estimates move to EBR at 16 EBR per URAM (288 kbit)."""
        out = dict(est)
        if "LUT" in out:
            out["LUT"] = round(out["LUT"] * self.lut_per_finn_lut)
        if self.is_ecp5 and out.get("URAM"):
            out["BRAM_18K"] = out.get("BRAM_18K", 0) + 16 * out["URAM"]
            out["URAM"] = 0
        return out


#: LUT4s per LUT6 of FINN's estimate on ECP5, measured (``benchmarks/bench_bitstream.py``,
#: ``lut_ratio``): the tiny network's non-MVAU layers (hwreg's RTL) take 18,150 LUT4 under
#: synth_ecp5 and 5,932 LUT6 under synth_xilinx (xc7), 3.06 overall (window generators and the
#: upsample 2.3-2.5; thresholding 5-13, since ECP5 carry chains occupy LUT4s while Xilinx's
#: CARRY4 is no LUT).
ECP5_LUT_PER_LUT6 = 3.0
_ECP5_STAND_IN = "xc7z020clg400-1"  # a 7-series part: LUT6, RAMB18, DSP48E1, no URAM

BOARDS: dict[Board, BoardInfo] = {
    Board.pynq_z2: BoardInfo("xc7z020clg400-1", 53_200, 106_400, 280, 0, 220, "zynq",
                             "Pynq-Z2", "xc7"),
    Board.zcu104: BoardInfo("xczu7ev-ffvc1156-2-e", 230_400, 460_800, 624, 96, 1_728, "zynq",
                            "ZCU104"),
    Board.kv260: BoardInfo("xck26-sfvc784-2LV-c", 117_120, 234_240, 288, 64, 1_248, "zynq",
                           "KV260_SOM"),
    Board.u250: BoardInfo("xcu250-figd2104-2L-e", 1_728_000, 3_456_000, 5_376, 1_280, 12_288,
                          "alveo", "U250"),
    # LFE5U-85F (Lattice ECP5 family data sheet FPGA-DS-02012, table 1.1): 84k LUT4 (83,640 in
    # nextpnr's database), one FF per LUT4, 208 EBR x 18 kbit, 156 18x18 multipliers.
    # ULX3S: 25 MHz oscillator on G2, FTDI UART ftdi_txd (host -> FPGA) M1, ftdi_rxd L4.
    Board.ulx3s_85f: BoardInfo("LFE5U-85F-6BG381C", 83_640, 83_640, 208, 0, 156, "ecp5", "",
                               "ecp5", _ECP5_STAND_IN, ECP5_LUT_PER_LUT6,
                               Ecp5Pins("85k", "CABGA381", 6, "G2", 25.0, "M1", "L4")),
    # OrangeCrab r0.2 85F: 48 MHz oscillator on A9; no FTDI (USB goes to the FPGA): the UART
    # is on the feather header pins GPIO 0 (rx, N17) and GPIO 1 (tx, M18).
    Board.orangecrab_85f: BoardInfo("LFE5U-85F-8MG285C", 83_640, 83_640, 208, 0, 156, "ecp5",
                                    "", "ecp5", _ECP5_STAND_IN, ECP5_LUT_PER_LUT6,
                                    Ecp5Pins("85k", "CSFBGA285", 8, "A9", 48.0, "N17", "M18")),
}


def board_info(board: Board | str) -> BoardInfo:
    """The :class:`BoardInfo` of ``board``."""
    return BOARDS[Board(board)]
