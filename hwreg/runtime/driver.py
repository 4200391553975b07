"""The host driver of a packaged accelerator (``hwreg package``): prologue, transfer, epilogue.

This file is copied verbatim into ``PKG/driver/hwreg_driver.py`` and needs only numpy and the
package's ``manifest.json``, so it runs on a board without hwreg or torch. One pair:

- **prologue** (:meth:`Accelerator.prologue`): ``x`` (2, D, H, W) float in [0, 1], channel 0
  fixed, 1 moving -> uint8 codes ``round(clip(x * 256, 0, 255))`` -> NDHWC -> beats of
  ``simd`` elements -> each beat packed little-endian into ``dma_in_bytes`` bytes (element i at
  bits [8i, 8i+8)): ``(beats_in, dma_in_bytes)`` uint8, the DMA's MM2S buffer;
- **transfer** (:class:`Transport`): that buffer through the accelerator, back as
  ``(beats_out, dma_out_bytes)`` uint8 (one beat per row, the S2MM buffer; the accelerator
  raises TLAST on the last beat of a volume);
- **epilogue** (:meth:`Accelerator.epilogue`): unpack ``pe`` signed codes of ``out_bits`` per
  beat -> (3, D', H', W') integer codes (NDHWC -> NCDHW); :meth:`Accelerator.ddf` scales them by
  ``output_scale`` and, when the accelerator works at half resolution, upsamples the DDF to the
  input grid (trilinear, corners aligned, each component times ``(n - 1) / (n' - 1)``).

Transports: :class:`PynqTransport` (``pynq.allocate`` + the AXI DMA of the bitstream; pynq is
imported only when it is built, i.e. on the board) and :class:`VerilatorTransport` (the same
bytes driven into the Verilator model of ``PKG/rtl``, built from the package's own files through
hwreg's one Verilator harness; needs hwreg installed). Shapes and widths all come from the
manifest (``manifest["stream"]``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

#: manifest.json format version this driver reads.
MANIFEST_FORMAT = 1


def load_manifest(pkg: str | Path) -> dict[str, Any]:
    """``PKG/manifest.json`` as a dict; ValueError if it is missing or of another format."""
    path = Path(pkg) / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{path}: not found; is {pkg} a package written by `hwreg package`?")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, this driver reads "
                         f"{MANIFEST_FORMAT}")
    return manifest


def pack_bytes(values: np.ndarray, bits: int, nbytes: int) -> np.ndarray:
    """(N, E) integers -> (N, nbytes) uint8: element i at bits [i*bits, (i+1)*bits) of a
    little-endian word (two's complement for negative values), zero above ``E * bits``."""
    v = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    n, e = v.shape
    if e * bits > nbytes * 8:
        raise ValueError(f"{e} elements of {bits} bits do not fit {nbytes} bytes")
    # (N, E, bits) bits, least significant first, then the beat's bits in order
    b = ((v[:, :, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(n, e * bits)
    b = np.concatenate([b, np.zeros((n, nbytes * 8 - e * bits), np.uint8)], axis=1)
    return np.packbits(b, axis=1, bitorder="little")


def unpack_bytes(beats: np.ndarray, n_elems: int, bits: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_bytes`: (N, nbytes) uint8 -> (N, n_elems) int64."""
    b = np.unpackbits(np.asarray(beats, np.uint8), axis=1, bitorder="little")
    b = b[:, : n_elems * bits].reshape(len(beats), n_elems, bits).astype(np.int64)
    v = (b << np.arange(bits)).sum(axis=2)
    if signed:
        v = np.where(v >= 1 << (bits - 1), v - (1 << bits), v)
    return v


def upsample_ddf_np(ddf: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(3, d, h, w) DDF in voxels -> (3, D, H, W) in voxels of the new grid: trilinear with
    corner voxel centres aligned, component k times ``(N_k - 1) / (n_k - 1)`` (the host
    epilogue of ``head_level = 1``; same map as ``hwreg.warp.upsample_ddf``)."""
    if any(o == 1 < n for o, n in zip(ddf.shape[1:], shape, strict=True)):
        raise ValueError(f"cannot upsample an axis of length 1: ddf {ddf.shape}, grid {shape}")
    out = np.asarray(ddf, np.float64)
    for axis, n_new in enumerate(shape, start=1):  # one separable linear pass per axis
        n_old = out.shape[axis]
        pos = np.linspace(0.0, n_old - 1, n_new) if n_new > 1 else np.zeros(1)
        lo = np.clip(np.floor(pos).astype(int), 0, max(n_old - 2, 0))
        hi = np.minimum(lo + 1, n_old - 1)
        frac = (pos - lo).reshape([-1 if a == axis else 1 for a in range(4)])
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    old = ddf.shape[1:]
    scale = [(n - 1) / (o - 1) if o > 1 else 1.0 for n, o in zip(shape, old, strict=True)]
    return (out * np.array(scale).reshape(3, 1, 1, 1)).astype(np.float32)


class Transport(Protocol):
    """Moves one volume's input beats through the accelerator."""

    def transfer(self, beats: np.ndarray) -> np.ndarray:
        """(beats_in, dma_in_bytes) uint8 -> (beats_out, dma_out_bytes) uint8."""
        ...


class PynqTransport:
    """The board: ``pynq.Overlay`` of ``PKG/vivado/out/<bitstream>.bit`` (its ``.hwh`` beside
    it), ``pynq.allocate`` buffers and the AXI DMA named in the manifest. Untested on hardware
    (no board here); everything before the DMA calls is what the Verilator transport runs."""

    def __init__(self, pkg: str | Path, manifest: dict[str, Any],
                 bitfile: str | Path | None = None) -> None:
        from pynq import Overlay, allocate  # only on the board

        s = manifest["stream"]
        self._bit = Path(bitfile) if bitfile else Path(pkg) / manifest["vivado"]["bitfile"]
        self.overlay = Overlay(str(self._bit))
        self.dma = getattr(self.overlay, manifest["vivado"]["dma"])
        self.inbuf = allocate(shape=(s["beats_in"], s["dma_in_bytes"]), dtype=np.uint8)
        self.outbuf = allocate(shape=(s["beats_out"], s["dma_out_bytes"]), dtype=np.uint8)

    def transfer(self, beats: np.ndarray) -> np.ndarray:
        """One volume through the DMA (receive armed before send)."""
        self.inbuf[:] = beats
        self.inbuf.flush()
        self.dma.recvchannel.transfer(self.outbuf)
        self.dma.sendchannel.transfer(self.inbuf)
        self.dma.sendchannel.wait()
        self.dma.recvchannel.wait()
        self.outbuf.invalidate()
        return np.array(self.outbuf, copy=True)


class VerilatorTransport:
    """The virtual board: the Verilator model of ``PKG/rtl`` (top ``manifest["rtl"]["top"]``,
    the block design's module reference), built from the package's files with hwreg's Verilator
    harness, cached in ``cache_dir`` (default ``PKG/verilator``: built once per package); each
    transfer streams the beats with valid gaps and random output back-pressure
    (``stall_percent``) and checks TLAST on every output beat."""

    def __init__(self, pkg: str | Path, manifest: dict[str, Any],
                 cache_dir: str | Path | None = None, stall_percent: int = 0) -> None:
        from hwreg.rtl import harness  # hwreg's one harness: build cache and flags

        self._harness = harness
        self.pkg, self.manifest, self.stall = Path(pkg), manifest, stall_percent
        rtl, s = manifest["rtl"], manifest["stream"]
        self.sources = [self.pkg / f for f in rtl["sources"]]
        self.runtime = [self.pkg / f for f in rtl["memory_files"]]
        self.ins = [harness.Port("s_axis", 8 * s["dma_in_bytes"])]
        self.outs = [harness.Port("m_axis", 8 * s["dma_out_bytes"], last=True)]
        cache = Path(cache_dir) if cache_dir is not None else self.pkg / "verilator"
        self.exe = harness.build(self.sources, rtl["top"], self.ins, self.outs, cache)
        self.cycles = 0

    def transfer(self, beats: np.ndarray) -> np.ndarray:
        """One volume through the simulated accelerator; RuntimeError on a TLAST fault."""
        h, s = self._harness, self.manifest["stream"]
        nbytes_in = s["dma_in_bytes"]
        words_in = np.zeros((len(beats), h.words(8 * nbytes_in) * 4), np.uint8)
        words_in[:, :nbytes_in] = beats
        with tempfile.TemporaryDirectory(prefix="hwreg-vboard-") as tmp:
            got, self.cycles = h.run(self.exe, [words_in.view("<u4")], [s["beats_out"]],
                                     [self.outs[0].width], Path(tmp), self.runtime,
                                     stall_percent=self.stall)
            last = np.frombuffer((Path(tmp) / "out0.last").read_bytes(), np.uint8)
        want = np.zeros(s["beats_out"], np.uint8)
        want[-1] = 1
        if not np.array_equal(last, want):
            raise RuntimeError(f"TLAST on output beats {np.flatnonzero(last).tolist()}, "
                               f"expected only on beat {s['beats_out'] - 1}")
        out = np.ascontiguousarray(got[0], "<u4").view(np.uint8)
        return out[:, : s["dma_out_bytes"]]


class Accelerator:
    """One packaged accelerator behind a :class:`Transport` (see the module docstring)."""

    def __init__(self, pkg: str | Path, transport: str | Transport = "verilator",
                 **transport_args: Any) -> None:
        self.pkg = Path(pkg)
        self.manifest = load_manifest(self.pkg)
        if isinstance(transport, str):
            kinds = {"verilator": VerilatorTransport, "pynq": PynqTransport}
            if transport not in kinds:
                raise ValueError(f"transport {transport!r}: expected one of {sorted(kinds)}")
            transport = kinds[transport](self.pkg, self.manifest, **transport_args)
        self.transport: Transport = transport

    @property
    def grid(self) -> tuple[int, int, int]:
        """Input grid (D, H, W)."""
        return tuple(self.manifest["input"]["grid"])  # type: ignore[return-value]

    def prologue(self, x: np.ndarray) -> np.ndarray:
        """(2, D, H, W) float in [0, 1] -> (beats_in, dma_in_bytes) uint8 (module docstring)."""
        i, s = self.manifest["input"], self.manifest["stream"]
        if x.shape != (i["channels"], *self.grid):
            raise ValueError(f"input shape {x.shape}, the accelerator takes "
                             f"{(i['channels'], *self.grid)}")
        codes = np.round(np.clip(x.astype(np.float64) / i["scale"], 0, 2 ** i["bits"] - 1))
        ndhwc = codes.transpose(1, 2, 3, 0).astype(np.int64)  # CDHW -> DHWC
        return pack_bytes(ndhwc.reshape(-1, s["simd"]), i["bits"], s["dma_in_bytes"])

    def epilogue(self, beats: np.ndarray) -> np.ndarray:
        """(beats_out, dma_out_bytes) uint8 -> (3, D', H', W') int64 DDF codes."""
        o, s = self.manifest["output"], self.manifest["stream"]
        codes = unpack_bytes(beats, s["pe"], o["bits"], o["signed"])
        d, h, w = o["grid"]
        return codes.reshape(d, h, w, o["channels"]).transpose(3, 0, 1, 2)  # DHWC -> CDHW

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Integer DDF codes (3, D', H', W') of one pair ``x`` (2, D, H, W)."""
        return self.epilogue(self.transport.transfer(self.prologue(x)))

    def ddf(self, x: np.ndarray) -> np.ndarray:
        """The DDF (3, D, H, W) in voxels of the input grid (fixed -> moving). A model with
        ``integrate`` > 0 (velocity field, scaling and squaring on the host) needs hwreg's
        ``RegNet.epilogue`` on :meth:`codes` instead (``hwreg register --package`` uses it)."""
        ddf = self.codes(x).astype(np.float32) * np.float32(self.manifest["output"]["scale"])
        if tuple(ddf.shape[1:]) != self.grid:
            ddf = upsample_ddf_np(ddf, self.grid)
        return ddf
