"""Pruning: exact global sparsity, masks held through fine-tuning and quantization, export."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hwreg.checkpoint import load_model, read_model_file
from hwreg.compress import (
    PruneConfig,
    Pruner,
    Schedule,
    global_magnitude_masks,
    integer_weights,
    prunable,
    sparsity_report,
)
from hwreg.config import from_dict, to_dict
from hwreg.errors import ConfigError
from hwreg.model import ModelConfig, build_model
from hwreg.prune import prune_config, run_prune
from hwreg.train import train
from tests.train.test_train import tiny_run_config


@pytest.fixture(params=[None, 4, 2], ids=["float", "w4a4", "w2a2"])
def bits(request: pytest.FixtureRequest) -> int | None:
    return request.param


def test_exact_global_sparsity_and_smallest_weights(bits: int | None) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset="tiny", weight_bits=bits, act_bits=bits))
    layers = prunable(model)
    n = sum(m.weight.numel() for m in layers.values())
    for sparsity in (0.0, 0.25, 0.5, 0.75):
        masks = global_magnitude_masks(layers, sparsity)
        assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * n)
    masks = global_magnitude_masks(layers, 0.5)
    kept = torch.cat([m.weight.abs()[masks[k]] for k, m in layers.items()])
    pruned = torch.cat([m.weight.abs()[~masks[k]] for k, m in layers.items()])
    assert pruned.max() <= kept.min()  # global, not per layer


def test_hand_computed_masks() -> None:
    model = build_model(ModelConfig(preset="tiny"))
    layers = prunable(model)
    with torch.no_grad():
        for i, m in enumerate(layers.values()):
            m.weight.copy_(torch.arange(m.weight.numel()).view_as(m.weight) + 1000.0 * i)
    masks = global_magnitude_masks(layers, 0.04)
    first = next(iter(layers.values()))
    k = round(0.04 * sum(m.weight.numel() for m in layers.values()))
    assert k < first.weight.numel()
    assert torch.equal(masks["enc.0"].flatten(), torch.arange(first.weight.numel()) >= k)
    assert all(bool(m.all()) for name, m in masks.items() if name != "enc.0")


def test_exclude_and_schedule_config_round_trip() -> None:
    cfg = PruneConfig(sparsity=0.5, schedule=Schedule.iterative, stages=[0.25], exclude=["head"])
    assert from_dict(PruneConfig, to_dict(cfg)) == cfg
    pruner = Pruner(cfg, total_steps=4)
    assert [pruner.target(s) for s in range(5)] == [0.25, 0.25, 0.5, 0.5, 0.5]
    model = build_model(ModelConfig(preset="tiny"))
    pruner(model, 4)
    assert int((model.head.weight == 0).sum()) == 0
    with pytest.raises(ConfigError, match=re.escape(
            "prune.stages: must increase up to prune.sparsity, got [0.5, 0.25]")):
        PruneConfig(sparsity=0.25, schedule=Schedule.iterative, stages=[0.5]).validate()
    with pytest.raises(ConfigError, match="no layer named 'nope'"):
        prunable(model, ["nope"])


def test_quantized_zero_stays_integer_zero() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset="tiny", weight_bits=4, act_bits=4))
    pruner = Pruner(PruneConfig(sparsity=0.5), total_steps=0)
    pruner(model, 0)
    assert pruner.masks is not None
    for name, m in prunable(model).items():
        codes, b = integer_weights(m)
        assert b == (8 if name in ("enc.0", "head") else 4)
        assert bool((codes[~pruner.masks[name]] == 0).all())


@pytest.mark.parametrize("schedule", ["oneshot", "iterative"])
def test_masks_survive_finetuning_and_export_is_identical(
        ibsr_dataset: Callable[..., Path], tmp_path: Path, bits: int | None,
        schedule: str) -> None:
    root = ibsr_dataset(n=5)
    src = train(tiny_run_config(root, steps=2, bits=bits), tmp_path / "src", progress=False)
    cfg = prune_config(src, 0.5, finetune_steps=4, schedule=Schedule(schedule))
    seen: list[dict[str, torch.Tensor]] = []
    import hwreg.prune as prune_mod

    class Spy(Pruner):
        def __call__(self, model: torch.nn.Module, step: int) -> None:
            super().__call__(model, step)
            assert self.masks is not None
            for name, m in prunable(model).items():  # exactly zero after every step
                assert bool((m.weight[~self.masks[name]] == 0).all())
                assert bool((integer_weights(m)[0][~self.masks[name]] == 0).all())
            seen.append({k: v.clone() for k, v in self.masks.items()})

    original = prune_mod.Pruner
    prune_mod.Pruner = Spy  # type: ignore[misc]
    try:
        path = run_prune(cfg, tmp_path / "run", progress=False)
    finally:
        prune_mod.Pruner = original  # type: ignore[misc]
    assert len(seen) == 5  # before the first step and after each of 4
    final = seen[-1]
    for masks in seen[2:]:  # the last stage's masks hold to the end
        assert all(torch.equal(masks[k], final[k]) for k in final)
    ckpt = read_model_file(path)
    assert not any("mask" in k for k in ckpt["state_dict"])  # masks are not in the model file
    model, loaded, _ = load_model(tmp_path / "run")
    n = sum(int(v.numel()) for v in final.values())
    report = sparsity_report(model)
    assert sum(int((~v).sum()) for v in final.values()) == n // 2
    assert report["weights"] == n and report["zeros"] >= n // 2
    assert loaded.prune is not None and loaded.prune.sparsity == 0.5
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "model.pt", "metrics.json",
                                               "sparsity.json", "sparsity.md"}
    assert ckpt["metrics"]["sparsity"]["zeros"] == report["zeros"]
    # the pruned model outside training: same outputs from the file as in memory
    trained = build_model(loaded.model)
    trained.load_state_dict(ckpt["state_dict"])
    trained.eval()
    x = torch.rand(1, 1, 8, 8, 8)
    assert torch.equal(model(x, x.flip(2)), trained(x, x.flip(2)))


def test_prune_float_then_quantize_keeps_mask(ibsr_dataset: Callable[..., Path],
                                              tmp_path: Path) -> None:
    root = ibsr_dataset(n=5)
    src = train(tiny_run_config(root, steps=2), tmp_path / "src", progress=False)
    pruned = run_prune(prune_config(src, 0.25, 0), tmp_path / "p", progress=False)
    fp = load_model(pruned)[0]
    quant = run_prune(prune_config(pruned, 0.25, 2, bits=4), tmp_path / "q", progress=False)
    qm, qcfg, _ = load_model(quant)
    assert qcfg.model.weight_bits == 4
    for (name, f), q in zip(prunable(fp).items(), prunable(qm).values(), strict=True):
        assert bool((integer_weights(q)[0][f.weight == 0] == 0).all()), name


def test_qonnx_export_of_pruned_model_is_exact(tmp_path: Path) -> None:
    import numpy as np

    from hwreg.checkpoint import atomic_save
    from hwreg.export import brevitas_codes, check_export, export_model, random_codes
    from hwreg.run import RunConfig
    from hwreg.train import model_dict

    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(preset="tiny", weight_bits=4, act_bits=4))
    model = build_model(cfg.model)
    torch.nn.init.normal_(model.head.weight, std=0.3)
    model.train()
    with torch.no_grad():
        for _ in range(2):  # let the activation quantizers see data
            model.core(torch.rand(1, 2, 8, 8, 8))
    pruner = Pruner(PruneConfig(sparsity=0.5, exclude=["head"]), total_steps=0)
    pruner(model, 0)
    pruner.remove()
    atomic_save(model_dict(cfg, model, 0, {}), tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")[0]
    x = random_codes((8, 8, 8), 2, seed=1)
    assert np.array_equal(brevitas_codes(model, x), brevitas_codes(loaded, x))
    path = export_model(loaded, (8, 8, 8), tmp_path / "pruned.onnx")
    assert check_export(loaded, path, x) == 0


def test_prune_without_finetuning_keeps_learned_quantizer_scales(
        ibsr_dataset: Callable[..., Path], tmp_path: Path) -> None:
    src = train(tiny_run_config(ibsr_dataset(n=5), steps=2, bits=4), tmp_path / "src",
                progress=False)
    path = run_prune(prune_config(src, 0.0, 0), tmp_path / "run", progress=False)
    source, _, _ = load_model(src)
    pruned, _, _ = load_model(path)  # strict load: the activation scales were carried over
    x = torch.rand(1, 1, 8, 8, 8)
    assert torch.equal(source(x, x.flip(2)), pruned(x, x.flip(2)))
