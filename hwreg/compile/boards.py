"""Target boards: FPGA part and resource capacity (BRAM in 18 Kib units, as FINN reports)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Board(enum.StrEnum):
    """Supported boards."""

    pynq_z2 = "Pynq-Z2"
    zcu104 = "ZCU104"
    kv260 = "KV260"
    u250 = "U250"


@dataclass(frozen=True)
class BoardInfo:
    """FPGA part and capacity of a board (numbers from the devices' data sheets)."""

    part: str
    lut: int
    ff: int
    bram_18k: int
    uram: int
    dsp: int
    #: FINN flow for the bitstream: ``zynq`` (Zynq/Kria shell) or ``alveo`` (Vitis).
    shell: str
    #: The board's name in FINN (``finn.util.basic`` part maps).
    finn_board: str
    #: The device family for Yosys's ``synth_xilinx -family`` (``hwreg synth``).
    yosys_family: str = "xcup"

    def capacity(self) -> dict[str, int]:
        """Capacity keyed like FINN's resource estimates."""
        return {"LUT": self.lut, "BRAM_18K": self.bram_18k, "URAM": self.uram, "DSP": self.dsp}


BOARDS: dict[Board, BoardInfo] = {
    Board.pynq_z2: BoardInfo("xc7z020clg400-1", 53_200, 106_400, 280, 0, 220, "zynq",
                             "Pynq-Z2", "xc7"),
    Board.zcu104: BoardInfo("xczu7ev-ffvc1156-2-e", 230_400, 460_800, 624, 96, 1_728, "zynq",
                            "ZCU104"),
    Board.kv260: BoardInfo("xck26-sfvc784-2LV-c", 117_120, 234_240, 288, 64, 1_248, "zynq",
                           "KV260_SOM"),
    Board.u250: BoardInfo("xcu250-figd2104-2L-e", 1_728_000, 3_456_000, 5_376, 1_280, 12_288,
                          "alveo", "U250"),
}


def board_info(board: Board | str) -> BoardInfo:
    """The :class:`BoardInfo` of ``board``."""
    return BOARDS[Board(board)]
