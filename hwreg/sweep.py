"""``hwreg sweep``: accuracy and size over a grid of bit widths x sparsities.

Shared starting points: the float model is trained once (``float-s0``); every quantized
``w{B}-s0`` is trained from it (quantization-aware, ``train.init_from``); every pruned point
``{bits}-s{S}`` is pruned from its bit width's ``-s0`` point and fine-tuned with the masks held
(:mod:`hwreg.prune`). Besides the grid, the seed's Table 1 stages: ``t1-pruned`` (the float model
pruned to ``table1_sparsity``, not re-trained), the float point at that sparsity (pruned +
re-trained) and ``t1-quantized`` (that point quantized to ``table1_bits`` with its mask held).

Each point is made in a fresh (spawned) process, as ``hwreg train|prune`` followed by ``hwreg
evaluate`` on the same held-out pairs (the shared data split, ``eval_pairs`` at most); up to
``jobs`` run at once, each as soon as the point it starts from is done. Point ``P`` lives in
``DIR/points/P`` (a run folder; a failure's traceback in ``DIR/points/P.log``); a finished
point (``model.pt`` without ``checkpoint.pt``, and ``eval/metrics.json``) is skipped on a re-run,
an interrupted one resumes. The results are ``DIR/table.csv``, ``DIR/table.md``,
``DIR/dice_vs_bits.png`` and ``DIR/dice_vs_model_bits.png`` (:mod:`hwreg.sweep_report`).
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from hwreg.checkpoint import RunConfig
from hwreg.compress import Schedule
from hwreg.config import dump_yaml, load_yaml
from hwreg.errors import ConfigError, UserError
from hwreg.model import BIT_WIDTHS
from hwreg.prune import FLOAT, parse_bits


@dataclass
class SweepConfig:
    """A bit-width x sparsity sweep (``configs/sweep_*.yaml``)."""

    #: The float starting point's run config (data, network size, loss, train settings).
    run: RunConfig = field(default_factory=RunConfig)
    #: Bit widths of weights and activations: ``float`` or one of 2, 3, 4, 6, 8.
    bits: list[int | str] = field(default_factory=lambda: [FLOAT, 8, 6, 4, 3, 2])
    #: Target global sparsities of the conv weights, in [0, 1); 0 = the unpruned point.
    sparsities: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75])
    #: Training steps of the float starting point.
    float_steps: int = 2000
    #: Quantization-aware training steps of each quantized starting point (from the float one).
    quant_steps: int = 1000
    #: Masked fine-tuning steps of each pruned point.
    finetune_steps: int = 500
    #: Learning rate of the fine-tuning (``None`` = ``run.train.lr``).
    finetune_lr: float | None = None
    #: Layers left dense in every pruned point (e.g. ``[head]``: the DDF head's weights are
    #: small, so a global threshold removes them first).
    exclude: list[str] = field(default_factory=list)
    #: Pruning schedule of the pruned points.
    schedule: Schedule = Schedule.oneshot
    #: Held-out pairs every point is evaluated on (``None`` = all ordered pairs).
    eval_pairs: int | None = None
    #: Sparsity of the seed's Table 1 stages (the seed pruned 25 %).
    table1_sparsity: float = 0.25
    #: Bit width of the Table 1 "quantized" stage.
    table1_bits: int | str = 8
    #: Add FINN's resource and throughput estimates (LUT, BRAM, DSP, pairs/s) of every
    #: quantized point (``hwreg build`` to ``step_estimates``, about 20 s per point).
    estimates: bool = False
    #: Board of the estimates.
    board: str = "ZCU104"

    def validate(self) -> None:
        """Raise ConfigError on an unusable grid."""
        self.run.validate()
        for b in [*self.bits, self.table1_bits]:
            bits = parse_bits(b)
            if bits is not None and bits not in BIT_WIDTHS:
                raise ConfigError(f"bits: {b} is not 'float' or one of {BIT_WIDTHS}")
        if not self.bits or FLOAT not in [str(b) for b in self.bits]:
            raise ConfigError("bits: must include 'float' (the shared starting point)")
        from hwreg.compile.boards import Board

        if self.board not in {b.value for b in Board}:
            raise ConfigError(f"board: {self.board!r} is not one of "
                              + ", ".join(b.value for b in Board))
        if not all(0.0 <= s < 1.0 for s in [*self.sparsities, self.table1_sparsity]):
            raise ConfigError(f"sparsities: must be in [0, 1), got {self.sparsities}")


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Load and validate a sweep YAML (paths resolve against its folder)."""
    cfg = load_yaml(SweepConfig, path)
    cfg.validate()
    return cfg


def bits_name(bits: int | None) -> str:
    """``float`` or ``w4`` (weights and activations)."""
    return FLOAT if bits is None else f"w{bits}"


def point_name(bits: int | None, sparsity: float) -> str:
    """``float-s0``, ``w4-s50`` (sparsity in %)."""
    return f"{bits_name(bits)}-s{round(100 * sparsity)}"


@dataclass
class Point:
    """One model of the sweep and how to make it."""

    name: str
    bits: int | None
    sparsity: float
    #: The point it starts from (None: the float starting point).
    depends: str | None
    #: The equivalent ``hwreg`` arguments (``train --config C`` or ``prune --model M ...``),
    #: without ``--out``.
    command: list[str]
    #: The seed's Table 1 stage it stands for, if any.
    stage: str | None = None
    #: Part of the bits x sparsity grid.
    grid: bool = True


def plan(cfg: SweepConfig, out: Path) -> list[Point]:
    """The points of the sweep in dependency order; writes the train configs under ``out``."""
    pts = out / "points"
    pts.mkdir(parents=True, exist_ok=True)
    base = cfg.run
    base.train.steps = cfg.float_steps
    dump_yaml(base, pts / "float-s0.yaml")
    points = [Point("float-s0", None, 0.0, None,
                    ["train", "--config", str(pts / "float-s0.yaml")], stage="trained")]
    for b in (parse_bits(v) for v in cfg.bits):
        if b is None:
            continue
        qcfg = load_yaml(RunConfig, pts / "float-s0.yaml")
        qcfg.model.weight_bits, qcfg.model.act_bits = b, b
        qcfg.train.steps = cfg.quant_steps
        qcfg.train.init_from = str(pts / "float-s0" / "model.pt")
        name = point_name(b, 0.0)
        dump_yaml(qcfg, pts / f"{name}.yaml")
        points.append(Point(name, b, 0.0, "float-s0",
                            ["train", "--config", str(pts / f"{name}.yaml")]))

    def prune(name: str, source: str, bits: int | None, s: float, steps: int,
              new_bits: bool = False) -> list[str]:
        cmd = ["prune", "--model", str(pts / source), "--sparsity", str(s),
               "--finetune-steps", str(steps), "--schedule", cfg.schedule.value]
        if cfg.finetune_lr is not None:
            cmd += ["--lr", str(cfg.finetune_lr)]
        if cfg.exclude:
            cmd += ["--exclude", *cfg.exclude]
        return cmd + (["--bits", bits_name(bits).lstrip("w")] if new_bits else [])

    t1 = cfg.table1_sparsity
    sparsities = sorted({*cfg.sparsities} - {0.0})
    for b in (parse_bits(v) for v in cfg.bits):
        for s in sparsities:
            name, src = point_name(b, s), point_name(b, 0.0)
            stage = "pruned + re-trained" if b is None and s == t1 else None
            points.append(Point(name, b, s, src, prune(name, src, b, s, cfg.finetune_steps),
                                stage=stage))
    if t1 > 0:
        points.append(Point("t1-pruned", None, t1, "float-s0",
                            prune("t1-pruned", "float-s0", None, t1, 0), "pruned", grid=False))
        retrained = point_name(None, t1)
        if t1 not in sparsities:
            points.append(Point(retrained, None, t1, "float-s0",
                                prune(retrained, "float-s0", None, t1, cfg.finetune_steps),
                                "pruned + re-trained", grid=False))
        qb = parse_bits(cfg.table1_bits)
        points.append(Point("t1-quantized", qb, t1, retrained,
                            prune("t1-quantized", retrained, qb, t1, cfg.quant_steps,
                                  new_bits=True), "quantized", grid=False))
    return points


ESTIMATES = Path("build") / "report" / "estimate_network_performance.json"


def finished(point: Point, folder: Path, estimates: bool = False) -> bool:
    """A point whose training finished and whose evaluation (and estimates) are written."""
    wants_estimates = estimates and point.bits is not None
    return ((folder / "model.pt").exists() and not (folder / "checkpoint.pt").exists()
            and (folder / "eval" / "metrics.json").exists()
            and (not wants_estimates or (folder / ESTIMATES).exists()))


def estimate_point(folder: Path, board: str) -> Path:
    """FINN estimates of a quantized point: ``hwreg build --model FOLDER --out FOLDER/build``
    up to ``step_estimates`` on the run's grid; returns the network report's path."""
    from hwreg.checkpoint import load_model
    from hwreg.compile.boards import Board
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.steps import build
    from hwreg.export import export_checked

    model, cfg, _ = load_model(folder)
    grid = tuple(cfg.data.grid_shape)
    bcfg = BuildConfig(board=Board(board), grid_shape=grid)  # type: ignore[arg-type]
    out = folder / "build"
    out.mkdir(parents=True, exist_ok=True)
    export_checked(model, grid, out / "export.onnx")  # type: ignore[arg-type]
    build(out / "export.onnx", bcfg, out, to_step="step_estimates")
    return folder / ESTIMATES


def evaluate_point(folder: Path, pairs: int | None) -> None:
    """``hwreg evaluate --model FOLDER --out FOLDER/eval --pairs PAIRS`` on the CPU, in-process."""
    from hwreg.checkpoint import load_model
    from hwreg.data.datasets import find_subjects, prepare_subject, split
    from hwreg.evaluate import evaluate_pairs, write_metrics

    model, cfg, _ = load_model(folder)
    _, test = split(find_subjects(cfg.data), cfg.data)
    subjects = [prepare_subject(s, cfg.data) for s in test]
    result = evaluate_pairs(model, subjects, cfg.data.resolved_label_ids(), pairs, "cpu")
    result["model"] = str(folder)
    write_metrics(result, folder / "eval", f"Evaluation of {folder.name} ({cfg.model.name})")


def make_point(point: Point, pts: Path, eval_pairs: int | None,
               board: str | None = None) -> str:
    """Make (or resume) and evaluate one point, and estimate it on ``board`` if given and it is
    quantized; runs in its own process. Returns its name."""
    from hwreg.checkpoint import load_run_config
    from hwreg.cli import build_parser
    from hwreg.compress_cli import prune_config_from_args
    from hwreg.prune import run_prune
    from hwreg.train import train

    folder = pts / point.name
    if not (folder / "model.pt").exists() or (folder / "checkpoint.pt").exists():
        args = build_parser().parse_args([*point.command, "--out", str(folder), "--quiet"])
        if args.stage == "train":
            train(load_run_config(args.config), folder, progress=False)
        else:
            cfg = prune_config_from_args(args)
            run_prune(cfg, folder, progress=False)
    if not (folder / "eval" / "metrics.json").exists():
        evaluate_point(folder, eval_pairs)
    if board is not None and point.bits is not None and not (folder / ESTIMATES).exists():
        estimate_point(folder, board)
    return point.name


def run_sweep(cfg: SweepConfig, out: str | Path, jobs: int = 1,
              log: Callable[[str], None] = print) -> list[Point]:
    """Make and evaluate every point (``jobs`` at once), then write the table and plots."""
    from hwreg.sweep_report import write_report

    cfg.validate()
    out = Path(out).resolve()
    points = plan(cfg, out)
    pts = out / "points"
    done = {p.name for p in points if finished(p, pts / p.name, cfg.estimates)}
    board = cfg.board if cfg.estimates else None
    failed: list[str] = []
    for name in sorted(done):
        log(f"[skip] {name}: already finished")
    todo = [p for p in points if p.name not in done]
    running: dict[Future[str], Point] = {}
    spawn = multiprocessing.get_context("spawn")  # a fresh process per point (no forked torch)
    with ProcessPoolExecutor(max(1, jobs), mp_context=spawn, max_tasks_per_child=1) as pool:
        while todo or running:
            for p in [p for p in todo if p.depends is None or p.depends in done]:
                if len(running) >= max(1, jobs):
                    break
                todo.remove(p)
                running[pool.submit(make_point, p, pts, cfg.eval_pairs, board)] = p
            blocked = [p for p in todo if p.depends in failed]
            for p in blocked:
                todo.remove(p)
                failed.append(p.name)
                log(f"[skip] {p.name}: its starting point {p.depends} failed")
            if not running:
                break
            finished_now, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished_now:
                p = running.pop(fut)
                try:
                    fut.result()
                    done.add(p.name)
                    log(f"[{len(done)}/{len(points)}] {p.name} done")
                except Exception as exc:  # a failed point must not stop the others
                    failed.append(p.name)
                    (pts / f"{p.name}.log").write_text("".join(traceback.format_exception(exc)))
                    log(f"[fail] {p.name}: {type(exc).__name__}: {exc} (see {p.name}.log)")
    write_report(points, out, cfg)
    if failed:
        raise UserError(f"{len(failed)} of {len(points)} points failed: {', '.join(failed)}")
    return points
