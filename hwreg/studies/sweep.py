"""``hwreg sweep``: accuracy and size over a grid of bit widths x sparsities.

The points and how each is made are planned in :mod:`.sweep_plan`. Each point is made in a fresh
(spawned) process by the library, as ``hwreg train|prune`` would make it (:func:`hwreg.train.train`
or :func:`hwreg.prune.run_prune` of its :class:`~.sweep_plan.PruneSpec`), then evaluated as
``hwreg evaluate`` would on the same held-out pairs (the shared data split, ``eval_pairs`` at
most), each as soon as the point it starts from is done, by an :class:`~hwreg.executor.Executor`:
local processes (``jobs`` at once, the default) or Ray tasks that declare their resources (the
run's ``train.threads`` CPUs, at least 1, and a GPU when it trains on one). A point that fails is
reported with its error while the others go on. Point ``P``
lives in ``DIR/points/P`` (a run folder; a failure's traceback in ``DIR/points/P.log``); a
finished point (``model.pt``, written only when its run ends, and ``eval/metrics.json``) is
skipped on a re-run, an interrupted one resumes. The results are ``DIR/table.csv``,
``DIR/table.md``, ``DIR/dice_vs_bits.png`` and ``DIR/dice_vs_model_bits.png``
(:mod:`.sweep_report`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from hwreg.compile.boards import Board
from hwreg.errors import UserError
from hwreg.executor import Executor, Resources, describe_failure
from hwreg.run import Device
from hwreg.studies.sweep_plan import Point, SweepConfig, plan
from hwreg.studies.sweep_report import write_report

ESTIMATES = Path("build") / "report" / "estimate_network_performance.json"


def finished(point: Point, folder: Path, estimates: bool = False) -> bool:
    """A point whose training finished and whose evaluation (and estimates) are written."""
    wants_estimates = estimates and point.bits is not None
    return ((folder / "model.pt").exists() and (folder / "eval" / "metrics.json").exists()
            and (not wants_estimates or (folder / ESTIMATES).exists()))


def estimate_point(folder: Path, board: Board | str) -> Path:
    """FINN estimates of a quantized point: ``hwreg build --model FOLDER --out FOLDER/build``
    up to ``step_estimates`` on the run's grid; returns the network report's path."""
    from hwreg.checkpoint import load_model
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.steps import export_and_build

    model, cfg, _ = load_model(folder)
    grid = tuple(cfg.data.grid_shape)
    bcfg = BuildConfig(board=Board(board), grid_shape=grid)  # type: ignore[arg-type]
    export_and_build(model, bcfg, folder / "build", to_step="step_estimates")
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
               board: Board | None = None) -> str:
    """Make (or resume) and evaluate one point, and estimate it on ``board`` if given and it is
    quantized; runs in its own process. Returns its name."""
    from hwreg.prune import run_prune
    from hwreg.run import load_run_config
    from hwreg.train import train

    folder = pts / point.name
    if not (folder / "model.pt").exists():
        if point.train is not None:
            train(load_run_config(point.train), folder, progress=False)
        elif point.prune is not None:
            run_prune(point.prune.run_config(), folder, progress=False)
        else:
            raise ValueError(f"point {point.name} says neither train nor prune")
    if not (folder / "eval" / "metrics.json").exists():
        evaluate_point(folder, eval_pairs)
    if board is not None and point.bits is not None and not (folder / ESTIMATES).exists():
        estimate_point(folder, board)
    return point.name


def point_resources(cfg: SweepConfig, gpus: float) -> Resources:
    """What every point of ``cfg`` needs: its training threads (at least one CPU) and a GPU
    when it trains on CUDA (``device: cuda``, or ``auto`` where the executor has ``gpus``)."""
    tc = cfg.run.train
    on_gpu = tc.device == Device.cuda or (tc.device == Device.auto and gpus > 0)
    return Resources(cpus=max(1, tc.threads), gpus=1.0 if on_gpu else 0.0)


def run_sweep(cfg: SweepConfig, out: str | Path, jobs: int = 1,
              log: Callable[[str], None] = print, executor: Executor | None = None
              ) -> list[Point]:
    """Make and evaluate every point (by ``executor``; default: ``jobs`` local processes),
    then write the table and plots."""
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
    with executor or Executor(jobs) as ex:
        need = point_resources(cfg, ex.gpus())
        while todo or running:
            for p in [p for p in todo if p.depends is None or p.depends in done]:
                if len(running) >= ex.slots:
                    break
                todo.remove(p)
                running[ex.submit(make_point, p, pts, cfg.eval_pairs, board,
                                  resources=need)] = p
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
                    line, report = describe_failure(exc)
                    (pts / f"{p.name}.log").write_text(report)
                    log(f"[fail] {p.name}: {line} (see {p.name}.log)")
    write_report(points, out, cfg)
    if failed:
        raise UserError(f"{len(failed)} of {len(points)} points failed: {', '.join(failed)}")
    return points
