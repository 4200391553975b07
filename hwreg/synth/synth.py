"""``hwreg synth``: open-source synthesis (Yosys) of a build's layers, next to FINN's estimates.

For every layer of the folded hardware graph (``BUILD/intermediate_models/step_set_folding.onnx``):

- the project's RTL ops (3D sliding window, 3D upsample, ElementwiseAdd, DuplicateStreams) and
  FINN's ``Thresholding_rtl``: the layer's generated RTL as L4 simulates it
  (:func:`hwreg.rtl.layers.layer_rtl`), synthesised as it is;
- MVAUs: the layer fully unrolled with its integer weights as constants
  (:mod:`hwreg.synth.mvau_const`, LUT arithmetic, ``-nodsp``), when it has at most
  ``max_macs`` multiply-accumulates; each such netlist's source is first checked bit for bit
  against the layer's integer product under Verilator (random inputs, back-pressure). Next to it
  FINN's own LUT/DSP estimate of the same layer unrolled (``MVAU_hls`` at PE = MH, SIMD = MW),
  which knows nothing of the weight values. FINN's folded ``MVAU_rtl`` (weights in a memory, DSP
  primitives) is not synthesised: its cost does not depend on the weights.

The pruning payoff: one MVAU (``payoff_layer``, default the largest within ``max_macs``)
synthesised with its weights as deployed and magnitude-pruned to ``sparsity``; the LUT reduction
is reported against the goal (>= 40 % at 50 %).

Outputs in ``out_dir``: ``synth.json`` (everything), ``synth.md`` (tables), and per layer a
folder with the sources, the Yosys script, log and ``stat.json``. Written to a temporary folder
and renamed at the end, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.errors import UserError
from hwreg.synth import mvau_const
from hwreg.synth.yosys import synthesize

#: The pruning-payoff goal: fewer LUTs at 50 % sparsity than dense.
PAYOFF_GOAL = 0.40
#: Random input vectors streamed through each unrolled MVAU before it is synthesised.
VERIFY_BEATS = 64


@dataclass
class _Job:
    """One Yosys run."""

    key: str
    top: str
    sources: list[Path]
    workdir: Path
    dsp: bool = True
    result: dict[str, Any] = field(default_factory=dict)


def _mvau_io(inst: Any) -> tuple[int, bool, int]:
    """(input bits, input signed, accumulator bits) of an MVAU."""
    dt_in, dt_out = inst.get_input_datatype(0), inst.get_output_datatype(0)
    return dt_in.bitwidth(), dt_in.signed(), dt_out.bitwidth()


def finn_unrolled_estimate(node: Any, part: str) -> dict[str, int]:
    """FINN's ``MVAU_hls`` LUT/DSP estimate of ``node`` (an abstract MVAU) at PE = MH,
    SIMD = MW (fully unrolled; FINN's model does not look at the weight values)."""
    import copy

    from finn.custom_op.fpgadataflow.hls.matrixvectoractivation_hls import MVAU_hls
    from qonnx.util.basic import get_by_name

    twin = copy.deepcopy(node)
    hls = MVAU_hls(twin)
    hls.set_nodeattr("PE", int(get_by_name(twin.attribute, "MH").i))
    hls.set_nodeattr("SIMD", int(get_by_name(twin.attribute, "MW").i))
    return {"LUT": int(hls.lut_estimation(part)), "DSP": int(hls.dsp_estimation(part))}


def verify_mvau(path: Path, top: str, weights: np.ndarray, in_bits: int, in_signed: bool,
                acc_bits: int, workdir: Path, cache_dir: Path, seed: int = 0) -> bool:
    """Stream random input vectors through the unrolled MVAU in ``path`` under Verilator (with
    random gaps and back-pressure) and compare with :func:`mvau_const.reference` exactly
    (modulo ``2**acc_bits``; FINN sizes the accumulator so that nothing wraps)."""
    from hwreg.rtl import harness
    from hwreg.rtl.harness import pack, unpack
    from hwreg.rtl.tops import padded

    mw, mh = weights.shape
    lo, hi = (-(1 << (in_bits - 1)), 1 << (in_bits - 1)) if in_signed else (0, 1 << in_bits)
    rng = np.random.default_rng(seed)
    x = rng.integers(lo, hi, size=(VERIFY_BEATS, mw))
    x[0], x[1] = hi - 1, lo  # the extremes
    ref = mvau_const.reference(x, weights)
    ins = [harness.Port("in0_V", padded(mw * in_bits))]
    outs = [harness.Port("out0_V", padded(mh * acc_bits))]
    exe = harness.build([path], top, ins, outs, cache_dir)
    got, _ = harness.run(exe, [pack(x, in_bits, ins[0].width)], [len(ref)], [outs[0].width],
                         workdir, stall_percent=25)
    half = 1 << (acc_bits - 1)
    wrapped = (ref + half) % (2 * half) - half  # the accumulator's arithmetic: modulo 2**bits
    return bool(np.array_equal(unpack(got[0], mh, acc_bits, True), wrapped))


def _check_build(build_dir: Path) -> None:
    for p in (build_dir / "build_config.yaml",
              build_dir / "intermediate_models" / "step_set_folding.onnx"):
        if not p.is_file():
            raise UserError(f"{p}: not found; run `hwreg build` (through step_set_folding) first")


def _md(result: dict[str, Any]) -> str:
    head = ("| layer | impl | synthesised | LUT | FF | BRAM_18K | DSP | est. LUT | "
            "est. BRAM_18K | est. DSP | s |")
    lines = [f"# Yosys synthesis of {result['build']} ({result['part']}, "
             f"`synth_xilinx -family {result['family']}`)", "", head,
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["layers"]:
        y = r.get("yosys")
        e = r.get("finn_unrolled") or r["finn_estimate"]
        cells = ([y["LUT"], y["FF"], y["BRAM_18K"], y["DSP"]] if y else
                 [r.get("why", "-"), "", "", ""])
        lines.append(f"| {r['layer']} | {r['impl']} | {r['synthesised']} | "
                     + " | ".join(str(c) for c in cells)
                     + f" | {e['LUT']} | {e.get('BRAM_18K', 0)} | {e['DSP']} | "
                     f"{y['seconds'] if y else ''} |")
    lines += ["", "LUT..DSP: Yosys, before place and route. MVAU rows: the layer fully unrolled "
              "with constant weights (LUT arithmetic), next to FINN's estimate of the same "
              "unrolled layer (`MVAU_hls`, PE = MH, SIMD = MW). Other rows: the layer's RTL as "
              "folded in the build, next to the build's estimate (FINN's models for FINN's ops, "
              "hwreg's for the 3D ops; FINN counts 0 LUT for its HLS add/fork)."]
    p = result.get("payoff")
    if p and "error" in p:
        lines += ["", f"## Pruning payoff: {p['layer']}: not measured ({p['error']})"]
    elif p:
        lines += ["", f"## Pruning payoff: {p['layer']} ({p['mw']}x{p['mh']}, unrolled)", "",
                  "| weights | zeros | LUT | FF | CARRY |", "|---|---:|---:|---:|---:|"]
        for k in ("deployed", "pruned"):
            v = p[k]
            lines.append(f"| {k} | {100 * v['zeros']:.1f} % | {v['LUT']} | {v['FF']} | "
                         f"{v['CARRY']} |")
        lines += ["", f"{100 * p['lut_reduction']:.1f} % fewer LUTs at "
                      f"{100 * p['sparsity']:.0f} % sparsity (goal >= {100 * PAYOFF_GOAL:.0f} "
                      f"%: {'met' if p['goal_met'] else 'not met'})."]
    return "\n".join(lines) + "\n"


def synth_build(build_dir: str | Path, out_dir: str | Path, max_macs: int = 4096,
                sparsity: float = 0.5, payoff_layer: str | None = None,
                layers: Sequence[str] | None = None, jobs: int = 1, timeout_s: float = 3600.0,
                force: bool = False, verify: bool = True,
                cache_dir: Path | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Synthesise the layers of ``build_dir`` with Yosys; writes ``out_dir`` (see the module
    docstring) and returns ``synth.json``'s content. ``layers``: only these (default all).
    A Yosys run that takes longer than ``timeout_s`` is stopped and reported as not done.
    ``progress`` gets one line per finished Yosys run."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    import hwreg.compile.ops  # noqa: F401  (registers the 3D ops)
    from hwreg.compile.boards import board_info
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.estimates import layer_estimates, specialised_copy
    from hwreg.compile.steps import finn_settings, hw_graph_path
    from hwreg.config import load_yaml
    from hwreg.rtl import harness
    from hwreg.rtl.layers import layer_rtl

    build_dir, out_dir = Path(build_dir), Path(out_dir)
    _check_build(build_dir)
    if not 0.0 < sparsity < 1.0:
        raise UserError(f"--sparsity must be in (0, 1), got {sparsity}")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise UserError(f"{out_dir}: exists and is not empty; pass --force to overwrite")
    finn_settings()
    cfg = load_yaml(BuildConfig, build_dir / "build_config.yaml")
    board = board_info(cfg.board)
    model = ModelWrapper(str(hw_graph_path(build_dir)))
    names = [n.name for n in model.graph.node]
    unknown = sorted(set(layers or ()) - set(names))
    if unknown:
        raise UserError(f"--layers: {', '.join(unknown)} not in {build_dir} "
                        f"(layers: {', '.join(names)})")
    spec = specialised_copy(model, board.finn_part)
    estimates = layer_estimates(model, board.finn_part)
    cache = cache_dir or harness.DEFAULT_CACHE
    tmp = out_dir.parent / f".{out_dir.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t_start = time.perf_counter()
    try:
        rows: list[dict[str, Any]] = []
        runs: list[_Job] = []
        mvaus: dict[str, tuple[np.ndarray, tuple[int, bool, int], Path]] = {}
        for abstract, node in zip(model.graph.node, spec.graph.node, strict=True):
            name = abstract.name
            if layers and name not in layers:
                continue
            est = estimates[name]
            row: dict[str, Any] = {"layer": name, "impl": node.op_type,
                                   "finn_estimate": {k: est[k] for k in
                                                     ("LUT", "BRAM_18K", "URAM", "DSP")}}
            rows.append(row)
            d = tmp / name
            if abstract.op_type == "MVAU":
                w = model.get_initializer(abstract.input[1]).astype(np.int64)
                io = _mvau_io(getCustomOp(abstract))
                row.update({"synthesised": "unrolled, constant weights",
                            "macs": int(w.size), "zeros": float(np.mean(w == 0)),
                            "finn_unrolled": finn_unrolled_estimate(abstract, board.finn_part)})
                if w.size > max_macs:
                    row["why"] = f"skipped: {w.size} MACs > --max-macs {max_macs}"
                    continue
                top = f"{name}_const"
                src = mvau_const.write_verilog(d / "hdl" / f"{top}.v", top, w, *io)
                mvaus[name] = (w, io, src)
                if verify:
                    row["verified_vs_reference"] = verify_mvau(src, top, w, *io, d / "verify",
                                                               cache)
                    if not row["verified_vs_reference"]:
                        raise RuntimeError(f"{name}: unrolled MVAU differs from x @ W")
                runs.append(_Job(name, top, [src], d / "yosys", dsp=False))
                continue
            inst = getCustomOp(node)
            rtl = layer_rtl(inst, spec, d / "hdl", board.finn_part, cfg.clock_ns)
            row["synthesised"] = "RTL as built"
            if rtl is None:
                row["why"] = "no Vivado-free RTL"
                continue
            top, files, runtime = rtl
            (d / "yosys").mkdir(parents=True)
            for f in runtime:  # $readmemh files must sit beside the sources
                shutil.copyfile(f, d / "yosys" / f.name)
            runs.append(_Job(name, top, files, d / "yosys"))
        payoff = _payoff_jobs(mvaus, payoff_layer, sparsity, tmp)
        runs += payoff[1]
        pruned = payoff[0].pop("weights", None)
        if verify and pruned is not None:
            job, (_, io, _) = payoff[1][0], mvaus[payoff[0]["layer"]]
            if not verify_mvau(job.sources[0], job.top, pruned, *io, tmp / "payoff" / "verify",
                               cache):
                raise RuntimeError(f"{job.top}: unrolled MVAU differs from x @ W")
        by_key = _run_all(runs, board.yosys_family, jobs, timeout_s, progress)
        for row in rows:
            job = by_key.get(row["layer"])
            if job is not None:
                if "error" in job.result:
                    row["why"] = job.result["error"]
                else:
                    row["yosys"] = job.result
        result = {"build": str(build_dir), "part": board.part, "family": board.yosys_family,
                  "max_macs": max_macs, "layers": rows,
                  "payoff": _payoff_result(payoff[0], by_key, sparsity),
                  "seconds": round(time.perf_counter() - t_start, 1)}
        (tmp / "synth.json").write_text(json.dumps(result, indent=2))
        (tmp / "synth.md").write_text(_md(result))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _payoff_jobs(mvaus: dict[str, tuple[np.ndarray, tuple[int, bool, int], Path]],
                 layer: str | None, sparsity: float, tmp: Path) -> tuple[dict[str, Any], list]:
    """The payoff layer's description and its extra Yosys run (the pruned weights)."""
    if layer is None:
        if not mvaus:
            return {}, []
        layer = max(mvaus, key=lambda n: mvaus[n][0].size)
    if layer not in mvaus:
        raise UserError(f"--payoff-layer {layer}: not an MVAU synthesised here (choose from "
                        f"{', '.join(mvaus) or 'none; raise --max-macs'})")
    w, io, _ = mvaus[layer]
    pruned = mvau_const.magnitude_prune(w, sparsity)
    top = f"{layer}_pruned"
    src = mvau_const.write_verilog(tmp / "payoff" / "hdl" / f"{top}.v", top, pruned, *io)
    desc = {"layer": layer, "mw": int(w.shape[0]), "mh": int(w.shape[1]), "weights": pruned,
            "zeros_deployed": float(np.mean(w == 0)), "zeros_pruned": float(np.mean(pruned == 0))}
    return desc, [_Job(f"payoff:{layer}", top, [src], tmp / "payoff" / "yosys", dsp=False)]


def _payoff_result(desc: dict[str, Any], by_key: dict[str, _Job], sparsity: float
                   ) -> dict[str, Any] | None:
    if not desc:
        return None
    dense, pruned = by_key[desc["layer"]].result, by_key[f"payoff:{desc['layer']}"].result
    if "error" in dense or "error" in pruned:
        return {**desc, "error": dense.get("error") or pruned.get("error")}
    keep = ("LUT", "FF", "CARRY", "seconds")
    red = 1.0 - pruned["LUT"] / dense["LUT"] if dense["LUT"] else 0.0
    return {"layer": desc["layer"], "mw": desc["mw"], "mh": desc["mh"], "sparsity": sparsity,
            "deployed": {"zeros": desc["zeros_deployed"], **{k: dense[k] for k in keep}},
            "pruned": {"zeros": desc["zeros_pruned"], **{k: pruned[k] for k in keep}},
            "lut_reduction": red,
            "goal_met": bool(sparsity >= 0.5 and red >= PAYOFF_GOAL)}


def _run_all(runs: list[_Job], family: str, jobs: int, timeout_s: float,
             progress: Callable[[str], None] | None) -> dict[str, _Job]:
    """Run every Yosys job (``jobs`` at once); a failure is recorded, not raised."""
    lock = threading.Lock()
    done_count = [0]

    def one(job: _Job) -> _Job:
        try:
            job.result = synthesize(job.sources, job.top, job.workdir, family, dsp=job.dsp,
                                    timeout_s=timeout_s)
        except RuntimeError as e:
            log = job.workdir / "yosys.log"
            job.result = {"error": f"{e} ({log.relative_to(job.workdir.parents[1])})"
                          if log.is_file() else str(e)}
        if progress is not None:
            r = job.result
            with lock:
                done_count[0] += 1
                progress(f"[{done_count[0]}/{len(runs)}] {job.key}: " + (
                    r["error"] if "error" in r else
                    f"{r['LUT']} LUT, {r['FF']} FF, {r['BRAM_18K']} BRAM_18K, {r['DSP']} DSP "
                    f"({r['seconds']} s)"))
        return job

    order = sorted(runs, key=lambda j: -sum(Path(s).stat().st_size for s in j.sources))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = list(pool.map(one, order))
    return {j.key: j for j in done}


__all__ = ["PAYOFF_GOAL", "finn_unrolled_estimate", "synth_build", "verify_mvau"]
