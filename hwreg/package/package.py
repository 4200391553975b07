"""``hwreg package --build BUILD --out PKG [--board B]``: a self-contained board package.

The package holds the stitched accelerator of L5 (:func:`hwreg.rtl.stitch.stitch`, the same
``hwreg_accel`` top, FIFOs and width converters) with its memory files under ``rtl/``, the
AXI-stream top for the DMA and the Vivado Tcl flow (:mod:`.flow`), the host driver
(``hwreg/runtime/driver.py`` copied as ``driver/hwreg_driver.py``), ``manifest.json`` (model,
datatypes, shapes, clock, stream widths, prologue/epilogue constants, FIFO depths) and a README.

FIFO depths: ``BUILD/fifo_depths.json`` (:func:`hwreg.compile.fifos.read_fifo_depths`) when
the build has one; otherwise they are sized by simulation exactly as L5 does
(:func:`hwreg.rtl.stitch.size_fifos` on one random volume pair). Before the package is
published, its own Verilator model (built from ``PKG/rtl`` through the driver's ``verilator``
transport, cached in ``PKG/verilator`` for the virtual board) must reproduce the L3 codes of
that pair exactly. Packaging comes after emulation in the walk: it uses :mod:`hwreg.emulate`
(L3) and :mod:`hwreg.runtime.driver`.

No HLS: a layer that FINN implements only in HLS (``MVAU_hls`` of ``mvau_style: hls``) is
refused by name; ElementwiseAdd and DuplicateStreams (HLS in FINN) use the project's RTL.
The package is staged in a temporary sibling folder and renamed at the end
(:func:`hwreg.atomic.staged_dir`); an existing PKG is refused without ``force`` and replaced
only once the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.atomic import require_new_folder, staged_dir
from hwreg.compile.boards import Board, board_info
from hwreg.compile.config import BuildConfig
from hwreg.compile.fifos import FIFO_FILE, read_fifo_depths
from hwreg.config import load_yaml, to_dict
from hwreg.errors import UserError
from hwreg.package import flow
from hwreg.rtl import harness

#: Manifest format written here (read by ``hwreg/runtime/driver.py``).
MANIFEST_FORMAT = 1
#: FINN ops marked HLS that have the project's RTL (:mod:`hwreg.rtl.tops`).
HLS_WITH_RTL = ("ElementwiseAdd_hls", "DuplicateStreams_hls")
#: FIFO depth for a FIFO that ``fifo_depths.json`` does not name (stitch's default).
DEFAULT_FIFO_DEPTH = 32
_DRIVER = Path(__file__).resolve().parents[1] / "runtime" / "driver.py"


def hls_only_layers(spec: Any, rtl_backend: str = "finn") -> list[str]:
    """Layers of a specialised graph that only have an HLS implementation (need vitis_hls);
    with ``rtl_backend`` ``hwreg`` the MVAU and Thresholding have hwreg's RTL."""
    from hwreg.rtl.mvau import HWREG_OPS

    ours = HWREG_OPS if rtl_backend == "hwreg" else ()
    return [f"{n.name} ({n.op_type})" for n in spec.graph.node
            if n.op_type.endswith("_hls") and n.op_type not in HLS_WITH_RTL + ours]


def _relocate(path: Path) -> str:
    """A source's text with the build's absolute paths replaced by package file names."""
    text = path.read_text()
    if path.name.endswith("_memstream_wrapper.v"):  # default INIT_FILE: the layer's own copy
        mem = path.name.replace("_memstream_wrapper.v", "_memblock.dat")
        text = re.sub(r'(parameter\s+INIT_FILE\s*=\s*)"[^"]*"', rf'\1"{mem}"', text)
    text = re.sub(r'(THRESHOLDS_PATH\s*=\s*)"\./', r'\1"', text)
    absolute = re.findall(r'"(/[^"\n]*)"', text)
    if absolute:
        raise RuntimeError(f"{path.name}: absolute path {absolute[0]} left in a packaged source")
    return text


def _stream(spec: Any) -> dict[str, Any]:
    """Widths and beat counts of the accelerator's input and output streams."""
    from qonnx.custom_op.registry import getCustomOp

    first, last = getCustomOp(spec.graph.node[0]), getCustomOp(spec.graph.node[-1])
    fin, fout = first.get_folded_input_shape(0), last.get_folded_output_shape(0)
    in_w, out_w = first.get_instream_width_padded(0), last.get_outstream_width_padded(0)
    return {"simd": int(fin[-1]), "pe": int(fout[-1]),
            "beats_in": int(np.prod(fin[:-1])), "beats_out": int(np.prod(fout[:-1])),
            "in_width": int(in_w), "out_width": int(out_w),
            "dma_in_bytes": flow.dma_width(in_w) // 8, "dma_out_bytes": flow.dma_width(out_w) // 8}


def _tensor(model: Any, name: str) -> dict[str, Any]:
    dt = model.get_tensor_datatype(name)
    return {"tensor": name, "shape": [int(s) for s in model.get_tensor_shape(name)],
            "datatype": dt.name, "bits": int(dt.bitwidth()), "signed": bool(dt.signed())}


def _verify(pkg: Path, x: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """The package's own Verilator model (cached in ``pkg/verilator``, the virtual board's
    cache) on the pair ``x`` (1, 2, D, H, W) must give the L3 codes ``ref``; RuntimeError if
    not."""
    from hwreg.runtime.driver import Accelerator, VerilatorTransport, load_manifest

    transport = VerilatorTransport(pkg, load_manifest(pkg))
    codes = Accelerator(pkg, transport).codes(x[0])
    if not np.array_equal(codes, ref[0]):
        raise RuntimeError(f"the packaged RTL differs from L3 (max abs diff "
                           f"{int(np.abs(codes - ref[0]).max())}): refusing to package")
    return {"exact": True, "pair": "random 8-bit volumes, seed 0", "vs": "L3 (= Brevitas)",
            "cycles": transport.cycles}


def package_build(build_dir: str | Path, out: str | Path, board: Board | str | None = None,
                  force: bool = False, cache_dir: Path | None = None,
                  verify: bool = True) -> dict[str, Any]:
    """Write the package of ``build_dir`` for ``board`` (default: the build's) to ``out``;
    returns the manifest (module docstring). With ``verify`` the package's own Verilator
    model (its files, its AXI-stream top) runs one random pair, exact vs L3, before the
    package is published; ``cache_dir`` holds the FIFO-sizing builds."""
    import hwreg.compile.ops  # noqa: F401  (registers the 3D ops)
    from hwreg.compile.estimates import specialised_copy
    from hwreg.emulate import Levels
    from hwreg.export import random_codes
    from hwreg.rtl.stitch import size_fifos, stitch

    build_dir, out = Path(build_dir), Path(out)
    cfg_path = build_dir / "build_config.yaml"
    if not cfg_path.is_file():
        raise UserError(f"{cfg_path}: not found; is {build_dir} a hwreg build?")
    cfg = load_yaml(BuildConfig, cfg_path)
    require_new_folder(out, force)  # refused before any work
    levels = Levels(build_dir)  # the build's HW graph and host constants (UserError if absent)
    board = Board(board) if board is not None else cfg.board
    part = board_info(board).finn_part
    hls = hls_only_layers(specialised_copy(levels.hw, part), cfg.rtl_backend)
    if hls:
        raise UserError(f"{build_dir}: layers with only an HLS implementation (they need "
                        f"vitis_hls): {', '.join(hls)}; rebuild with mvau_style: rtl "
                        "or rtl_backend: hwreg")
    depths_file = build_dir / FIFO_FILE
    depths = read_fifo_depths(build_dir)
    cache = Path(cache_dir) if cache_dir is not None else harness.DEFAULT_CACHE
    x = random_codes(tuple(cfg.grid_shape), 1, seed=0)  # type: ignore[arg-type]
    with staged_dir(out, force) as staging, \
            tempfile.TemporaryDirectory(prefix="hwreg-package-") as tmp:
        work = Path(tmp)
        ref, _ = levels.l3(x)
        if depths is None:
            depths = size_fifos(levels.hw, work / "l5", part, cfg.clock_ns, cache,
                                backend=cfg.rtl_backend)["depths"]
        top, files, runtime, spec, fifos = stitch(levels.hw, work / "hdl", part, cfg.clock_ns,
                                                  DEFAULT_FIFO_DEPTH, depths, cfg.rtl_backend)
        unknown = sorted(set(depths) - set(fifos))
        if unknown:
            raise UserError(f"{depths_file}: no FIFO named {unknown[0]} in this build "
                            f"(FIFOs: {', '.join(sorted(fifos))})")
        from_file = depths_file if depths_file.is_file() else None
        manifest = _write(staging, build_dir, cfg, board, levels, spec, top, files, runtime,
                          fifos, from_file)
        if verify:
            manifest["verified"] = _verify(staging, x, ref)
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _write(pkg: Path, build_dir: Path, cfg: BuildConfig, board: Board, levels: Any,
           spec: Any, core: str, files: list[Path], runtime: list[Path],
           fifos: dict[str, tuple[int, int]], depths_file: Path | None) -> dict[str, Any]:
    """Every file of the package into ``pkg``; returns the manifest."""
    from hwreg import __version__

    rtl = pkg / "rtl"
    rtl.mkdir()
    names = [f.name for f in [*files, *runtime]]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two package files share a name: {sorted(names)}")
    for f in files:
        (rtl / f.name).write_text(_relocate(f))
    for f in runtime:
        shutil.copyfile(f, rtl / f.name)
    s = _stream(spec)
    (rtl / f"{flow.AXIS_TOP}.v").write_text(
        flow.axis_top(core, s["in_width"], s["out_width"], s["beats_out"]))
    sources = [*(f.name for f in files), f"{flow.AXIS_TOP}.v"]
    (rtl / "sources.f").write_text("\n".join(sources) + "\n")
    hw = levels.hw
    g = hw.graph
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT, "hwreg_version": __version__,
        "model": {"export_onnx_sha256": hashlib.sha256(
            (build_dir / "export.onnx").read_bytes()).hexdigest(),
            "build": str(build_dir.resolve()), "build_config": to_dict(cfg),
            "layers": [{"name": n.name, "op_type": n.op_type} for n in spec.graph.node]},
        "board": board.value, "part": board_info(board).part, "clock_ns": cfg.clock_ns,
        "clock_MHz": 1000.0 / cfg.clock_ns,
        "input": {**_tensor(hw, g.input[0].name), "grid": list(cfg.grid_shape), "channels": 2,
                  "layout": "NDHWC", "scale": 2.0 ** -8,
                  "prologue": "codes = round(clip(x / scale, 0, 255)), x in [0, 1]; "
                              "channel 0 fixed, 1 moving"},
        "output": {**_tensor(hw, g.output[0].name), "grid": list(levels.grid), "channels": 3,
                   "layout": "NDHWC", "scale": levels.scale,
                   "epilogue": "ddf = codes * scale (voxels of the output grid); upsampled "
                               "to the input grid when they differ"},
        "stream": s,
        "rtl": {"top": flow.AXIS_TOP, "core": core,
                "sources": [f"rtl/{n}" for n in sources],
                "memory_files": [f"rtl/{f.name}" for f in runtime]},
        "fifos": {k: {"width": w, "depth": d} for k, (w, d) in sorted(fifos.items())},
        "fifo_depths_from": (str(depths_file) if depths_file is not None
                             else "simulation (as L5), one random pair"),
        "verified": None,
        "vivado": {"supported": board not in flow.UNSUPPORTED,
                   "why_not": flow.UNSUPPORTED.get(board), "bitfile": flow.BITFILE,
                   "hwh": flow.HWHFILE, "dma": flow.DMA_CELL},
    }
    write_flow(pkg, board, cfg.clock_ns, manifest)
    drv = pkg / "driver"
    drv.mkdir()
    shutil.copyfile(_DRIVER, drv / "hwreg_driver.py")
    (drv / "run_pair.py").write_text(_RUN_PAIR)
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (pkg / "README.md").write_text(_readme(manifest))
    return manifest


def write_flow(pkg: Path, board: Board, clock_ns: float, manifest: dict[str, Any]) -> None:
    """``pkg/vivado/*.tcl`` and ``pkg/Makefile`` for ``board`` from a manifest's stream widths
    and file lists (:mod:`.flow`)."""
    viv = pkg / "vivado"
    viv.mkdir()
    s, r = manifest["stream"], manifest["rtl"]
    (viv / "sources.tcl").write_text(flow.sources_tcl(
        board, manifest["part"], clock_ns, r["sources"], r["memory_files"],
        8 * s["dma_in_bytes"], 8 * s["dma_out_bytes"]))
    if manifest["vivado"]["supported"]:
        (viv / "block_design.tcl").write_text(flow.block_design_tcl(board, clock_ns))
        (viv / "build.tcl").write_text(flow.BUILD_TCL)
    (pkg / "Makefile").write_text(flow.makefile(board))


_RUN_PAIR = '''"""One volume pair through the accelerator:
python3 driver/run_pair.py X.npy CODES.npy [--transport pynq|verilator].
X.npy: (2, D, H, W) float in [0, 1] (fixed, moving) on the package's input grid;
CODES.npy: the integer DDF codes (3, D', H', W'); DDF = codes * scale (manifest.json
output.scale), see hwreg_driver.Accelerator.ddf."""

import argparse
from pathlib import Path

import numpy as np
from hwreg_driver import Accelerator

parser = argparse.ArgumentParser()
parser.add_argument("x")
parser.add_argument("codes")
parser.add_argument("--transport", choices=["pynq", "verilator"], default="pynq")
args = parser.parse_args()
acc = Accelerator(Path(__file__).resolve().parents[1], args.transport)
np.save(args.codes, acc.codes(np.load(args.x)))
'''


def _readme(m: dict[str, Any]) -> str:
    s, i, o = m["stream"], m["input"], m["output"]
    viv = m["vivado"]
    board_steps = (
        f"""2. **Bitstream** (Vivado with {m['board']} board files): `make bitstream` runs
   `vivado/build.tcl`: project for `{m['part']}`, block design (`vivado/block_design.tcl`:
   processing system, AXI DMA `{viv['dma']}`, the accelerator `{m['rtl']['top']}` as an RTL
   module reference on one {m['clock_MHz']:g} MHz PL clock), synthesis, implementation,
   `{viv['bitfile']}` + `{viv['hwh']}`, `vivado/out/utilization*.rpt`, `timing_summary.rpt`,
   `address_map.txt`. Without `vivado` on PATH it says so and exits 1.
3. **Board** (PYNQ image): copy this folder to the board, then
   `python3 driver/run_pair.py x.npy codes.npy --transport pynq`."""
        if viv["supported"] else
        f"""2. **Bitstream**: not supported for {m['board']}: {viv['why_not']}.
   `make bitstream` says so and exits 1. The RTL and the virtual board below still work.""")
    return f"""# hwreg accelerator package ({m['board']}, {m['clock_MHz']:g} MHz)

Written by `hwreg package` (hwreg {m['hwreg_version']}) from `{m['model']['build']}`.
Everything is in this folder: `rtl/` (the stitched accelerator `{m['rtl']['core']}` that L5
verifies, its weight/threshold memories, and `{m['rtl']['top']}.v`, its AXI-stream top for the
DMA), `vivado/` (Tcl flow), `driver/` (host driver, numpy only), `manifest.json`.

## Stream
- in: {s['beats_in']} beats per volume pair, {s['simd']} x {i['datatype']} codes per beat
  (NDHWC, grid {i['grid']}, channel 0 fixed, 1 moving), {s['in_width']} bits in a
  {8 * s['dma_in_bytes']}-bit DMA word; codes = round(clip(x * 256, 0, 255)).
- out: {s['beats_out']} beats, {s['pe']} x {o['datatype']} DDF codes per beat (NDHWC, grid
  {o['grid']}), {s['out_width']} bits in a {8 * s['dma_out_bytes']}-bit word, TLAST on the
  last beat; DDF = codes x {o['scale']:g} voxels{', upsampled to the input grid on the host'
                                               if o['grid'] != i['grid'] else ''}.

## Build and run
1. **Check** (Verilator): `make lint`; the virtual board (`hwreg register FIXED MOVING --out DIR
   --device verilator --package .` or `driver/run_pair.py ... --transport verilator`, both with
   hwreg installed) streams the same bytes through the Verilator model of `rtl/` (built once,
   cached in `verilator/`). `manifest.json` `verified`: that model was exact vs L3 on one
   random pair when this package was written.
{board_steps}

Untested on hardware: the Tcl flow and the pynq transport have not run (no Vivado, no board
where this was written); everything up to the DMA calls runs through the Verilator transport.
"""
