"""Kill safety with real SIGKILL: ``hwreg train`` (float and W4A4), ``prune``, ``sweep`` and
``build`` are killed in a subprocess at a random point; no output file is ever partial or
unloadable, and the same command then finishes with the same result as an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from hwreg.atomic import TMP_PREFIX
from hwreg.checkpoint import read_model_file
from tests.conftest import blob_subject, write_nifti

pytestmark = pytest.mark.slow


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hwreg.cli", *args]


def _run(args: list[str]) -> None:
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-2000:]


def _kill_when(args: list[str], ready: Callable[[], bool], seed: int,
               timeout_s: float = 900, max_delay_s: float = 0.4) -> bool:
    """Start ``args``, SIGKILL it a random 0-``max_delay_s`` s after ``ready()`` holds; True if
    killed before it finished by itself."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while proc.poll() is None and not ready():
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(args)
            time.sleep(0.05)
        time.sleep(random.Random(seed).uniform(0, max_delay_s))
        if proc.poll() is not None:
            return False
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _check_files(files: Iterable[Path]) -> None:
    """Every file a killed command left is complete: temp files aside, each one loads."""
    for f in files:
        if f.is_dir() or f.name.startswith(TMP_PREFIX):
            continue
        if f.suffix == ".pt":
            read_model_file(f)
        elif f.suffix == ".json":
            json.loads(f.read_text())
        elif f.suffix == ".yaml":
            assert isinstance(yaml.safe_load(f.read_text()), dict)


def _check_run_folder(run: Path) -> None:
    """A killed run's folder: every file loads, and no model.pt marks it finished."""
    _check_files(run.iterdir())
    assert not (run / "model.pt").exists(), "a killed run left a model.pt"


def _write_dataset(root: Path, subjects: int, seed: int) -> Path:
    """A tiny IBSR-layout dataset of ``subjects`` blob subjects."""
    rng = np.random.default_rng(seed)
    for i in range(subjects):
        sid = f"IBSR_{i + 1:02d}"
        img, lab = blob_subject((16, 12, 16), i % 2, rng)
        write_nifti(root / sid / f"{sid}_ana_strip.nii.gz", img)
        write_nifti(root / sid / f"{sid}_seg_ana.nii.gz", lab)
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_dataset(tmp_path_factory.mktemp("kill") / "data", 4, 0)


def _config(path: Path, data: Path, bits: int | None) -> Path:
    cfg = {"data": {"root": str(data), "grid_shape": [8, 8, 8], "grid_spacing": 2.0,
                    "n_train": 2, "n_test": 2, "label_ids": [2, 41]},
           "model": {"preset": "tiny", "weight_bits": bits, "act_bits": bits},
           "train": {"steps": 60, "batch_size": 1, "eval_every": 30, "eval_pairs": 2,
                     "checkpoint_every": 1, "device": "cpu", "threads": 1}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_model_file(path)["state_dict"]


def _same(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("bits", [None, 4], ids=["float", "w4a4"])
def test_train_killed_twice_resumes_to_the_same_weights(tmp_path: Path, dataset: Path,
                                                        bits: int | None) -> None:
    cfg = _config(tmp_path / "cfg.yaml", dataset, bits)
    _run(_cli("train", "--config", str(cfg), "--out", str(tmp_path / "ref"), "--quiet"))
    run = tmp_path / "run"
    args = _cli("train", "--config", str(cfg), "--out", str(run), "--quiet")
    for seed, step in ((1, 2), (2, 12)):  # of 60 steps; a step takes ~30 ms on 2 cores

        def ready(step: int = step) -> bool:
            try:
                return read_model_file(run / "checkpoint.pt")["step"] >= step
            except Exception:  # not there yet (or being replaced)
                return False

        assert _kill_when(args, ready, seed, max_delay_s=0.1), "the run ended before the kill"
        _check_run_folder(run)
    _run(args)
    _same(run / "model.pt", tmp_path / "ref" / "model.pt")


def test_prune_killed_resumes_to_the_same_weights(tmp_path: Path, dataset: Path) -> None:
    cfg = _config(tmp_path / "cfg.yaml", dataset, None)
    src = tmp_path / "src"
    _run(_cli("train", "--config", str(cfg), "--out", str(src), "--quiet", "--steps", "2"))
    prune = ["prune", "--model", str(src), "--sparsity", "0.5", "--finetune-steps", "40",
             "--quiet"]  # long enough that the kill lands before the end
    _run(_cli(*prune, "--out", str(tmp_path / "ref")))
    run = tmp_path / "run"
    args = _cli(*prune, "--out", str(run))
    assert _kill_when(args, lambda: (run / "checkpoint.pt").exists(), 3)
    _check_run_folder(run)
    _run(args)
    _same(run / "model.pt", tmp_path / "ref" / "model.pt")
    sparsity = json.loads((run / "sparsity.json").read_text())
    assert sparsity == json.loads((tmp_path / "ref" / "sparsity.json").read_text())


def _numbers(obj: Any) -> Any:
    """``obj`` without its strings inside lists (FINN names a build's fork tensors at random,
    and the skip rows of the estimates carry those names)."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj if not isinstance(v, str)]
    return obj


def test_build_killed_leaves_no_build_folder(tmp_path: Path) -> None:
    args = ["build", "--model", "random:tiny:w4a4:h0", "--grid", "8", "8", "8", "--target-fps",
            "1000", "--to-step", "step_estimates"]
    _run(_cli(*args, "--out", str(tmp_path / "ref")))
    out = tmp_path / "b"

    def staging() -> bool:  # the build is under way in its staging folder
        return any(p.name.startswith(f".b{TMP_PREFIX}") and (p / "export.onnx").exists()
                   for p in tmp_path.iterdir())

    assert _kill_when(_cli(*args, "--out", str(out)), staging, 4)
    assert not out.exists(), "a killed build left a (partial) build folder"
    _run(_cli(*args, "--out", str(out)))
    for rel in ("folding_config.json", "report/estimate_network_performance.json"):
        got, want = (_numbers(json.loads((d / rel).read_text())) for d in (out, tmp_path / "ref"))
        assert got == want


def test_sweep_killed_resumes_to_the_same_table(tmp_path: Path) -> None:
    """The whole sweep (its process group: the main process and its point workers, as a power
    cut or a stopped session takes them) is killed mid-way; the same command finishes it to the
    table of an uninterrupted sweep."""
    from hwreg.config import to_dict
    from tests.train.test_train import tiny_run_config

    run_cfg = tiny_run_config(_write_dataset(tmp_path / "data", 5, 1), steps=2)
    run_cfg.train.threads = 1
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({
        "run": to_dict(run_cfg), "bits": ["float", 4], "sparsities": [0, 0.5],
        "float_steps": 20, "quant_steps": 20, "finetune_steps": 20, "eval_pairs": 2,
        "table1_sparsity": 0.5, "table1_bits": 4}))
    _run(_cli("sweep", "--config", str(cfg), "--out", str(tmp_path / "ref")))
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli("sweep", "--config", str(cfg), "--out", str(out)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:  # the first point is done: the kill lands while a later point trains
        t0 = time.monotonic()
        while not (out / "points" / "float-s0" / "eval" / "metrics.json").exists():
            assert proc.poll() is None, "the sweep ended before the kill"
            assert time.monotonic() - t0 < 900
            time.sleep(0.05)
        time.sleep(random.Random(5).uniform(0, 1.0))
        assert proc.poll() is None, "the sweep ended before the kill"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "table.csv").exists(), "a killed sweep left its table"
    _check_files((out / "points").rglob("*"))
    _run(_cli("sweep", "--config", str(cfg), "--out", str(out)))
    assert (out / "table.csv").read_text() == (tmp_path / "ref" / "table.csv").read_text()

