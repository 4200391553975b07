"""The sweep on Ray: a local instance (2 CPUs, no dashboard) runs a 2-point tiny sweep whose
second point fails; the failure is reported with its error, the other point finishes, the table
equals the local executor's, and a re-run resumes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from hwreg.config import to_dict
from hwreg.errors import UserError
from hwreg.executor import RayExecutor, Resources, describe_failure, make_executor
from hwreg.studies.sweep import point_resources, run_sweep
from hwreg.studies.sweep_plan import load_sweep_config
from tests.train.test_train import tiny_run_config

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # the workers import hwreg from this checkout (an installed hwreg needs nothing)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def two_point_sweep(root: Path, folder: Path, exclude: list[str]) -> Path:
    """float-s0 (trained) and float-s50 (pruned from it, leaving ``exclude`` dense)."""
    run = tiny_run_config(root, steps=2)
    run.train.threads = 1  # the same threads under both executors: the same numbers
    data = {"run": to_dict(run), "bits": ["float"], "sparsities": [0, 0.5], "float_steps": 2,
            "finetune_steps": 1, "eval_pairs": 2, "table1_sparsity": 0, "exclude": exclude}
    path = folder / f"sweep-{len(exclude)}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_ray_sweep_reports_a_failed_point_and_resumes(
        ibsr_dataset: Callable[..., Path], tmp_path: Path, local_ray: None) -> None:
    root = ibsr_dataset(n=5)
    bad = load_sweep_config(two_point_sweep(root, tmp_path, ["nope"]))
    out = tmp_path / "ray"
    lines: list[str] = []
    with pytest.raises(UserError, match="1 of 2 points failed: float-s50"):
        run_sweep(bad, out, log=lines.append, executor=RayExecutor())
    assert "[1/2] float-s0 done" in lines
    assert "[fail] float-s50: ConfigError: prune.exclude: no layer named 'nope' " \
           "(see float-s50.log)" in lines
    assert "ConfigError" in (out / "points" / "float-s50.log").read_text()
    assert (out / "points" / "float-s0" / "model.pt").exists()
    assert ray.is_initialized()  # the executor leaves the instance it found running
    # resume with the point fixed (its folder, made with the old settings, removed): the
    # finished point is skipped, the failed one is made
    good = load_sweep_config(two_point_sweep(root, tmp_path, []))
    shutil.rmtree(out / "points" / "float-s50")
    again: list[str] = []
    run_sweep(good, out, log=again.append, executor=RayExecutor())
    assert again == ["[skip] float-s0: already finished", "[2/2] float-s50 done"], again
    # the local executor makes the same table
    run_sweep(good, tmp_path / "local", log=lambda _: None)
    assert (out / "table.csv").read_text() == (tmp_path / "local" / "table.csv").read_text()
    assert (out / "table.md").read_text().replace(str(out), "") == \
        (tmp_path / "local" / "table.md").read_text().replace(str(tmp_path / "local"), "")


def test_point_resources_and_failure_lines() -> None:
    cfg = load_sweep_config(REPO / "configs" / "sweep_demo.yaml")
    cfg.run.train.device, cfg.run.train.threads = "auto", 0
    assert point_resources(cfg, gpus=0) == Resources(cpus=1, gpus=0)
    assert point_resources(cfg, gpus=4) == Resources(cpus=1, gpus=1)
    cfg.run.train.device, cfg.run.train.threads = "cpu", 3
    assert point_resources(cfg, gpus=4) == Resources(cpus=3, gpus=0)
    try:
        raise ValueError("bad point")
    except ValueError as exc:
        line, report = describe_failure(exc)
    assert line == "ValueError: bad point" and "Traceback" in report
    with pytest.raises(UserError, match="--address: only with --executor ray"):
        make_executor("local", address="auto")


@pytest.mark.slow
def test_ray_builds_several_boards(tmp_path: Path, local_ray: None) -> None:
    from hwreg.compile.boards import Board
    from hwreg.compile.config import BuildConfig
    from hwreg.studies.boards import build_boards

    lines: list[str] = []
    boards = [Board.pynq_z2, Board.kv260]
    results = build_boards("random:tiny:w4a4:h0", BuildConfig(), boards, tmp_path / "b",
                           grid=(8, 8, 8), to_step="step_tidy", executor=RayExecutor(),
                           log=lines.append)
    assert sorted(lines) == sorted(f"[done] {b.value}: {tmp_path / 'b' / b.value}"
                                   for b in boards)
    for board in boards:
        saved = yaml.safe_load((tmp_path / "b" / board.value / "build_config.yaml").read_text())
        assert saved["board"] == board.value
        assert (tmp_path / "b" / board.value / "export.onnx").is_file()
    assert results == {b: {} for b in boards}  # no estimates before step_estimates
