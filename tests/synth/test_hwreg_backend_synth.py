"""hwreg's vendor-neutral MVAU and Thresholding (``--rtl-backend hwreg``) are Yosys-clean:
``synth_ecp5`` and ``synth_xilinx`` map them completely to each family's cells, their weight and
threshold memories (``$readmemh``) to block RAM or LUT RAM, with no vendor code in the RTL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwreg.rtl.mvau import MvauSpec, ThresholdSpec, write_mvau_top, write_threshold_top
from hwreg.synth.yosys import yosys_exe

pytestmark = pytest.mark.synth

#: Yosys's synthesis command per family (as ``hwreg synth`` runs Xilinx's).
FLOWS = {"ecp5": "synth_ecp5 -top {top}",
         "xilinx": "synth_xilinx -family xcup -top {top} -flatten -noiopad -noclkbuf"}
#: Block RAM cells per family.
BRAMS = {"ecp5": ("DP16KD", "PDPW16KD"), "xilinx": ("RAMB18E2", "RAMB36E2")}


def _synth(files: list[Path], top: str, work: Path, family: str) -> dict[str, int]:
    """Cells by type of ``top`` synthesised for ``family`` (sources and memory files in
    ``work``: YoWASP's Yosys sees only its working directory)."""
    work.mkdir(parents=True)
    for f in files:
        shutil.copyfile(f, work / f.name)
    srcs = " ".join(f.name for f in files if f.suffix in (".sv", ".v"))
    (work / "s.ys").write_text(f"read_slang -j 1 --top {top} {srcs}\n"
                               + FLOWS[family].format(top=top) + "\n"
                               "tee -q -o stat.json stat -json\n")
    res = subprocess.run([str(yosys_exe()), "-q", "-l", "yosys.log", "-s", "s.ys"], cwd=work,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    log = (work / "yosys.log").read_text()
    assert "$readmemh" not in log or "Can not open" not in log, log[-2000:]
    return json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]


@pytest.mark.parametrize("family", ["ecp5", "xilinx"])
def test_mvau_and_thresholding_synthesise(tmp_path, family) -> None:
    rng = np.random.default_rng(0)
    # a conv-like MVAU: 64 words x 128-bit weights (8 kbit: block RAM), 4 x 8 multipliers
    spec = MvauSpec(64, 32, 8, 4, 4, False, 4, True, 14, True, 14)
    w = rng.integers(-8, 8, size=(64, 32))
    src, rt = write_mvau_top(tmp_path / "m", "mvau_top", spec, w)
    cells = _synth(src + rt, "mvau_top", tmp_path / f"m_{family}", family)
    assert not [c for c in cells if c.startswith("$")], cells  # everything mapped
    assert sum(cells.get(c, 0) for c in BRAMS[family]) >= 1, cells  # the weight ROM
    # the UINT4 activation of 32 accumulators, 2 per beat: 15 thresholds each
    t = ThresholdSpec(32, 2, 15, 14, True, 4, 0)
    thr = np.sort(rng.integers(-3000, 3000, size=(32, 15)), axis=1)
    src, rt = write_threshold_top(tmp_path / "t", "thr_top", t, thr)
    cells = _synth(src + rt, "thr_top", tmp_path / f"t_{family}", family)
    assert not [c for c in cells if c.startswith("$")], cells
    ff = cells.get("TRELLIS_FF", 0) + sum(cells.get(c, 0) for c in ("FDRE", "FDSE"))
    assert ff < 2 * 15 * 15 * 2, cells  # the thresholds are in memory, not in flip-flops


@pytest.mark.parametrize(("style", "ebr"), [(0, 3), (1, 0), (2, 3)])
def test_fifo_memory_holds_depth_entries_in_the_style_asked(tmp_path, style, ebr) -> None:
    """5,000 entries of 9 bits: 3 EBRs of 2048 x 9 (2**13 entries would take 4); STYLE 1 (LUT
    RAM) none, its memory in TRELLIS_DPR16X4 cells."""
    from hwreg.compile.ops.hdlgen import HDL_DIR

    top = tmp_path / "fifo_top.sv"
    top.write_text(
        "module fifo_top(input logic clk, rst_n, input logic [8:0] i, input logic iv,\n"
        "  output logic ir, output logic [8:0] o, output logic ov, input logic orr);\n"
        f"  hwreg_fifo #(.WIDTH(9), .ADDR_BITS(13), .DEPTH(5000), .STYLE({style})) f(\n"
        "    .clk(clk), .rst_n(rst_n), .in_data(i), .in_valid(iv), .in_ready(ir),\n"
        "    .out_data(o), .out_valid(ov), .out_ready(orr));\nendmodule\n")
    cells = _synth([HDL_DIR / "hwreg_fifo.sv", top], "fifo_top", tmp_path / "ecp5", "ecp5")
    assert sum(cells.get(c, 0) for c in BRAMS["ecp5"]) == ebr
    assert (cells.get("TRELLIS_DPR16X4", 0) > 0) == (style == 1)
