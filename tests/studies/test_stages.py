"""The stage scheduler of `hwreg demo` (hwreg.studies.stages), on tiny stages in real processes."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hwreg.atomic import require_absent
from hwreg.errors import UserError
from hwreg.studies.stages import Stage, check_stages, run_stages


def _write(path: Path, text: str) -> None:
    path.write_text(f"{text} {os.getpid()}")


def _copy(src: Path, dst: Path) -> None:
    """Fails (FileNotFoundError) unless ``src`` was written first."""
    dst.write_text(src.read_text())


def _wait_for(path: Path, mark: Path) -> None:
    """Writes ``mark`` once another stage has written ``path`` (so both ran at once)."""
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)
    mark.write_text("met")


def _sleep_then_write(path: Path) -> None:
    time.sleep(60)
    path.write_text("should have been ended")


def _start_grandchild(pid_file: Path) -> None:
    """Starts a process of its own (as the sweep stage does), records its pid, waits for it."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    pid_file.write_text(str(proc.pid))
    proc.wait()


def _fail_once(path: Path) -> None:
    """Raises UserError once ``path`` exists."""
    _wait_for(path, path.with_suffix(".seen"))
    raise UserError(f"{path}: bad input")


def test_dependencies_order_and_two_stages_run_at_once(tmp_path: Path) -> None:
    call = functools.partial
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    stages = [Stage("waits for b", call(_wait_for, b, tmp_path / "met")),
              Stage("writes b", call(_write, b, "b")),
              Stage("writes a", call(_write, a, "a")),
              Stage("copies a", call(_copy, a, c), after=("writes a",)),
              Stage("two cores", call(_write, tmp_path / "wide", "w"), cpus=2)]
    lines: list[str] = []
    timings = run_stages(stages, jobs=2, log=lines.append)
    assert (tmp_path / "met").read_text() == "met"  # the first stage saw the second's file
    assert c.read_text() == a.read_text()
    assert set(timings) == {s.name for s in stages} and min(timings.values()) >= 0
    assert lines[:2] == ["== waits for b", "== writes b"]
    started = [ln for ln in lines if ln.startswith("== ")]
    assert started.index("== copies a") > started.index("== writes a")
    assert started[-1] == "== two cores"  # it waits until both cores are free
    pids = {p.read_text().split()[-1] for p in (a, b)}
    assert str(os.getpid()) not in pids  # in worker processes, not here


def test_one_job_runs_in_order_in_this_process(tmp_path: Path) -> None:
    a, c = tmp_path / "a", tmp_path / "c"
    lines: list[str] = []
    timings = run_stages([Stage("writes a", functools.partial(_write, a, "a")),
                          Stage("copies a", functools.partial(_copy, a, c), after=("writes a",))],
                         jobs=1, log=lines.append)
    assert lines == ["== writes a", "== copies a"] and list(timings) == ["writes a", "copies a"]
    assert a.read_text() == f"a {os.getpid()}" == c.read_text()


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_stage_stops_the_run_with_one_line(tmp_path: Path, jobs: int) -> None:
    exists = tmp_path / "exists"
    exists.write_text("x")
    slow = tmp_path / "slow"
    stages = [Stage("slow", functools.partial(_sleep_then_write, slow)),
              Stage("bad input", functools.partial(require_absent, [exists], False)),
              Stage("never", functools.partial(_write, tmp_path / "never", "n"),
                    after=("bad input",))]
    t0 = time.monotonic()
    with pytest.raises(UserError, match=r"^demo stage 'bad input' failed: .*exists; pass "
                                        r"--force") as err:
        run_stages(stages[1:] if jobs == 1 else stages, jobs=jobs, log=lambda _: None)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "never").exists()
    if jobs == 2:  # the running stage was ended, not waited for
        assert time.monotonic() - t0 < 50 and not slow.exists()


def test_an_internal_error_keeps_its_type(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError):
        run_stages([Stage("copy", functools.partial(_copy, missing, tmp_path / "c"))], jobs=2,
                   log=lambda _: None)


def test_bad_stage_lists_are_refused() -> None:
    def noop() -> None:
        pass

    with pytest.raises(ValueError, match="two stages are named 'x'"):
        check_stages([Stage("x", noop), Stage("x", noop)])
    with pytest.raises(ValueError, match=r"'y' comes after \['z'\]"):
        check_stages([Stage("y", noop, after=("z",)), Stage("z", noop)])


def test_a_failure_ends_the_processes_a_running_stage_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    stages = [Stage("starts a process", functools.partial(_start_grandchild, pid_file)),
              Stage("fails", functools.partial(_fail_once, pid_file))]
    with pytest.raises(UserError, match=r"stage 'fails' failed: .*bad input"):
        run_stages(stages, jobs=2, log=lambda _: None)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"process {pid}, started by the running stage, still runs")
