"""``hwreg build --board B1 B2 ...``: one model built for several boards at once.

Each board's build is ``hwreg build --board B --out OUT/B`` (:func:`build_board`), a job of an
:class:`~hwreg.executor.Executor` (local processes or Ray tasks, as the sweep's points). A board
whose build fails is reported with its error (the full report in ``OUT/B.log``) while the others
finish; ``from_step`` resumes every board's build from that step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

from hwreg.compile.boards import Board
from hwreg.compile.config import BuildConfig
from hwreg.errors import UserError
from hwreg.executor import Executor, Resources, describe_failure

PERF = Path("report") / "estimate_network_performance.json"


def build_board(spec: str, cfg: BuildConfig, out: Path, grid: tuple[int, int, int] | None,
                to_step: str | None = None, from_step: str | None = None,
                changes: dict[str, Any] | None = None, force: bool = False) -> dict[str, Any]:
    """``hwreg build`` of ``spec`` (model file, run folder, name or ``random:...``) with ``cfg``
    (and ``changes``) into ``out`` (``grid``: the input grid, default the model's), staged so
    that no partial build folder is left (an existing ``out`` only with ``force``);
    ``from_step`` resumes ``out``'s build (its saved config, ``cfg.board`` and ``changes``).
    Returns the network estimates (empty before ``step_estimates``)."""
    from hwreg.atomic import staged_dir
    from hwreg.checkpoint import load_model_spec
    from hwreg.compile.steps import export_and_build, resume_build
    from hwreg.config import replace_field

    changes = dict(changes or {})
    cfg = replace_field(cfg, **changes)
    if from_step:
        resume_build(out, from_step, to_step, board=cfg.board, **changes)
    else:
        model, found = load_model_spec(spec)
        shape = grid or found
        if shape is None:
            raise UserError("--grid D H W is needed (the model names no data.grid_shape)")
        with staged_dir(out, force) as stage:
            export_and_build(model, replace_field(cfg, grid_shape=tuple(shape)), stage, to_step)
    return json.loads((out / PERF).read_text()) if (out / PERF).is_file() else {}


def build_boards(spec: str, cfg: BuildConfig, boards: Sequence[Board], out: str | Path,
                 grid: tuple[int, int, int] | None = None, to_step: str | None = None,
                 from_step: str | None = None, changes: dict[str, Any] | None = None,
                 executor: Executor | None = None, log: Callable[[str], None] = print,
                 force: bool = False) -> dict[Board, dict[str, Any]]:
    """Build ``spec`` for every board into ``out/<board>`` (:func:`build_board`, by
    ``executor``; default: one local process at a time); returns each board's estimates.
    An existing board folder is refused before any build starts unless ``force``."""
    from hwreg.atomic import require_new_folder
    from hwreg.config import replace_field

    out = Path(out).resolve()
    if not from_step:
        for board in boards:
            require_new_folder(out / board.value, force)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[Board, dict[str, Any]] = {}
    failed: list[str] = []
    with executor or Executor(1) as ex:
        running: dict[Future[dict[str, Any]], Board] = {}
        for board in boards:
            job = (spec, replace_field(cfg, board=board), out / board.value, grid, to_step,
                   from_step, changes, force)
            running[ex.submit(build_board, *job, resources=Resources(cpus=1))] = board
        wait(running)
        for fut, board in running.items():
            try:
                results[board] = fut.result()
                log(f"[done] {board.value}: {out / board.value}")
            except Exception as exc:  # a failed board must not stop the others
                failed.append(board.value)
                line, report = describe_failure(exc)
                (out / f"{board.value}.log").write_text(report)
                log(f"[fail] {board.value}: {line} (see {out / board.value}.log)")
    if failed:
        raise UserError(f"{len(failed)} of {len(boards)} boards failed: {', '.join(failed)}")
    return results
