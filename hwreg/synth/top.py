"""``hwreg synth --top``: the whole stitched accelerator of a build (every layer, the FIFOs at the
build's depths from ``BUILD/fifo_depths.json``, the width converters; :mod:`hwreg.rtl.stitch`)
synthesised by Yosys as one design - ``synth_xilinx`` for the Xilinx boards, ``synth_ecp5`` for
the ECP5 boards - next to the build's estimates.

The estimates compared (``BUILD/report/estimate_network_performance.json``): FINN's own
(``totals_layers``: the layers' resource models, which leave out the FIFOs and width converters
between them) and hwreg's (``totals``: FINN's plus hwreg's FIFO and width-converter models,
``totals_fifos``). For an ECP5 build the estimates are already in LUT4/EBR/MULT18X18D
(:meth:`hwreg.compile.boards.BoardInfo.from_finn`).

Output in ``out_dir`` (staged, renamed at the end): ``synth_top.json``, ``synth_top.md`` and
``top/`` (sources, Yosys script and log, ``stat.json``).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.atomic import staged_dir
from hwreg.errors import UserError

RESOURCES = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")


def load_build(build_dir: Path) -> tuple[Any, Any]:
    """(BuildConfig, folded HW graph) of ``build_dir``; UserError if it is not a build."""
    from qonnx.core.modelwrapper import ModelWrapper

    import hwreg.compile.ops  # noqa: F401  (registers the 3D ops)
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.steps import finn_settings
    from hwreg.config import load_yaml

    graph = build_dir / "intermediate_models" / "step_set_folding.onnx"
    for p in (build_dir / "build_config.yaml", graph):
        if not p.is_file():
            raise UserError(f"{p}: not found; run `hwreg build` (through step_set_folding) first")
    finn_settings()
    return load_yaml(BuildConfig, build_dir / "build_config.yaml"), ModelWrapper(str(graph))


def stitched_top(model: Any, build_dir: Path, workdir: Path, part: str, clock_ns: float,
                 backend: str = "finn") -> tuple[list[Path], list[Path], dict[str, Any]]:
    """Stitch ``model`` with the build's FIFO depths and memory styles into ``workdir``:
    (sources, run-time files, ``{"fifos", "fifo_bits", "dwcs", "in_width", "out_width",
    "in_beats", "out_beats"}``: widths padded TDATA bits, beats per volume). ``backend``: whose
    MVAU/Thresholding RTL (``finn``, ``hwreg``; :func:`hwreg.rtl.layers.layer_rtl`)."""
    from qonnx.custom_op.registry import getCustomOp

    from hwreg.compile.fifos import read_fifo_depths, read_fifo_styles
    from hwreg.rtl.stitch import stitch

    _, files, runtime, spec, fifos = stitch(model, workdir, part, clock_ns, 32,
                                            read_fifo_depths(build_dir), backend=backend,
                                            styles=read_fifo_styles(build_dir))
    text = files[-1].read_text()
    first, last = getCustomOp(spec.graph.node[0]), getCustomOp(spec.graph.node[-1])
    return files, runtime, {
        "fifos": len(fifos), "fifo_bits": sum(w * d for w, d in fifos.values()),
        "dwcs": text.count("hwreg_dwc #("),
        "in_width": first.get_instream_width_padded(0),
        "out_width": last.get_outstream_width_padded(0),
        "in_beats": int(np.prod(first.get_folded_input_shape(0)[:-1])),
        "out_beats": int(np.prod(last.get_folded_output_shape(0)[:-1]))}


def estimates(build_dir: Path) -> dict[str, Any] | None:
    """The build's network estimate (``report/estimate_network_performance.json``) or None."""
    p = build_dir / "report" / "estimate_network_performance.json"
    return json.loads(p.read_text()) if p.is_file() else None


def rtl_backend(cfg: Any, info: Any, asked: str | None) -> str:
    """The MVAU/Thresholding RTL for a whole-top run: ``asked``, else ``hwreg`` on an ECP5 board
    (FINN's is written for Xilinx DSPs), else the build's."""
    return str(asked or ("hwreg" if info.is_ecp5 else cfg.rtl_backend))


def synth_top(build_dir: str | Path, out_dir: str | Path, board: str | None = None,
              force: bool = False, timeout_s: float = 3600.0,
              backend: str | None = None) -> dict[str, Any]:
    """Synthesise the whole stitched top of ``build_dir`` for ``board`` (default: the build's)
    with the MVAU/Thresholding RTL of ``backend`` (default: :func:`rtl_backend`); writes
    ``out_dir`` (module docstring) and returns ``synth_top.json``'s content. A Yosys failure
    (a module it cannot synthesise) raises UserError with Yosys's first error."""
    from hwreg.compile.boards import Board, board_info
    from hwreg.synth.yosys import synthesize

    build_dir = Path(build_dir)
    cfg, model = load_build(build_dir)
    b = Board(board) if board is not None else cfg.board
    info = board_info(b)
    family = "ecp5" if info.is_ecp5 else info.yosys_family
    backend = rtl_backend(cfg, info, backend)
    t0 = time.perf_counter()
    with staged_dir(out_dir, force) as stage:
        work = stage / "top"
        files, runtime, shape = stitched_top(model, build_dir, work / "hdl", info.finn_part,
                                             cfg.clock_ns, backend)
        run = work / "yosys"
        run.mkdir(parents=True)
        for f in runtime:  # $readmemh files beside the sources
            shutil.copyfile(f, run / f.name)
        try:
            y = synthesize(files, "hwreg_accel", run, family, timeout_s=timeout_s)
        except RuntimeError as e:
            raise UserError(f"{build_dir}: the stitched top ({backend} MVAU/Thresholding RTL) "
                            f"does not synthesise for {b.value}: {e}") from e
        est = estimates(build_dir)
        result = {"build": str(build_dir), "board": b.value, "part": info.part,
                  "rtl_backend": backend,
                  "synth": "synth_ecp5" if family == "ecp5" else f"synth_xilinx -family {family}",
                  "yosys": y, **shape,
                  "estimate_board": est.get("part") if est else None,
                  "finn_estimate": est["totals_layers"] if est else None,
                  "hwreg_estimate": est["totals"] if est else None,
                  "hwreg_fifo_estimate": est["totals_fifos"] if est else None,
                  "capacity": info.capacity(),
                  "seconds": round(time.perf_counter() - t0, 1)}
        (stage / "synth_top.json").write_text(json.dumps(result, indent=2) + "\n")
        (stage / "synth_top.md").write_text(markdown(result))
    return result


def markdown(r: dict[str, Any]) -> str:
    """``synth_top.md``: Yosys totals next to FINN's and hwreg's estimates."""
    y, f, h = r["yosys"], r["finn_estimate"] or {}, r["hwreg_estimate"] or {}
    cap = r["capacity"]
    lines = [f"# Whole-top synthesis of {r['build']} ({r['board']}, {r['part']}, "
             f"`{r['synth']}`, {r['rtl_backend']} MVAU/Thresholding RTL)", "",
             "| resource | Yosys (whole top) | FINN estimate (layers only) | hwreg estimate "
             "(+ FIFOs, width converters) | capacity |", "|---|---:|---:|---:|---:|"]
    for k in RESOURCES:
        lines.append(f"| {k} | {y.get(k, 0)} | {f.get(k, '-')} | {h.get(k, '-')} | "
                     f"{cap.get(k, '-') if k != 'FF' else '-'} |")
    lines += ["", f"{r['fifos']} FIFOs ({r['fifo_bits']} bits at the build's depths) and "
              f"{r['dwcs']} width converters are in the synthesised top; FINN's estimate leaves "
              "them out, hwreg's adds its models of them. Yosys counts are before place and "
              f"route. Yosys: {y['seconds']} s."]
    if r["estimate_board"] and r["estimate_board"] != r["part"]:
        lines.append(f"The estimates are the build's, for {r['estimate_board']}.")
    return "\n".join(lines) + "\n"


__all__ = ["estimates", "load_build", "markdown", "rtl_backend", "stitched_top", "synth_top"]
