"""Bit-exact emulation across levels (DESIGN.md "Emulation levels").

- L1: the Brevitas model (``RegNet.core``); its integer DDF codes are the golden output;
- L2: the QONNX export (``BUILD/export.onnx``) executed by qonnx;
- L3: the FINN hardware-layer graph (``BUILD/intermediate_models/step_set_folding.onnx``,
  before any specialisation) executed in Python, with the host prologue/epilogue of
  :mod:`hwreg.runtime.host`.

All levels must give identical integer codes (max abs diff 0). On an L2/L3 mismatch the first
quantised activation (in graph order) whose integers differ is named; Brevitas has no per-layer
integer tap, so an L1-only mismatch names the network output.

Pairs come from any iterable of :class:`Pair` (:func:`random_pairs`, or :func:`data_pairs` for
held-out subjects of a dataset); labelled pairs also get Dice/TRE/folding of the emulated DDF,
next to a float model's (L0) when one is given. :func:`emulate_build` is the file-level entry
(``hwreg emulate``): a model reference, a build folder and an :class:`EmulateConfig`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwreg.config import DataConfig, Layout, load_yaml, replace_field
from hwreg.errors import UserError
from hwreg.export import brevitas_codes, output_scale, random_codes, read_onnx
from hwreg.model import RegNet


def torch_no_grad_float(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` under ``torch.no_grad`` (imported lazily)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper


@dataclass
class Pair:
    """One emulated input: ``x`` (1, 2, D, H, W) float in [0, 1], channel 0 fixed, 1 moving;
    with label maps ``(D, H, W)`` (label indices 1..K) accuracy is reported too."""

    name: str
    x: np.ndarray
    fixed_labels: np.ndarray | None = None
    moving_labels: np.ndarray | None = None
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)


def random_pairs(grid: tuple[int, int, int], n: int, seed: int = 0) -> Iterator[Pair]:
    """``n`` random 8-bit volume pairs on ``grid`` (no labels)."""
    for i in range(n):
        yield Pair(f"random_{i}", random_codes(grid, 1, seed=seed + i))


def data_pairs(cfg: DataConfig, n: int) -> Iterator[Pair]:
    """Up to ``n`` (fixed, moving) pairs of the held-out subjects of ``cfg`` (its seeded split),
    on the model grid, with labels."""
    from hwreg.data.datasets import all_pairs, find_subjects, prepare_subject, split

    _, test = split(find_subjects(cfg), cfg)
    if len(test) < 2:
        raise UserError(f"{cfg.root}: need at least 2 held-out subjects for pairs, the split "
                        f"leaves {len(test)} (data.n_train={cfg.n_train})")
    prepared = [prepare_subject(s, cfg) for s in test]
    for f, m in all_pairs(len(prepared))[:n]:
        a, b = prepared[f], prepared[m]
        x = np.stack([a.image, b.image])[None].astype(np.float32)  # (1, 2, D, H, W)
        yield Pair(f"{a.id}<-{b.id}", x, a.labels, b.labels, a.grid.spacing)


def accuracy(model: RegNet, codes: np.ndarray, pair: Pair) -> dict[str, float]:
    """Dice (mean over labels), TRE (mm) and folding (%) of the DDF ``codes * scale`` after the
    model's host epilogue (upsampling for ``head_level = 1``, scaling and squaring) on a
    labelled pair."""
    import torch

    ddf = torch.from_numpy(codes * output_scale(model)).float()
    with torch.no_grad():
        ddf = model.epilogue(ddf, tuple(pair.x.shape[2:]))
    return ddf_metrics(pair, ddf[0].numpy())


@torch_no_grad_float
def float_accuracy(float_model: RegNet, pair: Pair) -> dict[str, float]:
    """L0: the same metrics for a float model's DDF on a labelled pair."""
    import torch


    x = torch.from_numpy(pair.x)
    return ddf_metrics(pair, float_model.eval()(x[:, :1], x[:, 1:])[0].numpy())


def ddf_metrics(pair: Pair, ddf: np.ndarray) -> dict[str, float]:
    """Dice, TRE (mm) and folding % of a DDF ``(3, D, H, W)`` (voxels) on a labelled pair."""
    from hwreg.metrics import folding_percent, mean_dice, tre
    from hwreg.warp import warp_labels_np

    assert pair.fixed_labels is not None and pair.moving_labels is not None
    warped = warp_labels_np(pair.moving_labels, ddf)
    ids = sorted(set(np.unique(pair.fixed_labels).tolist()) - {0})
    return {"dice": mean_dice(pair.fixed_labels, warped, ids),
            "tre_mm": tre(pair.fixed_labels, warped, ids, pair.spacing),
            "folding_percent": folding_percent(ddf)}


class Levels:
    """Executes L2 and L3 of one build; see the module docstring."""

    def __init__(self, build_dir: str | Path) -> None:
        import hwreg.compile.ops  # noqa: F401  (registers the 3D ops)
        from hwreg.compile.lower import META_OUT_GRID, META_OUT_SCALE, META_TENSOR_MAP
        from hwreg.compile.steps import finn_settings, hw_graph_path

        build_dir = Path(build_dir)
        finn_settings()
        qonnx_path = build_dir / "export.onnx"
        hw_path = hw_graph_path(build_dir)
        lowered = build_dir / "intermediate_models" / "step_lower_to_integer.onnx"
        for p in (qonnx_path, hw_path, lowered):
            if not p.is_file():
                raise UserError(f"{p}: not found; run `hwreg build` (through step_set_folding) "
                                "first")
        self.qonnx, self.hw, low = (read_onnx(p) for p in (qonnx_path, hw_path, lowered))
        try:
            self.scale = float(low.get_metadata_prop(META_OUT_SCALE))
            self.grid = tuple(int(v) for v in low.get_metadata_prop(META_OUT_GRID).split(","))
            self.tensor_map: dict[str, str] = json.loads(low.get_metadata_prop(META_TENSOR_MAP))
        except (TypeError, ValueError, AttributeError):
            raise UserError(f"{lowered}: lacks hwreg's metadata (not from hwreg build?)") from None
        self.act_scales = self._act_scales()

    def _act_scales(self) -> dict[str, float]:
        out = {}
        for node in self.qonnx.graph.node:
            if node.op_type == "Quant" and node.output[0] in self.tensor_map:
                out[node.output[0]] = float(self.qonnx.get_initializer(node.input[1]))
        return out

    def l2(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """QONNX execution: integer codes (1, 3, D', H', W') and the full context."""
        from qonnx.core.onnx_exec import execute_onnx

        g = self.qonnx.graph
        ctx = execute_onnx(self.qonnx, {g.input[0].name: x}, return_full_exec_context=True)
        return np.round(ctx[g.output[0].name] / self.scale).astype(np.int64), ctx

    def l3(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """FINN HW-layer graph in Python: integer codes (1, 3, D', H', W') and the context.

        Each node's own ``execute_node`` runs in graph order; every output is then checked
        against its datatype annotation (integer and in range) instead of qonnx's silent
        rounding ("sanitising"), which would hide an inexact layer and is slow on large volumes.
        """
        from qonnx.core.onnx_exec import execute_node
        from qonnx.util.basic import get_preferred_qonnx_opset

        from hwreg.runtime.host import epilogue, prologue

        g = self.hw.graph
        ctx = self.hw.make_empty_exec_context()
        ctx[g.input[0].name] = prologue(x)[0]
        for node in g.node:
            execute_node(node, ctx, g, get_preferred_qonnx_opset())
            for t in node.output:
                dt = self.hw.get_tensor_datatype(t)
                v = ctx[t]
                if not (np.array_equal(v, np.round(v)) and v.min() >= dt.min()
                        and v.max() <= dt.max()):
                    raise AssertionError(f"{node.name}: output {t} leaves its datatype {dt.name}")
        return epilogue(ctx[g.output[0].name][None], self.grid), ctx  # type: ignore[arg-type]

    def first_mismatch(self, ctx2: dict[str, np.ndarray], ctx3: dict[str, np.ndarray]) -> str:
        """The first QONNX node whose quantised output differs between L2 and L3."""
        for node in self.qonnx.graph.node:
            t = node.output[0]
            if t not in self.tensor_map or t not in self.act_scales:
                continue
            a = np.round(ctx2[t] / self.act_scales[t])  # (1, C, D, H, W) codes
            b = ctx3[self.tensor_map[t]]  # (D*H*W, C) codes, NDHWC
            b = b.reshape(*a.shape[2:], a.shape[1]).transpose(3, 0, 1, 2)[None]
            if not np.array_equal(a, b):
                return f"{node.name} (output {t}, integer tensor {self.tensor_map[t]})"
        return "network output"


def rtl_levels(build_dir: Path, levels: Levels, ctx3: dict[str, np.ndarray], workdir: Path,
               cache_dir: Path | None = None, fifo_depth: int | None = None,
               rtl_backend: str | None = None) -> dict[str, Any]:
    """L4: every layer's RTL under Verilator on its L3 inputs ``ctx3``, exact vs L3
    (:mod:`hwreg.rtl.layers`), summary plus one row per layer; then (if L4 is exact)
    L5: the stitched accelerator on the L3 input, exact vs the L3 output, cycles vs FINN's
    estimates, simulation speed (:mod:`hwreg.rtl.stitch`), with ``fifo_depth``-entry
    FIFOs between layers (None: sized by simulation)."""
    from hwreg.compile.boards import board_info
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.fifos import read_fifo_depths
    from hwreg.rtl import harness
    from hwreg.rtl.layers import simulate_layers

    cfg = load_yaml(BuildConfig, build_dir / "build_config.yaml")
    backend = rtl_backend or cfg.rtl_backend  # the MVAU/Thresholding RTL: asked, or the build's
    t0 = time.perf_counter()
    rows = simulate_layers(levels.hw, ctx3, workdir, board_info(cfg.board).finn_part, cfg.clock_ns,
                           cache_dir or harness.DEFAULT_CACHE, backend=backend)
    checked = [r for r in rows if r["exact"] is not None]
    l4_s = round(time.perf_counter() - t0, 2)
    l4 = {"exact": all(r["exact"] for r in checked) and len(checked) == len(rows),
            "layers": len(rows), "layers_exact": sum(bool(r["exact"]) for r in checked),
            "first_mismatch": next((r["layer"] for r in rows if r["exact"] is False), None),
            "no_rtl": [r["layer"] for r in rows if r["exact"] is None],
            "time_s": l4_s, "rtl_backend": str(backend),
            "sim_cycles": sum(r.get("cycles", 0) for r in rows), "per_layer": rows}
    l5: dict[str, Any] = {"exact": False, "why": "L4 not exact"}
    if l4["exact"]:
        from hwreg.rtl.stitch import simulate_accelerator

        t1 = time.perf_counter()
        # the build's FIFO depths (step_set_fifo_depths) unless a fixed depth is asked for
        depths = read_fifo_depths(build_dir) if fifo_depth is None else None
        try:
            l5 = simulate_accelerator(levels.hw, ctx3, workdir / "accel",
                                      board_info(cfg.board).finn_part, cfg.clock_ns,
                                      cache_dir or harness.DEFAULT_CACHE, fifo_depth, depths,
                                      backend=backend)
        except harness.StreamError as exc:  # extra/missing beats, input left: not exact
            l5 = {"exact": False, "why": str(exc)}
        l5["time_s"] = round(time.perf_counter() - t1, 2)
    return {"L4": l4, "L5": l5}


def merge_rtl(l4: dict[str, Any] | None, l5: dict[str, Any], res: dict[str, Any],
              pair: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fold one pair's L4/L5 results ``res`` into the summary so far (``l4`` None: none yet):
    the first pair's figures, ``exact`` over all pairs, the first mismatch and its pair, and one
    row per pair in ``pairs``."""
    new4, new5 = res["L4"], res["L5"]
    row = {"pair": pair, "L4_exact": new4["exact"], "L4_first_mismatch": new4["first_mismatch"],
           "L5_exact": new5["exact"]}
    if l4 is None:
        new4["pair"] = new5["pair"] = pair
        new4["pairs"] = [row]
        return new4, new5
    l4["pairs"].append(row)
    if l4["first_mismatch"] is None and new4["first_mismatch"] is not None:
        l4["first_mismatch"], l4["pair"] = new4["first_mismatch"], pair
    l4["exact"] = l4["exact"] and new4["exact"]
    if l5.get("exact") and not new5.get("exact"):
        l5.update(exact=False, pair=pair, why=new5.get("why", f"not exact on {pair}"))
    return l4, l5


def emulate(model: RegNet, build_dir: str | Path, pairs: Iterable[Pair],
            out_dir: str | Path | None = None,
            float_model: RegNet | None = None, rtl: bool = False,
            rtl_cache: Path | None = None, fifo_depth: int | None = None,
            rtl_pairs: int = 1, rtl_backend: str | None = None) -> dict[str, Any]:
    """Run L1, L2, L3 on every pair; returns (and writes ``out_dir/emulation.json``) per level
    the max abs diff vs L1 and the time per pair, plus the first mismatching layer if any.
    Labelled pairs also get Dice/TRE/folding of the L3 DDF and, given ``float_model``, of the
    float model's DDF (L0), averaged in ``accuracy``. With ``rtl``, L4 (every layer's RTL
    under Verilator, exact vs L3 on the first ``rtl_pairs`` pairs' layer inputs; builds cached in
    ``rtl_cache``) is added as ``L4``, and L5 (the stitched accelerator with
    ``fifo_depth``-entry FIFOs, None: sized by simulation; same pair) as ``L5``; both count
    towards ``exact``; their simulation files go to ``out_dir/rtl`` (or a temporary
    folder). ``rtl_backend``: the MVAU/Thresholding RTL of L4/L5 (None: the build's)."""
    import tempfile

    levels = Levels(build_dir)
    rtl_done = 0
    l4: dict[str, Any] | None = None
    l5: dict[str, Any] = {}
    if abs(output_scale(model) - levels.scale) > 0:
        raise UserError(f"the model's output scale {output_scale(model)} differs from the "
                        f"build's {levels.scale}: --model and --build do not belong together")
    diff = {"L1": 0, "L2": 0, "L3": 0}
    secs = {"L1": 0.0, "L2": 0.0, "L3": 0.0}
    mismatch: str | None = None
    per_pair = []
    n = 0
    acc: dict[str, list[dict[str, float]]] = {"L3": [], "L0": []}
    for pair in pairs:
        name, x = pair.name, pair.x
        t0 = time.perf_counter()
        c1 = brevitas_codes(model, x)
        t1 = time.perf_counter()
        c2, ctx2 = levels.l2(x)
        t2 = time.perf_counter()
        c3, ctx3 = levels.l3(x)
        t3 = time.perf_counter()
        if rtl and rtl_done < rtl_pairs:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(out_dir) / "rtl" if out_dir is not None else Path(tmp)
                rtl_res = rtl_levels(Path(build_dir), levels, ctx3,
                                     work / name if rtl_pairs > 1 else work, rtl_cache,
                                     fifo_depth, rtl_backend)
            rtl_done += 1
            l4, l5 = merge_rtl(l4, l5, rtl_res, name)
        secs["L1"] += t1 - t0
        secs["L2"] += t2 - t1
        secs["L3"] += t3 - t2
        if c1.shape != c3.shape:
            raise UserError(f"{name}: L1 shape {c1.shape} vs L3 {c3.shape}: wrong build grid?")
        d2, d3 = int(np.abs(c2 - c1).max()), int(np.abs(c3 - c1).max())
        diff["L2"], diff["L3"] = max(diff["L2"], d2), max(diff["L3"], d3)
        if (d2 or d3) and mismatch is None:
            mismatch = (levels.first_mismatch(ctx2, ctx3) if not np.array_equal(c2, c3)
                        else "network output (L1 vs L2/L3)")
        row: dict[str, Any] = {"pair": name, "max_abs_diff_L2": d2, "max_abs_diff_L3": d3}
        if pair.fixed_labels is not None:
            row["L3"] = accuracy(model, c3, pair)
            acc["L3"].append(row["L3"])
            if float_model is not None:
                row["L0"] = float_accuracy(float_model, pair)
                acc["L0"].append(row["L0"])
        per_pair.append(row)
        n += 1
    if n == 0:
        raise UserError("no pairs to emulate")
    result = {
        "pairs": n,
        "levels": {k: {"max_abs_diff_vs_L1": diff[k], "time_s_per_pair": secs[k] / n}
                   for k in ("L1", "L2", "L3")},
        "exact": not any(diff.values()) and (l4 is None or (l4["exact"] and l5["exact"])),
        "first_mismatch": mismatch,
        "accuracy": {lvl: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                     for lvl, rows in acc.items() if rows},
        "per_pair": per_pair,
    }
    if l4 is not None:
        result["L4"], result["L5"] = l4, l5
    if out_dir is not None:
        from hwreg.atomic import write_json

        write_json(Path(out_dir) / "emulation.json", result)
    return result


@dataclass
class EmulateConfig:
    """One emulation of a build (``hwreg emulate``): which pairs and which levels."""

    #: Random volume pairs (and, with ``data``, at most this many held-out pairs of it).
    pairs: int = 4
    #: Seed of the random pairs.
    seed: int = 0
    #: Dataset folder: also emulate held-out pairs of it (labelled: Dice, TRE, folding).
    data: Path | None = None
    #: Folder layout of ``data``.
    layout: Layout = Layout.ibsr
    #: Model grid spacing in mm for ``data`` with a random model (a model file has its own).
    spacing: float = 2.0
    #: Float model (name or path) whose Dice/TRE/folding is reported as L0.
    float_model: str | None = None
    #: Also L4 (every layer's RTL under Verilator) and L5 (the stitched accelerator).
    rtl: bool = False
    #: L5: entries of every FIFO between two layers; ``None``: the build's
    #: ``fifo_depths.json`` (its ``step_set_fifo_depths``), or sized by simulation without one.
    fifo_depth: int | None = None
    #: L4/L5 on this many pairs (the first ones), not only the first.
    rtl_pairs: int = 1
    #: L4/L5: RTL of the MVAU and Thresholding layers (``finn`` or ``hwreg``,
    #: :class:`hwreg.compile.config.RtlBackend`); ``None``: the build's ``rtl_backend``.
    rtl_backend: str | None = None


def emulate_build(model: str, build_dir: str | Path, out: str | Path,
                  cfg: EmulateConfig) -> dict[str, Any]:
    """Emulate the build in ``build_dir`` of ``model`` (a model file, run folder, shipped name
    or ``random:...`` spec) on the pairs ``cfg`` names; writes ``out/emulation.json`` and
    returns :func:`emulate`'s result."""
    from hwreg.checkpoint import load_model_and_config, load_model_spec
    from hwreg.compile.config import BuildConfig
    from hwreg.export import check_exportable

    net, run_cfg = load_model_and_config(model)
    build_dir = Path(build_dir)
    cfg_path = build_dir / "build_config.yaml"
    if not cfg_path.is_file():
        raise UserError(f"{cfg_path}: not found; is {build_dir} a hwreg build?")
    grid = load_yaml(BuildConfig, cfg_path).grid_shape
    check_exportable(net, grid)
    pairs = list(random_pairs(grid, cfg.pairs, cfg.seed))
    if cfg.data is not None:
        if run_cfg is not None:  # the model's own data settings (split, labels, grid)
            data_cfg = replace_field(run_cfg.data, root=cfg.data, layout=cfg.layout)
        else:
            data_cfg = DataConfig(root=cfg.data, layout=cfg.layout, grid_shape=grid,
                                  grid_spacing=cfg.spacing)
        pairs += list(data_pairs(data_cfg, cfg.pairs))
    float_model = load_model_spec(cfg.float_model)[0] if cfg.float_model else None
    return emulate(net, build_dir, pairs, out, float_model=float_model, rtl=cfg.rtl,
                   fifo_depth=cfg.fifo_depth, rtl_pairs=cfg.rtl_pairs,
                   rtl_backend=cfg.rtl_backend)
