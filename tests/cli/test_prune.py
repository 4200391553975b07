"""``hwreg prune`` end to end, and its one-line user errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hwreg.cli import main
from hwreg.train import train
from tests.train.test_train import tiny_run_config


def test_prune_command_writes_run_folder(ibsr_dataset: Callable[..., Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = train(tiny_run_config(ibsr_dataset(n=5), steps=2, bits=4), tmp_path / "src",
                progress=False)
    run = tmp_path / "run"
    assert main(["prune", "--model", str(src), "--sparsity", "0.75", "--finetune-steps", "2",
                 "--out", str(run), "--quiet"]) == 0
    assert "pruned to" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final"]["step"] == 2 and metrics["sparsity"]["sparsity"] >= 0.75
    assert "| **all** |" in (run / "sparsity.md").read_text()
    # the same command again: nothing left to do, same model
    assert main(["prune", "--model", str(src), "--sparsity", "0.75", "--finetune-steps", "2",
                 "--out", str(run), "--quiet"]) == 0
    assert json.loads((run / "metrics.json").read_text())["final"] == metrics["final"]


def test_prune_command_user_errors(ibsr_dataset: Callable[..., Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = train(tiny_run_config(ibsr_dataset(n=5), steps=0), tmp_path / "src", progress=False)
    with pytest.raises(SystemExit) as refused:  # refused by the option's type, before loading
        main(["prune", "--model", str(src), "--sparsity", "1.5", "--out", str(tmp_path / "r")])
    assert refused.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "hwreg: error: argument --sparsity: expected a value >= 0 and < 1, got '1.5' "
        "(see 'hwreg prune --help')")
    assert main(["prune", "--model", str(src), "--sparsity", "0.5", "--stages", "0.7",
                 "--schedule", "iterative", "--out", str(tmp_path / "r")]) == 2
    assert "prune.stages: must increase up to prune.sparsity" in capsys.readouterr().err
    assert main(["prune", "--model", str(src), "--sparsity", "0.5", "--bits", "5", "--out",
                 str(tmp_path / "r")]) == 2
    assert "model.weight_bits: 5 is not one of" in capsys.readouterr().err


def test_prune_of_a_shipped_model_records_its_name(tmp_path: Path) -> None:
    from hwreg.prune import prune_config

    cfg = prune_config("demo-w4a4", 0.5, 2, data=tmp_path)
    assert cfg.train.init_from == "demo-w4a4"  # not a path into this install
    assert cfg.prune is not None and cfg.prune.source == "demo-w4a4"
