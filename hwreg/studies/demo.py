"""The main job, ``hwreg demo`` (``make demo``): every stage on the embedded default data.

prepare data -> fine-tune float (from the shipped demo-float-v2, as configs/demo_float.yaml
says) and train W4A4 from a trained float network (CPU-short schedules, W4A4 from the shipped
demo-float; ``--full`` uses the configs' own schedules, the ones the shipped models were trained
with, and the float model trained here) -> prune 50 % +
fine-tune -> a small sweep -> evaluate (demo-trained and shipped models) -> export + FINN build
per board (estimates) -> bit-exact emulation -> label-free registration of one NIfTI pair -> report.

Each stage is a library call with typed arguments (:func:`plan` lists them as :class:`Stage`),
the same call the matching ``hwreg`` command makes, writing into ``OUT/<stage>``
(:mod:`.demo_layout`); the report (:mod:`.report`) reads what the stages wrote. The stages run
two at a time by default (:mod:`.stages`: most of them keep one core busy; the sweep keeps two),
the longest chain (build ZCU104 -> emulate, with the cold Verilator builds) first. Training
stages resume, so an interrupted demo continues where it stopped.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hwreg.atomic import write_json, write_text
from hwreg.compile.boards import Board
from hwreg.errors import UserError
from hwreg.studies.demo_layout import (
    BOARDS,
    FLOAT_MODEL,
    HW_MODEL,
    PRUNED,
    SYN_BASELINE,
    evaluated_models,
    slug,
)
from hwreg.studies.stages import Stage, run_stages

#: Overrides that make the demo trainings fit 2 CPU cores in minutes: single-pass training
#: (``train.cascade`` 1, half the compute of the shipped W4A4 config's two passes) and
#: single-pass inference for the models the demo trains (the shipped ones keep their 16 or 24
#: passes per pair; the report's accuracy table says each model's passes).
CPU_OVERRIDES: dict[str, dict[str, Any]] = {
    "train": {"steps": 80, "labels_per_pair": 2, "eval_every": 80, "eval_pairs": 6,
              "checkpoint_every": 20, "cascade": 1},
    "model": {"flips": 0, "cascade": 1},
    "loss": {"pyramid": True},
}


def _demo_config(source: Path, out: Path, data: Path, full: bool,
                 extra: dict[str, dict[str, Any]] | None = None) -> Path:
    """A run config derived from ``source`` (demo overrides, data root), written to ``out``."""
    cfg = yaml.safe_load(source.read_text())
    cfg["data"]["root"] = str(data.resolve())
    for section, values in ({} if full else CPU_OVERRIDES).items():
        cfg.setdefault(section, {}).update(values)
    for section, values in (extra or {}).items():
        cfg.setdefault(section, {}).update(values)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, yaml.safe_dump(cfg, sort_keys=False))
    return out


#: Sweep overrides for 2 CPU cores (the configs' own values are kept with ``--full``).
SWEEP_CPU_OVERRIDES: dict[str, Any] = {"float_steps": 10, "quant_steps": 20,
                                       "finetune_steps": 15, "eval_pairs": None}


def _sweep_config(source: Path, out: Path, data: Path, full: bool) -> Path:
    """The demo's sweep config: ``source`` with the data root and CPU-sized schedules."""
    cfg = yaml.safe_load(source.read_text())
    cfg["run"]["data"]["root"] = str(data.resolve())
    if not full:
        cfg.update(SWEEP_CPU_OVERRIDES)
        cfg["run"]["loss"]["pyramid"] = True
        cfg["run"]["train"]["labels_per_pair"] = 2
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, yaml.safe_dump(cfg, sort_keys=False))
    return out


def _train(config: Path, out: Path) -> None:
    """``hwreg train --config CONFIG --out OUT --quiet``."""
    from hwreg.run import load_run_config
    from hwreg.train import train

    train(load_run_config(config), out, progress=False)


def _prune(source: Path, out: Path, finetune_steps: int) -> None:
    """``hwreg prune --model SOURCE --sparsity 0.5 --finetune-steps N --exclude head``."""
    from hwreg.prune import prune_config, run_prune

    run_prune(prune_config(str(source), 0.5, finetune_steps, exclude=["head"]), out,
              progress=False)


#: Processes the sweep stage runs its points in (the cores it keeps busy).
SWEEP_JOBS = 2


def _sweep(config: Path, out: Path) -> None:
    """``hwreg sweep --config CONFIG --out OUT --jobs 2``."""
    from hwreg.studies.sweep import run_sweep
    from hwreg.studies.sweep_plan import load_sweep_config

    run_sweep(load_sweep_config(config), out, jobs=SWEEP_JOBS)


def _evaluate(model: str, data: Path, out: Path) -> None:
    """``hwreg evaluate --model MODEL --data DATA --out OUT [--baseline SYN] --quiet``."""
    from hwreg.evaluate import evaluate_model

    baseline = SYN_BASELINE if SYN_BASELINE.is_file() else None
    evaluate_model(model, out, data=data, baseline=baseline)


def _build(board: Board, out: Path) -> None:
    """``hwreg build --model demo-w4a4 --board BOARD --out OUT`` (the model's own grid)."""
    from hwreg.checkpoint import load_model_spec
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.steps import export_and_build

    model, grid = load_model_spec(HW_MODEL)
    export_and_build(model, BuildConfig(board=board, grid_shape=grid), out)  # type: ignore


def _emulate(build: Path, data: Path, out: Path) -> None:
    """``hwreg emulate --model demo-w4a4 --build BUILD --pairs 2 --data DATA --float-model
    demo-float --level rtl --out OUT``; a UserError unless every level is exact."""
    from hwreg.emulate import EmulateConfig, emulate_build

    cfg = EmulateConfig(pairs=2, data=data, float_model=FLOAT_MODEL, rtl=True)
    result = emulate_build(HW_MODEL, build, out, cfg)
    if not result["exact"]:
        raise UserError(f"the emulation levels differ (first mismatch: "
                        f"{result['first_mismatch']}; see {out / 'emulation.json'})")


def _register(data: Path, out: Path) -> None:
    """``hwreg register FIXED MOVING --out OUT --moving-label LABEL --force`` on IBSR_01/02."""
    from hwreg.runtime.register import register_files

    fixed, moving = data / "IBSR_01" / "IBSR_01_ana_strip.nii.gz", data / "IBSR_02"
    register_files(fixed, moving / "IBSR_02_ana_strip.nii.gz", out,
                   moving_label=moving / "IBSR_02_seg_ana.nii.gz", force=True)


def plan(out: Path, data: Path, configs: Path, full: bool) -> list[Stage]:
    """The demo's stages, longest chain first (the order :func:`run_stages` starts ready
    stages in); writes the derived run configs under ``out/configs``."""
    cfg_dir = out / "configs"
    float_cfg = _demo_config(configs / "demo_float.yaml", cfg_dir / "float.yaml", data, full)
    models = out / "models"
    # W4A4 is quantization-aware training from a trained float network: with --full the float
    # model trained above; on CPU the shipped demo-float (the demo's own float run is 80 steps
    # of fine-tuning, less trained than the shipped one)
    init = str((models / "float" / "model.pt").resolve()) if full else FLOAT_MODEL
    w4a4_cfg = _demo_config(configs / "demo_w4a4.yaml", cfg_dir / "w4a4.yaml", data, full,
                            {"train": {"init_from": init}})
    sweep_cfg = _sweep_config(configs / ("sweep_full.yaml" if full else "sweep_demo.yaml"),
                              cfg_dir / "sweep.yaml", data, full)
    call = functools.partial
    first = Board.zcu104  # the board the emulation runs on: its build starts the longest chain
    stages = [
        Stage(f"build {first.value}", call(_build, first, out / "build" / first.value)),
        Stage("emulate", call(_emulate, out / "build" / first.value, data, out / "emulation"),
              after=(f"build {first.value}",)),
        Stage("train float", call(_train, float_cfg, models / "float")),
        Stage("train w4a4", call(_train, w4a4_cfg, models / "w4a4"),
              after=("train float",) if full else ()),
        Stage("prune w4a4 50%", call(_prune, models / "w4a4", models / PRUNED,
                                     200 if full else 30), after=("train w4a4",)),
    ]
    trained_by = {str(models / "float"): "train float", str(models / "w4a4"): "train w4a4",
                  str(models / PRUNED): "prune w4a4 50%"}
    evals = [Stage(f"evaluate {label}", call(_evaluate, ref, data, out / "eval" / slug(label)),
                   after=(trained_by[ref],) if ref in trained_by else ())
             for label, ref in evaluated_models(out).items()]
    stages += sorted(evals, key=lambda s: not s.after)  # the demo-trained ones first
    stages += [Stage(f"build {board.value}", call(_build, board, out / "build" / board.value))
               for board in BOARDS if board is not first]
    stages.append(Stage("register", call(_register, data, out / "register")))
    stages.append(Stage("sweep", call(_sweep, sweep_cfg, out / "sweep"), cpus=SWEEP_JOBS))
    return stages


def run_demo(out: str | Path, data: str | Path = "data/default", configs: str | Path = "configs",
             full: bool = False, log: Callable[[str], None] = print, jobs: int = 2) -> Path:
    """Run every stage into ``out`` (``jobs`` cores at once, :func:`run_stages`) and write the
    report; returns ``out/report.md``."""
    from hwreg.data.synth import prepare_default
    from hwreg.studies.report import write_report

    out, data, configs = Path(out), Path(data), Path(configs)
    if not (configs / "demo_float.yaml").is_file():
        raise UserError(f"{configs}: no demo_float.yaml (run from the repository root)")
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    if not (data / "hwreg_dataset.json").is_file():
        log(f"== data: writing the default dataset to {data}")
        prepare_default(data, subjects=18, spacing=1.5, force=True)
        timings["data"] = time.perf_counter() - t_start
    timings.update(run_stages(plan(out, data, configs, full), jobs, log))
    timings["wall"] = time.perf_counter() - t_start
    write_json(out / "timings.json", timings)
    report = write_report(out, data, full=full)
    log(f"== report: {report} and {report.with_suffix('.html')}")
    return report
