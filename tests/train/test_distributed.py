"""Data-parallel training: pair streams, 2 gloo CPU ranks under torchrun vs one process, resume
after a kill on another number of ranks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import yaml

from hwreg.checkpoint import read_model_file
from hwreg.config import to_dict
from hwreg.data.datasets import Batch
from hwreg.distributed import PairStreams, Ranks, torchrun_command
from hwreg.errors import UserError
from hwreg.run import RunConfig
from hwreg.train import train
from tests.train.test_train import tiny_run_config

REPO = Path(__file__).resolve().parents[2]


def numbered_pairs(size: int, rng: np.random.Generator) -> Iterator[Batch]:
    """Batches whose images are random numbers from ``rng`` (one per pair)."""
    while True:
        x = rng.random(size).astype(np.float32)[:, None, None, None, None]
        yield Batch(x, x, x, x, np.zeros((size, 1)))


def test_pair_streams_split_the_global_batch_between_ranks() -> None:
    one = PairStreams(numbered_pairs, 4, seed=3, ranks=Ranks(), streams=1)
    legacy = numbered_pairs(4, np.random.default_rng(3))  # one stream: as before streams existed
    assert np.array_equal(next(one).fixed_image, next(legacy).fixed_image)
    single = PairStreams(numbered_pairs, 4, seed=3, ranks=Ranks(), streams=2)
    r0, r1 = (PairStreams(numbered_pairs, 4, seed=3, ranks=Ranks(r, 2), streams=2)
              for r in (0, 1))
    for _ in range(3):
        a, b = next(r0).fixed_image, next(r1).fixed_image
        assert a.shape[0] == b.shape[0] == 2 and not np.array_equal(a, b)  # different pairs
        assert np.array_equal(next(single).fixed_image, np.concatenate([a, b]))
    # resumed on one rank from the two ranks' states: the same batches go on
    states = [r0.local_states()[0], r1.local_states()[1]]
    resumed = PairStreams(numbered_pairs, 4, seed=3, ranks=Ranks(), streams=1, saved=states)
    assert resumed.count == 2 and not resumed.reseeded
    assert np.array_equal(next(resumed).fixed_image, next(single).fixed_image)
    # 3 ranks cannot share 2 streams: fresh ones, seeded by the step
    moved = PairStreams(numbered_pairs, 6, seed=3, ranks=Ranks(0, 3), streams=3, saved=states,
                        step=7)
    assert moved.reseeded and moved.count == 3
    with pytest.raises(UserError, match="multiple of the number of ranks"):
        PairStreams(numbered_pairs, 3, seed=3, ranks=Ranks(0, 2), streams=2)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hwreg", *args]


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _config(cfg: RunConfig, folder: Path) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path


def _two_rank_config(ibsr_dataset: Callable[..., Path], steps: int) -> RunConfig:
    # 4 mm voxels along x: the subjects' 1-voxel shifts survive the 2 mm grid (a real loss)
    cfg = tiny_run_config(ibsr_dataset(n=5, affine=np.diag([4.0, 1.5, 1.0, 1.0])), steps=steps)
    cfg.train.threads, cfg.train.eval_every = 1, 1000
    return cfg


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(ibsr_dataset: Callable[..., Path],
                                          tmp_path: Path) -> None:
    """``hwreg train --nproc 2`` (torchrun, gloo) follows the loss curve of one process that
    draws the same global batches (the same 2 pair streams)."""
    cfg = _two_rank_config(ibsr_dataset, steps=4)
    one = read_model_file(train(cfg, tmp_path / "one", progress=False, streams=2))
    done = subprocess.run(_cli("train", "--nproc", "2", "--quiet", "--config",
                               str(_config(cfg, tmp_path)), "--out", str(tmp_path / "two")),
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    two = read_model_file(tmp_path / "two" / "model.pt")
    loss1, loss2 = one["metrics"]["train_loss"], two["metrics"]["train_loss"]
    assert len(loss1) == len(loss2) == 4 and max(loss1) > 0.01 and loss1[0] != loss1[-1]
    np.testing.assert_allclose(loss2, loss1, rtol=1e-4)
    for key, value in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][key], value, rtol=1e-3, atol=1e-5)
    assert (tmp_path / "two" / "checkpoint.pt").exists()
    assert read_model_file(tmp_path / "two" / "checkpoint.pt")["rng"][1] != \
        read_model_file(tmp_path / "two" / "checkpoint.pt")["rng"][0]
    assert not list((tmp_path / "two").glob(".tmp-*"))  # atomic writes leave no temp file


@pytest.mark.slow
def test_two_rank_run_resumes_after_a_kill(ibsr_dataset: Callable[..., Path],
                                           tmp_path: Path) -> None:
    """Killed after a checkpoint, a 2-rank run resumes on 1 rank (its 2 pair streams kept) and
    ends where an uninterrupted one-process run with those streams ends."""
    cfg = _two_rank_config(ibsr_dataset, steps=100000)
    cfg.train.checkpoint_every = 3
    run = tmp_path / "run"
    cfg_path = _config(cfg, tmp_path)
    proc = subprocess.Popen(_cli("train", "--nproc", "2", "--quiet", "--config", str(cfg_path),
                                 "--out", str(run)), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint.pt").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it was killed"
    # kill -9 the ranks (torchrun starts each in a session of its own), torchrun, the launcher
    for p in reversed([launcher := psutil.Process(proc.pid), *launcher.children(recursive=True)]):
        p.kill()
    proc.wait()
    assert not (run / "model.pt").exists()
    killed_at = read_model_file(run / "checkpoint.pt")["step"]
    assert killed_at % 3 == 0 and killed_at > 0
    target = killed_at + 2
    done = subprocess.run(_cli("train", "--nproc", "1", "--quiet", "--steps", str(target),
                               "--config", str(cfg_path), "--out", str(run)),
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = read_model_file(run / "model.pt")
    assert resumed["step"] == target
    cfg.train.steps = target
    straight = read_model_file(train(cfg, tmp_path / "straight", progress=False, streams=2))
    np.testing.assert_allclose(resumed["metrics"]["train_loss"],
                               straight["metrics"]["train_loss"], rtol=1e-4)
    for key, value in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, rtol=1e-3, atol=1e-5)


def test_nproc_refuses_a_batch_the_ranks_cannot_share(ibsr_dataset: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    cfg = tiny_run_config(ibsr_dataset(n=5), steps=2)
    cfg.train.batch_size = 3
    done = subprocess.run(_cli("train", "--nproc", "2", "--config", str(_config(cfg, tmp_path)),
                               "--out", str(tmp_path / "run")),
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip() == ("hwreg: error: train.batch_size 3: must be a multiple of the "
                                   "number of processes (2)")
    assert not (tmp_path / "run").exists()
    assert torchrun_command(2, ["train"])[-4:] == ["2", "-m", "hwreg", "train"]
