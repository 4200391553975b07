"""``hwreg average``: the uniform weight average of models from one start, and its refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hwreg.average import average_models, average_state
from hwreg.checkpoint import load_for_inference, load_model, read_model_file
from hwreg.cli import main
from hwreg.errors import UserError
from hwreg.inference import InferenceNet
from hwreg.train import train
from tests.train.test_train import tiny_run_config


def test_average_state_means_floats_and_keeps_equal_integers() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor([3])}
    b = {"w": torch.tensor([2.0, 5.0]), "n": torch.tensor([3])}
    out = average_state([a, b], ["a", "b"])
    assert torch.equal(out["w"], torch.tensor([1.5, 3.5])) and out["w"].dtype == torch.float32
    assert torch.equal(out["n"], torch.tensor([3]))
    with pytest.raises(UserError, match=r"^b: integer tensor 'n' differs"):
        average_state([a, {**b, "n": torch.tensor([4])}], ["a", "b"])
    with pytest.raises(UserError, match=r"^b: its weights are not those of a"):
        average_state([a, {"w": b["w"]}], ["a", "b"])


@pytest.mark.parametrize("bits", [None, 4], ids=["float", "w4a4"])
def test_average_of_two_runs(ibsr_dataset: Callable[..., Path], tmp_path: Path,
                             bits: int | None) -> None:
    root = ibsr_dataset(n=5)
    runs = []
    for seed in (1, 2):
        cfg = tiny_run_config(root, steps=2, bits=bits)
        cfg.train.seed = seed
        runs.append(train(cfg, tmp_path / f"run{seed}", progress=False))
    path = average_models(runs, tmp_path / "avg", progress=False)
    states = [read_model_file(r)["state_dict"] for r in runs]
    ckpt = read_model_file(path)
    for key, value in ckpt["state_dict"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (states[0][key] + states[1][key]) / 2)
    assert ckpt["average"] == {"sources": [str(r) for r in runs], "steps": [2, 2]}
    assert ckpt["metrics"]["final"]["pairs"] == 2
    model, _, _ = load_model(tmp_path / "avg")  # loads as any model
    assert sum(p.numel() for p in model.parameters()) > 0
    fast, _, _ = load_for_inference(tmp_path / "avg")  # with the average's inference form
    assert isinstance(fast, InferenceNet) == (bits is not None)
    x = torch.rand(1, 1, 8, 8, 8)
    assert torch.equal(fast(x, x.flip(1)), model(x, x.flip(1)))
    # refused: an existing output without --force, a single model, another architecture
    with pytest.raises(UserError, match="exists"):
        average_models(runs, tmp_path / "avg", progress=False)
    with pytest.raises(UserError, match="at least two"):
        average_models(runs[:1], tmp_path / "one", progress=False)
    other = train(tiny_run_config(root, steps=2, bits=8 if bits else 4), tmp_path / "other",
                  progress=False)
    with pytest.raises(UserError, match="another architecture or bit width"):
        average_models([runs[0], other], tmp_path / "mixed", progress=False)
    assert not (tmp_path / "mixed").exists()


def test_average_command(ibsr_dataset: Callable[..., Path], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    root = ibsr_dataset(n=5)
    runs = [str(train(tiny_run_config(root, steps=2), tmp_path / f"r{i}", progress=False))
            for i in range(2)]
    assert main(["average", "--models", *runs, "--out", str(tmp_path / "avg"), "--quiet"]) == 0
    assert "averaged 2 models: held-out Dice" in capsys.readouterr().out
    assert main(["average", "--models", *runs, "--out", str(tmp_path / "avg")]) == 2
    assert "exists" in capsys.readouterr().err
