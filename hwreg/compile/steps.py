"""The build: an ordered list of named steps ``step_x(model, cfg, build_dir) -> model``.

Each step's output is saved as ``BUILD/intermediate_models/<step>.onnx`` and its wall time in
``BUILD/time_per_step.json``; a build resumes from any step (``from_step``) by loading the model
the previous step saved. Steps that need Vivado come last and are skipped, with one message,
when ``vivado`` is not on PATH. The config is saved as ``BUILD/build_config.yaml``. After the
steps, a build with estimates is drawn as ``BUILD/report/dataflow.svg``/``.png``
(:mod:`hwreg.compile.dataflow`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.general import GiveUniqueNodeNames
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

import hwreg.compile.ops  # noqa: F401  (registers the 3D ops with FINN)
from hwreg.atomic import atomic_path, write_json, write_text
from hwreg.compile.boards import board_info
from hwreg.compile.config import STEP_NAMES, BuildConfig, FifoSizing, MvauStyle
from hwreg.compile.estimates import estimate_with_buffers, markdown_summary
from hwreg.compile.folding import FoldToCycles, folding_config
from hwreg.compile.folding_check import check_folding
from hwreg.compile.lower import LowerToIntegerNDHWC
from hwreg.config import dump_yaml, load_yaml, replace_field
from hwreg.errors import UserError
from hwreg.tool_messages import tool_messages

if TYPE_CHECKING:
    from hwreg.model import RegNet

Step = Callable[[ModelWrapper, BuildConfig, Path], ModelWrapper]
HW_DOMAIN = "finn.custom_op.fpgadataflow"
VIVADO_MESSAGE = ("vivado not on PATH: skipping HLS synthesis, stitched IP and bitfile "
                  "(everything before them ran)")


def finn_settings() -> None:
    """Initialise FINN's global settings once (FINN needs them outside its own CLI)."""
    from finn.util import settings

    if settings._SETTINGS is None:
        settings.initialize_dummy_settings()


def step_tidy(model: ModelWrapper, cfg: BuildConfig, build_dir: Path) -> ModelWrapper:
    """qonnx clean-up: shapes, constant folding, unique names, datatypes."""
    model = model.transform(InferShapes()).transform(FoldConstants())
    return model.transform(GiveUniqueNodeNames()).transform(InferDataTypes())


def step_lower_to_integer(model: ModelWrapper, cfg: BuildConfig,
                          build_dir: Path) -> ModelWrapper:
    """Conv3d -> 3D im2col + MatMul, quantisers -> integer thresholds, NDHWC streams: the
    qonnx passes of :func:`hwreg.compile.lower.lowering_passes`."""
    shape = model.get_tensor_shape(model.graph.input[0].name)
    if tuple(shape[2:]) != tuple(cfg.grid_shape):
        raise UserError(f"the model was exported for grid {tuple(shape[2:])}, the build config "
                        f"says {tuple(cfg.grid_shape)}")
    return model.transform(LowerToIntegerNDHWC())


def step_convert_to_hw(model: ModelWrapper, cfg: BuildConfig, build_dir: Path) -> ModelWrapper:
    """FINN's HW inference (MVAU and Thresholding, ElementwiseAdd, DuplicateStreams),
    accumulator minimisation; checks that only hardware layers remain."""
    finn_settings()
    from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import (
        InferDuplicateStreamsLayer,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import (
        InferThresholdingLayer,
    )
    from finn.transformation.fpgadataflow.minimize_accumulator_width import (
        MinimizeAccumulatorWidth,
    )

    if cfg.mvau_style == MvauStyle.rtl:
        # thresholds first: the MVAU then has no activation and FINN can implement it in RTL
        model = model.transform(InferThresholdingLayer())
    model = model.transform(InferQuantizedMatrixVectorActivation())
    model = model.transform(InferThresholdingLayer())
    model = model.transform(InferElementwiseBinaryOperation())
    model = model.transform(InferDuplicateStreamsLayer())
    model = model.transform(GiveUniqueNodeNames())
    model = model.transform(MinimizeAccumulatorWidth()).transform(InferDataTypes())
    other = [f"{n.name} ({n.op_type})" for n in model.graph.node if n.domain != HW_DOMAIN]
    if other:
        raise UserError(f"non-hardware layers left after conversion: {', '.join(other)}")
    return model


def step_set_folding(model: ModelWrapper, cfg: BuildConfig, build_dir: Path) -> ModelWrapper:
    """Fold to the target throughput (or apply ``cfg.folding_config``); writes
    ``BUILD/folding_config.json``."""
    if cfg.folding_config is not None:
        from finn.transformation.general import ApplyConfig

        check_folding(model, cfg.folding_config)  # ApplyConfig only warns or accepts
        model = model.transform(ApplyConfig(str(cfg.folding_config)))
    else:
        model = model.transform(FoldToCycles(cfg.target_cycles(), cfg.ram_style.value))
    write_json(build_dir / "folding_config.json", folding_config(model))
    return model


def step_set_fifo_depths(model: ModelWrapper, cfg: BuildConfig,
                         build_dir: Path) -> ModelWrapper:
    """Size the FIFO of every stream edge (``cfg.fifo_sizing``: analytic bound or Verilator
    simulation, :mod:`hwreg.compile.fifos`); writes ``BUILD/fifo_depths.json`` and sets FINN's
    ``inFIFODepths`` of every consumer, so FINN's ``InsertFIFO`` builds the same depths."""
    from hwreg.compile.fifos import (
        FIFO_FILE,
        analytic_depths,
        fifo_table,
        stream_edges,
        write_fifo_depths,
    )

    if cfg.fifo_sizing == FifoSizing.simulation:
        from hwreg.rtl.stitch import size_fifos

        try:
            probe = size_fifos(model, build_dir / "fifo_sizing", board_info(cfg.board).finn_part,
                               cfg.clock_ns, backend=cfg.rtl_backend)
        except RuntimeError as exc:
            raise UserError(f"fifo_sizing simulation: {str(exc).splitlines()[0]} (use "
                            "fifo_sizing: analytic)") from None
        depths = probe["depths"]
        (build_dir / "fifo_sizing" / "probe.json").write_text(json.dumps(probe, indent=2))
    else:
        depths = analytic_depths(model)
    table = fifo_table(model, depths, cfg.fifo_sizing.value)
    write_fifo_depths(build_dir / FIFO_FILE, table)
    per_node: dict[str, list[int]] = {}
    for e in stream_edges(model):
        per_node.setdefault(e.consumer, []).append(depths[e.fifo])
    for node in model.graph.node:
        if node.name in per_node:
            getCustomOp(node).set_nodeattr("inFIFODepths", per_node[node.name])
    return model


def step_estimates(model: ModelWrapper, cfg: BuildConfig, build_dir: Path) -> ModelWrapper:
    """Per-layer resources and cycles, with the FIFOs and width converters of
    ``BUILD/fifo_depths.json``; totals vs the board, pairs/s: ``BUILD/report/``
    (``estimate_fifos.json``: one row per FIFO)."""
    board = board_info(cfg.board)
    from hwreg.compile.fifos import read_fifo_table

    table = read_fifo_table(build_dir, required=True)
    assert table is not None  # required: a missing file raised
    layers, buffers, report = estimate_with_buffers(model, board, cfg.clock_hz, table)
    report["target_fps"] = cfg.target_fps
    # the layers' rate is passes/s; a registration makes cfg.passes_per_pair of them
    report["passes_per_pair"] = cfg.passes_per_pair
    report["estimated_passes_per_s"] = report["estimated_pairs_per_s"]
    report["estimated_pairs_per_s"] /= cfg.passes_per_pair
    rep = build_dir / "report"
    rep.mkdir(exist_ok=True)
    write_json(rep / "estimate_layer_resources_cycles.json", layers)
    write_json(rep / "estimate_fifos.json", buffers)
    write_json(rep / "estimate_network_performance.json", report)
    write_text(rep / "estimates.md", markdown_summary(layers, report))
    return model


def step_generate_hdl(model: ModelWrapper, cfg: BuildConfig, build_dir: Path) -> ModelWrapper:
    """RTL/HLS sources FINN generates without Vivado: ``BUILD/hdl/`` + ``hdl_report.json``."""
    if cfg.generate_hdl:
        from hwreg.compile.codegen import generate_sources

        generate_sources(model, board_info(cfg.board).finn_part, cfg.clock_ns, build_dir / "hdl",
                         cfg.rtl_backend)
    return model


def step_vivado_synthesis(model: ModelWrapper, cfg: BuildConfig,
                          build_dir: Path) -> ModelWrapper:
    """FINN's IP generation, HLS synthesis, stitched IP and bitfile (:mod:`.vivado`); skipped
    with one message when ``vivado`` is not on PATH."""
    from hwreg.compile.vivado import run_finn_backend, vivado_available

    if not vivado_available():
        print(f"hwreg build: {VIVADO_MESSAGE}")
        return model
    return run_finn_backend(model, cfg, build_dir)


STEPS: list[Step] = [step_tidy, step_lower_to_integer, step_convert_to_hw, step_set_folding,
                     step_set_fifo_depths, step_estimates, step_generate_hdl,
                     step_vivado_synthesis]
if [s.__name__ for s in STEPS] != list(STEP_NAMES):
    raise RuntimeError("hwreg.compile.config.STEP_NAMES is out of date with STEPS")


def build(qonnx_path: str | Path, cfg: BuildConfig, build_dir: str | Path,
          from_step: str | None = None, to_step: str | None = None) -> ModelWrapper:
    """Run the steps from ``from_step`` (default: the first) to ``to_step`` (default: last)."""
    from hwreg.export import read_onnx

    cfg.validate()
    build_dir = Path(build_dir)
    inter = build_dir / "intermediate_models"
    inter.mkdir(parents=True, exist_ok=True)
    dump_yaml(cfg, build_dir / "build_config.yaml")
    for name in (from_step, to_step):
        if name is not None and name not in STEP_NAMES:
            raise UserError(f"unknown step '{name}'; steps: {', '.join(STEP_NAMES)}")
    start = STEP_NAMES.index(from_step) if from_step else 0
    stop = STEP_NAMES.index(to_step) + 1 if to_step else len(STEPS)
    if start == 0:
        model = read_onnx(qonnx_path)
    else:
        prev = inter / f"{STEP_NAMES[start - 1]}.onnx"
        if not prev.is_file():
            raise UserError(f"{prev}: not found; cannot resume from {from_step}")
        model = read_onnx(prev)
    times_path = build_dir / "time_per_step.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    finn_settings()
    with tool_messages(build_dir / "build.log"):  # FINN's per-layer notes
        for step in STEPS[start:stop]:
            t0 = time.perf_counter()
            model = step(model, cfg, build_dir)
            times[step.__name__] = time.perf_counter() - t0
            with atomic_path(inter / f"{step.__name__}.onnx") as tmp:
                model.save(str(tmp))
            write_json(times_path, times)
    if stop > STEP_NAMES.index("step_estimates"):
        # the accelerator drawn (report/dataflow.svg, .png), with whatever FIFO depths exist now
        # (only when the estimates are of this graph: a run stopped before them keeps old ones)
        from hwreg.compile.dataflow import write_build_dataflow

        write_build_dataflow(build_dir, ModelWrapper(str(hw_graph_path(build_dir))), model,
                             name=cfg.board.value)
    return model


def export_and_build(model: RegNet, cfg: BuildConfig, build_dir: str | Path,
                     to_step: str | None = None) -> ModelWrapper:
    """Export ``model`` on ``cfg.grid_shape`` as ``BUILD/export.onnx`` (QONNX, checked against
    Brevitas) and run the steps from the first to ``to_step`` (default: the last)."""
    from hwreg.export import export_checked

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    cfg = replace_field(cfg, passes_per_pair=model.passes)
    export_checked(model, cfg.grid_shape, build_dir / "export.onnx")
    return build(build_dir / "export.onnx", cfg, build_dir, to_step=to_step)


def resume_build(build_dir: str | Path, from_step: str, to_step: str | None = None,
                 **changes: Any) -> tuple[ModelWrapper, BuildConfig]:
    """Run the steps of an existing build from ``from_step`` with its saved config
    (``BUILD/build_config.yaml``, with ``changes`` applied); returns the model and the config."""
    build_dir = Path(build_dir)
    saved = build_dir / "build_config.yaml"
    if not saved.is_file():
        raise UserError(f"{saved}: not found; cannot resume")
    cfg = replace_field(load_yaml(BuildConfig, saved), **changes)
    return build(build_dir / "export.onnx", cfg, build_dir, from_step, to_step), cfg


def hw_graph_path(build_dir: str | Path) -> Path:
    """The HW-layer graph emulated as L3 (after folding, before any specialisation)."""
    return Path(build_dir) / "intermediate_models" / "step_set_folding.onnx"


__all__ = ["STEPS", "STEP_NAMES", "build", "export_and_build", "hw_graph_path", "resume_build"]
