"""Running a study's stages: in list order in this process, or by dependency on ``jobs`` cores.

A :class:`Stage` is a name, a call, the stages it needs first (``after``) and the cores it keeps
busy (``cpus``). :func:`run_stages` with ``jobs`` 1 runs the stages one after the other in this
process. With more, they run in a pool of ``jobs`` spawned worker processes (one torch thread
each, so two stages on two cores do not fight over them): whenever cores are free, the first
ready stages in list order that fit start (list order is priority: put the longest chain first);
a stage that needs more cores than are free waits while smaller ready ones go ahead. The first
failure stops the run: stages not yet started are dropped and running ones are ended.

The calls must be picklable (module-level functions, ``functools.partial`` of them, paths) and
write their own files; what they print goes to the same terminal, interleaved.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from hwreg.errors import UserError


@dataclass(frozen=True)
class Stage:
    """One stage: its name (log, timings), the call it makes, what it needs, its cores."""

    name: str
    run: Callable[[], object]
    #: Names of the stages that must have finished first.
    after: tuple[str, ...] = ()
    #: Cores it keeps busy (a stage that runs its own pool of processes: more than 1).
    cpus: int = 1


def check_stages(stages: Sequence[Stage]) -> None:
    """Refuse duplicate names and ``after`` names that are not earlier stages (no cycles)."""
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise ValueError(f"two stages are named {stage.name!r}")
        missing = [a for a in stage.after if a not in seen]
        if missing:
            raise ValueError(f"stage {stage.name!r} comes after {missing}, which are not "
                             "earlier stages")
        seen.add(stage.name)


def _worker_setup() -> None:
    """Worker set-up: one torch thread per stage (the pool's processes share the cores); the
    warnings the ``hwreg`` command drops, dropped here too; Ctrl-C left to the parent, which
    ends the workers (:func:`_end_workers`)."""
    import signal

    import torch

    from hwreg.tool_messages import ignore_known_warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    ignore_known_warnings()


def _end_workers() -> None:
    """End this process's children and everything they started (a sweep's own processes,
    Verilator and FINN tools)."""
    import psutil

    for child in multiprocessing.active_children():
        try:
            tree = psutil.Process(child.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        child.terminate()


def _timed(run: Callable[[], object]) -> float:
    """Run one stage in a worker; its seconds."""
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def _failed(stage: Stage, exc: UserError, what: str) -> UserError:
    """The one-line error of a stage that failed on bad input, naming the stage."""
    return UserError(f"{what} stage '{stage.name}' failed: {exc}")


def run_stages(stages: Sequence[Stage], jobs: int = 1, log: Callable[[str], None] = print,
               what: str = "demo") -> dict[str, float]:
    """Run ``stages`` (see the module docstring); returns each stage's seconds, by name.
    ``what`` names the study in a failed stage's error."""
    check_stages(stages)
    timings: dict[str, float] = {}
    if jobs <= 1:
        for stage in stages:
            log(f"== {stage.name}")
            try:
                timings[stage.name] = _timed(stage.run)
            except UserError as exc:
                raise _failed(stage, exc, what) from None
        return timings
    pending = list(stages)
    running: dict[Future[float], Stage] = {}
    spawn = multiprocessing.get_context("spawn")  # no forked torch
    pool = ProcessPoolExecutor(jobs, mp_context=spawn, initializer=_worker_setup)
    try:
        while pending or running:
            free = jobs - sum(min(s.cpus, jobs) for s in running.values())
            for stage in [s for s in pending if all(a in timings for a in s.after)]:
                if min(stage.cpus, jobs) <= free:
                    free -= min(stage.cpus, jobs)
                    pending.remove(stage)
                    log(f"== {stage.name}")
                    running[pool.submit(_timed, stage.run)] = stage
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                stage = running.pop(future)
                exc = future.exception()
                if isinstance(exc, UserError):
                    raise _failed(stage, exc, what) from None
                if exc is not None:
                    raise exc
                timings[stage.name] = future.result()
                log(f"   {stage.name}: done in {timings[stage.name]:.0f} s")
    except BaseException:  # a failed stage, Ctrl-C: end the stages still running
        pool.shutdown(wait=False, cancel_futures=True)
        _end_workers()
        raise
    pool.shutdown(wait=True)
    return timings
