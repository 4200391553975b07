"""The vendor-neutral MVAU and Thresholding of ``--rtl-backend hwreg``: Python references
(bit-exact integer models of ``hdl/hwreg_mvau.sv`` and ``hdl/hwreg_thresholding.sv``), their
memory files and FINN-interface tops.

Streams are (N, E) integer arrays, one row per beat, FINN's folded layout:

- MVAU input: (vectors * SF, SIMD), ``SF = MW / SIMD``, beat ``sf`` of a vector holds
  ``x[sf*SIMD : (sf+1)*SIMD]``; output: (vectors * NF, PE), ``NF = MH / PE``, beat ``nf``
  holds ``y[nf*PE : (nf+1)*PE]`` with ``y = x @ W``, ``W`` (MW, MH) as in FINN's initializer;
- Thresholding input/output: (pixels * CF, PE), ``CF = C / PE``, beat ``i`` holds channels
  ``(i mod CF)*PE + p``.

The tops have FINN's interface (``ap_clk``, ``ap_rst_n``, ``in0_V_*``, ``out0_V_*``, TDATA
padded to bytes), so L4 and the stitched L5 top take them in place of FINN's layers; their
memories are ``$readmemh`` files named after the top (run-time files: the simulator's working
directory, Yosys's run folder).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.compile.ops.hdlgen import HDL_DIR
from hwreg.rtl.tops import padded


def wrap(v: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """Integers ``v`` cut to ``bits`` two's complement (signed) or unsigned."""
    u = np.asarray(v, dtype=np.int64) & ((1 << bits) - 1)
    return np.where(u >= 1 << (bits - 1), u - (1 << bits), u) if signed else u


@dataclass(frozen=True)
class MvauSpec:
    """Shape and datatypes of one ``hwreg_mvau`` (FINN's node attributes): ``mw`` x ``mh``
    weights folded ``simd`` x ``pe``; input, weight and accumulator bits and signedness; output
    bits (the accumulator cut or extended to them)."""

    mw: int
    mh: int
    simd: int
    pe: int
    i_bits: int
    i_signed: bool
    w_bits: int
    w_signed: bool
    a_bits: int
    a_signed: bool
    o_bits: int

    def check(self) -> None:
        """ValueError unless the folding divides the matrix."""
        if self.mw % self.simd or self.mh % self.pe:
            raise ValueError(f"MVAU {self.mw}x{self.mh}: SIMD {self.simd} / PE {self.pe} "
                             "must divide MW / MH")


@dataclass(frozen=True)
class ThresholdSpec:
    """Shape and datatypes of one ``hwreg_thresholding``: ``c`` channels folded ``pe``, ``n``
    thresholds each, input bits/signedness, output bits, ``bias`` (FINN's ActVal)."""

    c: int
    pe: int
    n: int
    i_bits: int
    i_signed: bool
    o_bits: int
    bias: int


def mvau_reference(x: np.ndarray, w: np.ndarray, spec: MvauSpec) -> np.ndarray:
    """``hwreg_mvau``: input beats (vectors*SF, SIMD) -> output beats (vectors*NF, PE) of
    ``x @ w`` summed in ``a_bits`` and cut to ``o_bits`` (signedness of the accumulator)."""
    vec = np.asarray(x, dtype=np.int64).reshape(-1, spec.mw)
    y = wrap(vec @ np.asarray(w, dtype=np.int64), spec.a_bits, spec.a_signed)
    return wrap(y, spec.o_bits, spec.a_signed).reshape(-1, spec.pe)


def threshold_reference(x: np.ndarray, thresholds: np.ndarray, spec: ThresholdSpec
                        ) -> np.ndarray:
    """``hwreg_thresholding`` (FINN's ``multithreshold`` + ActVal): beats (pixels*CF, PE) ->
    (pixels*CF, PE) of ``#{k: x >= t[c, k]} + bias`` cut to ``o_bits`` (signed if bias < 0).
    ``thresholds``: (C, N) or (1, N) (one set for every channel)."""
    t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (spec.c, spec.n))
    v = np.asarray(x, dtype=np.int64).reshape(-1, spec.c)  # (pixels, C)
    y = (v[:, :, None] >= t[None]).sum(-1) + spec.bias
    return wrap(y, spec.o_bits, spec.bias < 0).reshape(-1, spec.pe)


def _hex_lines(words: list[int], bits: int) -> str:
    digits = max(1, math.ceil(bits / 4))
    return "".join(f"{v:0{digits}x}\n" for v in words)


def weight_words(w: np.ndarray, spec: MvauSpec) -> list[int]:
    """The ROM of ``hwreg_mvau``: word ``nf*SF + sf`` holds ``w[sf*SIMD + j, nf*PE + p]`` at
    bits ``[(p*SIMD + j)*W_BITS, ...)``."""
    spec.check()
    sf_n, nf_n = spec.mw // spec.simd, spec.mh // spec.pe
    u = np.asarray(w, dtype=np.int64) & ((1 << spec.w_bits) - 1)
    # (MW, MH) -> (SF, SIMD, NF, PE) -> (NF, SF, PE, SIMD): word-major, lane p*SIMD + j
    lanes = u.reshape(sf_n, spec.simd, nf_n, spec.pe).transpose(2, 0, 3, 1)
    lanes = lanes.reshape(nf_n * sf_n, spec.pe * spec.simd)
    return [sum(int(v) << (i * spec.w_bits) for i, v in enumerate(row)) for row in lanes]


def threshold_words(thresholds: np.ndarray, spec: ThresholdSpec) -> list[int]:
    """The memory of ``hwreg_thresholding``: word ``cf`` holds threshold ``k`` of channel
    ``cf*PE + p`` at bits ``[(p*N + k)*T_BITS, ...)``, ``T_BITS = I_BITS + 1`` (two's
    complement for a signed input, else unsigned); each threshold becomes ``ceil(t)`` (x is an
    integer) clamped to ``[min(x), max(x) + 1]``, which changes no comparison."""
    lo = -(1 << (spec.i_bits - 1)) if spec.i_signed else 0
    hi = (1 << (spec.i_bits - 1)) - 1 if spec.i_signed else (1 << spec.i_bits) - 1
    t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (spec.c, spec.n))
    t = np.clip(np.ceil(t), lo, hi + 1).astype(np.int64) & ((1 << (spec.i_bits + 1)) - 1)
    rows = t.reshape(spec.c // spec.pe, spec.pe * spec.n)  # (CF, PE*N), lane p*N + k
    return [sum(int(v) << (i * (spec.i_bits + 1)) for i, v in enumerate(r)) for r in rows]


def _ports(wi: int, wo: int) -> str:
    return (f"    input  wire ap_clk,\n    input  wire ap_rst_n,\n"
            f"    input  wire [{padded(wi) - 1}:0] in0_V_TDATA,\n    input  wire in0_V_TVALID,\n"
            f"    output wire in0_V_TREADY,\n"
            f"    output wire [{padded(wo) - 1}:0] out0_V_TDATA,\n"
            f"    output wire out0_V_TVALID,\n    input  wire out0_V_TREADY")


#: Memories of at least this many bits are asked for in block RAM (``BLOCK_ROM``), smaller
#: ones left to the synthesis tool (Yosys makes LUTs of them): a quarter of an 18-kbit block.
BLOCK_ROM_BITS = 4608


def _block(words: int, bits: int, block_rom: bool | None) -> int:
    return int(words * bits >= BLOCK_ROM_BITS if block_rom is None else block_rom)


def _mvau_inst(s: MvauSpec, init: str, out: str, valid: str, ready: str,
               block_rom: bool | None) -> str:
    return (f"    hwreg_mvau #(.MW({s.mw}), .MH({s.mh}), .SIMD({s.simd}), .PE({s.pe}), "
            f".I_BITS({s.i_bits}), .W_BITS({s.w_bits}),\n"
            f"        .A_BITS({s.a_bits}), .O_BITS({s.o_bits}), .I_SIGNED({int(s.i_signed)}), "
            f".W_SIGNED({int(s.w_signed)}), .A_SIGNED({int(s.a_signed)}),\n"
            f"        .INIT_FILE(\"{init}\"), .BLOCK_ROM("
            f"{_block(s.mw * s.mh // (s.simd * s.pe), s.pe * s.simd * s.w_bits, block_rom)})) "
            "mvau (.clk(ap_clk), .rst_n(ap_rst_n),\n"
            f"        .in_data(in0_V_TDATA[{s.simd * s.i_bits - 1}:0]), "
            f".in_valid(in0_V_TVALID), .in_ready(in0_V_TREADY),\n"
            f"        .out_data({out}), .out_valid({valid}), .out_ready({ready}));\n")


def _thr_inst(t: ThresholdSpec, init: str, data: str, valid: str, ready: str, out: str,
              block_rom: bool | None) -> str:
    return (f"    hwreg_thresholding #(.C({t.c}), .PE({t.pe}), .N({t.n}), .I_BITS({t.i_bits}), "
            f".I_SIGNED({int(t.i_signed)}),\n        .O_BITS({t.o_bits}), .BIAS({t.bias}), "
            f".INIT_FILE(\"{init}\"),\n        .BLOCK_ROM("
            f"{_block(t.c // t.pe, t.pe * t.n * (t.i_bits + 1), block_rom)})) "
            "thr (.clk(ap_clk), .rst_n(ap_rst_n),\n"
            f"        .in_data({data}), .in_valid({valid}), .in_ready({ready}),\n"
            f"        .out_data({out}), .out_valid(out0_V_TVALID), "
            f".out_ready(out0_V_TREADY));\n")


def _write(out_dir: Path, top: str, cores: list[str], body: str, wo: int,
           mems: dict[str, tuple[list[int], int]]) -> tuple[list[Path], list[Path]]:
    """Copy the cores, write ``<top>.v`` around ``body`` and the memory files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for core in cores:
        files.append(out_dir / f"{core}.sv")
        shutil.copyfile(HDL_DIR / f"{core}.sv", files[-1])
    pad = "" if padded(wo) == wo else f"{padded(wo) - wo}'b0, "
    f = out_dir / f"{top}.v"
    f.write_text(body + f"    assign out0_V_TDATA = {{{pad}core_out}};\nendmodule\n")
    runtime = []
    for name, (words, bits) in mems.items():
        runtime.append(out_dir / name)
        runtime[-1].write_text(_hex_lines(words, bits))
    return [*files, f], runtime


def write_mvau_top(out_dir: Path, top: str, spec: MvauSpec, w: np.ndarray,
                   thr: tuple[ThresholdSpec, np.ndarray] | None = None,
                   block_rom: bool | None = None) -> tuple[list[Path], list[Path]]:
    """``<top>.v``: ``hwreg_mvau`` with the weights ``w`` (MW, MH), followed (``thr``: spec and
    (MH or 1, N) thresholds, FINN's MVAU with an activation) by ``hwreg_thresholding`` on the
    accumulators; returns (sources, run-time memory files ``<top>_weights.dat``,
    ``<top>_thresholds.dat``). ``block_rom``: memories in block RAM (True), left to the
    synthesis tool (False), or block RAM from :data:`BLOCK_ROM_BITS` on (None)."""
    spec.check()
    wo = spec.pe * (thr[0].o_bits if thr else spec.o_bits)
    head = (f"// generated by hwreg (hwreg/rtl/mvau.py): MVAU{' + thresholds' if thr else ''}"
            f" in vendor-neutral RTL\nmodule {top} (\n{_ports(spec.simd * spec.i_bits, wo)}\n);\n"
            f"    wire [{wo - 1}:0] core_out;\n")
    mems = {f"{top}_weights.dat": (weight_words(w, spec), spec.pe * spec.simd * spec.w_bits)}
    if thr is None:
        body = head + _mvau_inst(spec, f"{top}_weights.dat", "core_out", "out0_V_TVALID",
                                 "out0_V_TREADY", block_rom)
        return _write(out_dir, top, ["hwreg_rom", "hwreg_mvau"], body, wo, mems)
    t, values = thr
    if (t.c, t.pe, t.i_bits, t.i_signed) != (spec.mh, spec.pe, spec.o_bits, spec.a_signed):
        raise ValueError(f"{top}: thresholds {t} do not follow the MVAU {spec}")
    body = (head + f"    wire [{spec.pe * spec.o_bits - 1}:0] acc_data;\n"
            "    wire acc_valid, acc_ready;\n"
            + _mvau_inst(spec, f"{top}_weights.dat", "acc_data", "acc_valid", "acc_ready",
                         block_rom)
            + _thr_inst(t, f"{top}_thresholds.dat", "acc_data", "acc_valid", "acc_ready",
                        "core_out", block_rom))
    mems[f"{top}_thresholds.dat"] = (threshold_words(values, t), t.pe * t.n * (t.i_bits + 1))
    return _write(out_dir, top, ["hwreg_rom", "hwreg_mvau", "hwreg_thresholding"], body, wo,
                  mems)


def write_threshold_top(out_dir: Path, top: str, spec: ThresholdSpec, thresholds: np.ndarray,
                        block_rom: bool | None = None) -> tuple[list[Path], list[Path]]:
    """``<top>.v`` around ``hwreg_thresholding`` with ``thresholds`` (C or 1, N); returns
    (sources, [``<top>_thresholds.dat``]); ``block_rom`` as in :func:`write_mvau_top`."""
    if spec.c % spec.pe:
        raise ValueError(f"{top}: PE {spec.pe} must divide {spec.c} channels")
    wi, wo = spec.pe * spec.i_bits, spec.pe * spec.o_bits
    body = (f"// generated by hwreg (hwreg/rtl/mvau.py): Thresholding in vendor-neutral RTL\n"
            f"module {top} (\n{_ports(wi, wo)}\n);\n    wire [{wo - 1}:0] core_out;\n"
            + _thr_inst(spec, f"{top}_thresholds.dat", f"in0_V_TDATA[{wi - 1}:0]",
                        "in0_V_TVALID", "in0_V_TREADY", "core_out", block_rom))
    mems = {f"{top}_thresholds.dat": (threshold_words(thresholds, spec),
                                      spec.pe * spec.n * (spec.i_bits + 1))}
    return _write(out_dir, top, ["hwreg_rom", "hwreg_thresholding"], body, wo, mems)


#: FINN op types whose RTL the ``hwreg`` backend replaces.
HWREG_OPS = ("MVAU", "MVAU_rtl", "MVAU_hls", "Thresholding", "Thresholding_rtl",
             "Thresholding_hls")


def _dt(inst: Any, attr: str) -> Any:
    from qonnx.core.datatype import DataType

    dt = DataType[str(inst.get_nodeattr(attr))]
    if dt.name == "BIPOLAR" or not dt.is_integer():
        raise ValueError(f"{inst.onnx_node.name}: {attr} {dt.name} is not supported by the "
                         "hwreg RTL backend (integer datatypes only)")
    return dt


def _initializer(inst: Any, model: Any, i: int) -> np.ndarray:
    node = inst.onnx_node
    value = model.get_initializer(node.input[i]) if len(node.input) > i else None
    if value is None:
        raise ValueError(f"{node.name}: input {i} is not a constant (mem_mode "
                         "external/dynamic is not supported by the hwreg RTL backend)")
    return np.asarray(value)


def node_specs(inst: Any, model: Any) -> tuple[Any, np.ndarray, Any]:
    """(spec, constants, thresholds) of a FINN MVAU or Thresholding node: an MVAU gives
    (:class:`MvauSpec`, weights (MW, MH), None or (:class:`ThresholdSpec`, thresholds)), a
    Thresholding (:class:`ThresholdSpec`, thresholds (C or 1, N), None); from the node's
    attributes (folding, datatypes, ``accDataType``, ``ActVal``) and initializers."""
    name = inst.onnx_node.name
    g = inst.get_nodeattr
    if inst.onnx_node.op_type.startswith("Thresholding"):
        idt, odt = _dt(inst, "inputDataType"), _dt(inst, "outputDataType")
        thr = _initializer(inst, model, 1)
        return (ThresholdSpec(int(g("NumChannels")), int(g("PE")), int(thr.shape[1]),
                              idt.bitwidth(), idt.signed(), odt.bitwidth(), int(g("ActVal"))),
                thr, None)
    if int(g("binaryXnorMode")):
        raise ValueError(f"{name}: binaryXnorMode is not supported by the hwreg RTL backend")
    idt, wdt, odt = (_dt(inst, a) for a in ("inputDataType", "weightDataType", "outputDataType"))
    acc = _dt(inst, "accDataType")
    act = int(g("noActivation")) == 0
    spec = MvauSpec(int(g("MW")), int(g("MH")), int(g("SIMD")), int(g("PE")), idt.bitwidth(),
                    idt.signed(), wdt.bitwidth(), wdt.signed(), acc.bitwidth(), acc.signed(),
                    acc.bitwidth() if act else odt.bitwidth())
    w = _initializer(inst, model, 1)
    if not act:
        return spec, w, None
    thr = _initializer(inst, model, 2)
    t = ThresholdSpec(spec.mh, spec.pe, int(thr.shape[1]), acc.bitwidth(), acc.signed(),
                      odt.bitwidth(), int(g("ActVal")))
    return spec, w, (t, thr)


def hwreg_layer_rtl(inst: Any, model: Any, d: Path) -> tuple[str, list[Path], list[Path]] | None:
    """(top ``<node>_hwreg``, sources, run-time memory files) of a FINN MVAU or Thresholding
    node (any of :data:`HWREG_OPS`) in hwreg's RTL, written to ``d``; None for other ops."""
    if inst.onnx_node.op_type not in HWREG_OPS:
        return None
    top = f"{inst.onnx_node.name}_hwreg"
    spec, values, thr = node_specs(inst, model)
    style = inst.get_nodeattr("ram_style") if "ram_style" in inst.get_nodeattr_types() else ""
    block = {"block": True, "distributed": False}.get(str(style))  # else by size
    if isinstance(spec, ThresholdSpec):
        src, rt = write_threshold_top(d, top, spec, values, block)
    else:
        src, rt = write_mvau_top(d, top, spec, values, thr, block)
    return top, src, rt
