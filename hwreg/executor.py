"""Where independent jobs run (sweep points, board builds): local processes or Ray tasks.

An :class:`Executor` runs ``fn(*args)`` in a fresh process and returns a
:class:`concurrent.futures.Future`, so a caller waits on local and Ray jobs alike
(``concurrent.futures.wait``). ``fn`` must be importable by name (a module-level function of
:mod:`hwreg`) and its arguments picklable; a job reads and writes its files itself, so on a Ray
cluster every node needs hwreg installed and the output folder on a shared file system.

- ``local`` (the default): a pool of ``jobs`` spawned processes, one fresh process per job.
- ``ray``: every job is a Ray task (``pip install hwreg[ray]``) that declares its
  :class:`Resources` (CPUs; a GPU when it trains on one); ``address`` names a running cluster
  (``ray start --head`` prints it; ``auto`` finds one), else this process joins the Ray instance
  it already runs or starts a local one.

A job's failure is the exception its future raises; :func:`describe_failure` turns it into a line
and a full report (with the remote traceback) the same way for both executors.
"""

from __future__ import annotations

import enum
import multiprocessing
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from hwreg.errors import UserError


class ExecutorKind(enum.StrEnum):
    """Which engine runs the jobs."""

    local = "local"  #: a pool of local processes (``--jobs``)
    ray = "ray"  #: Ray tasks on a local instance or a cluster (``--address``)


@dataclass(frozen=True)
class Resources:
    """What one job needs (Ray schedules by it; the local pool runs ``jobs`` at once)."""

    cpus: float = 1.0
    gpus: float = 0.0


class Executor:
    """A local pool of spawned processes, one fresh process per job; the base of the others."""

    def __init__(self, jobs: int = 1) -> None:
        #: Jobs that may run at once (the caller submits no more).
        self.slots = max(1, jobs)
        spawn = multiprocessing.get_context("spawn")  # no forked torch
        self._pool = ProcessPoolExecutor(self.slots, mp_context=spawn, max_tasks_per_child=1)

    def submit(self, fn: Callable[..., Any], *args: Any,
               resources: Resources = Resources()) -> Future[Any]:
        """Run ``fn(*args)`` in a fresh process (``resources`` serve Ray only)."""
        return self._pool.submit(fn, *args)

    def gpus(self) -> float:
        """GPUs the jobs may ask for (none: the local pool shares this machine's)."""
        return 0.0

    def close(self) -> None:
        """Wait for the running jobs and free the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RayExecutor(Executor):
    """Every job a Ray task with its own :class:`Resources`, in a fresh worker process."""

    def __init__(self, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray: Ray is not installed (pip install 'hwreg[ray]')"
                            ) from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except ConnectionError as exc:
                raise UserError(f"--address {address}: no Ray cluster there ({exc})") from None
        self.slots = 1 << 30  # Ray queues what the cluster cannot run yet

    def submit(self, fn: Callable[..., Any], *args: Any,
               resources: Resources = Resources()) -> Future[Any]:
        """Run ``fn(*args)`` as a Ray task that needs ``resources``."""
        # a fresh worker process per job (max_calls=1), like the local pool; no retries
        task = self._ray.remote(max_calls=1, max_retries=0)(fn).options(
            num_cpus=resources.cpus, num_gpus=resources.gpus)
        return task.remote(*args).future()

    def gpus(self) -> float:
        """GPUs in the cluster."""
        return float(self._ray.cluster_resources().get("GPU", 0.0))

    def close(self) -> None:
        """Stop the Ray instance this executor started (one it found running stays)."""
        if self._started:
            self._ray.shutdown()


def make_executor(kind: ExecutorKind | str = ExecutorKind.local, jobs: int = 1,
                  address: str | None = None) -> Executor:
    """The executor of a ``--executor KIND [--address ADDR] [--jobs N]`` choice."""
    kind = ExecutorKind(kind)
    if kind == ExecutorKind.local:
        if address is not None:
            raise UserError("--address: only with --executor ray")
        return Executor(jobs)
    return RayExecutor(address)


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """A failed job's ``Type: message`` line and its full report (with the remote traceback)."""
    report = "".join(traceback.format_exception(exc))
    cause = getattr(exc, "cause", None)  # Ray's RayTaskError wraps the job's own exception
    if isinstance(cause, BaseException):
        report, exc = str(exc), cause  # its text holds the worker's traceback
    return f"{type(exc).__name__}: {exc}", report
