"""Training runs: files, checkpoint round trip, resume after interruption, config refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from hwreg.checkpoint import load_for_inference, load_model, read_model_file
from hwreg.config import DataConfig, to_dict
from hwreg.errors import UserError
from hwreg.inference import InferenceNet
from hwreg.model import ModelConfig
from hwreg.run import RunConfig, load_run_config
from hwreg.train import train


def tiny_run_config(root: Path, steps: int, bits: int | None = None) -> RunConfig:
    cfg = RunConfig(
        data=DataConfig(root=root, grid_shape=(8, 8, 8), grid_spacing=2.0, n_train=3, n_test=2,
                        label_ids=[2, 41]),
        model=ModelConfig(preset="tiny", weight_bits=bits, act_bits=bits))
    cfg.train.steps, cfg.train.batch_size, cfg.train.eval_every = steps, 2, 4
    cfg.train.checkpoint_every, cfg.train.eval_pairs, cfg.train.device = 2, 2, "cpu"
    cfg.loss.dice_sigmas = [0.0, 1.0]
    return cfg


@pytest.mark.parametrize("bits", [None, 4], ids=["float", "w4a4"])
def test_run_folder_and_checkpoint_round_trip(ibsr_dataset: Callable[..., Path], tmp_path: Path,
                                              bits: int | None) -> None:
    cfg = tiny_run_config(ibsr_dataset(n=5), steps=4, bits=bits)
    path = train(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "model.pt", "metrics.json"}
    assert read_model_file(run / "checkpoint.pt")["step"] == 4  # kept: the run can be extended
    raw = torch.load(path, weights_only=True)  # plain dict, no pickled code
    assert raw["step"] == 4 and raw["metrics"]["final"]["step"] == 4
    model, loaded_cfg, _ = load_model(run)
    assert to_dict(loaded_cfg) == to_dict(cfg)
    again, _, _ = load_model(path)
    x = torch.rand(1, 1, 8, 8, 8)
    assert torch.equal(model(x, x.flip(2)), again(x, x.flip(2)))
    fast, _, _ = load_for_inference(path)  # a quantized model.pt holds its inference form
    assert isinstance(fast, InferenceNet) == (bits is not None)
    assert torch.equal(fast(x, x.flip(2)), model(x, x.flip(2)))


def test_train_cascade_changes_what_is_trained(ibsr_dataset: Callable[..., Path],
                                               tmp_path: Path) -> None:
    root = ibsr_dataset(n=5)
    heads = {}
    for k in (1, 2):
        cfg = tiny_run_config(root, steps=2)
        cfg.train.cascade = k
        raw = read_model_file(train(cfg, tmp_path / str(k), progress=False))
        heads[k] = raw["state_dict"]["head.weight"]
        assert raw["config"]["train"]["cascade"] == k
        assert load_model(tmp_path / str(k))[0].train_cascade == 1  # inference: model.cascade
    assert not torch.equal(heads[1], heads[2])  # same seed and pairs, another gradient
    bad = tiny_run_config(root, steps=2)
    bad.train.cascade = 0
    with pytest.raises(UserError, match=r"train\.cascade"):
        bad.validate()


def test_init_partial_grows_a_network_from_a_smaller_one(ibsr_dataset: Callable[..., Path],
                                                         tmp_path: Path) -> None:
    """``train.init_partial``: a full-resolution head (``head_level: 0``, a new decoder level)
    starts from a half-resolution model's encoder; without it the run is refused."""
    root = ibsr_dataset(n=5)
    cfg = tiny_run_config(root, steps=1)
    cfg.model.head_level = 1
    source = read_model_file(train(cfg, tmp_path / "h1", progress=False))["state_dict"]
    grown = tiny_run_config(root, steps=0)
    grown.train.init_from = str(tmp_path / "h1" / "model.pt")
    with pytest.raises(UserError, match=r"up\.0\.weight.*train\.init_partial: true"):
        train(grown, tmp_path / "refused", progress=False)
    grown.train.init_partial = True
    state = read_model_file(train(grown, tmp_path / "h0", progress=False))["state_dict"]
    assert {k for k in state if k.startswith(("up.0", "dec.0"))}  # the new decoder level
    for name in ("enc.0.weight", "enc.1.weight", "down.0.0.weight"):
        assert torch.equal(state[name], source[name])
    assert state["head.weight"].shape[1] == 4 != source["head.weight"].shape[1]


def test_resume_continues_step_count(ibsr_dataset: Callable[..., Path], tmp_path: Path) -> None:
    root = ibsr_dataset(n=5)
    run = tmp_path / "run"
    # an interrupted run: stopped after its checkpoint at step 4 of 6
    train(tiny_run_config(root, steps=4), run, progress=False)
    ckpt = read_model_file(run / "model.pt")
    cfg = tiny_run_config(root, steps=6)
    (run / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    train(cfg, run, progress=False)
    resumed = read_model_file(run / "model.pt")
    assert resumed["step"] == 6
    assert [h["step"] for h in resumed["metrics"]["history"]] == [4, 6]
    assert not torch.equal(resumed["state_dict"]["head.weight"], ckpt["state_dict"]["head.weight"])


def test_resume_from_checkpoint_equals_uninterrupted(ibsr_dataset: Callable[..., Path],
                                                     tmp_path: Path) -> None:
    """Killing a run after a checkpoint and re-running the same command gives the same model."""
    root = ibsr_dataset(n=5)
    cfg = tiny_run_config(root, steps=4)
    straight = read_model_file(train(cfg, tmp_path / "a", progress=False))

    class Stop(Exception):
        pass

    import hwreg.train as train_mod

    original = train_mod.atomic_save
    calls = {"n": 0}

    def crash_after_first_checkpoint(obj: object, path: Path) -> None:
        original(obj, path)
        if path.name == "checkpoint.pt":
            calls["n"] += 1
            raise Stop

    train_mod.atomic_save = crash_after_first_checkpoint
    try:
        with pytest.raises(Stop):
            train(cfg, tmp_path / "b", progress=False)
    finally:
        train_mod.atomic_save = original
    assert read_model_file(tmp_path / "b" / "checkpoint.pt")["step"] == 2
    resumed = read_model_file(train(cfg, tmp_path / "b", progress=False))
    assert resumed["step"] == 4
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_raising_steps_extends_a_finished_run_exactly(ibsr_dataset: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    root = ibsr_dataset(n=5)
    whole = read_model_file(train(tiny_run_config(root, steps=6), tmp_path / "a", progress=False))
    run = tmp_path / "b"
    assert read_model_file(train(tiny_run_config(root, steps=4), run, progress=False))["step"] == 4
    kept = (run / "checkpoint.pt").read_bytes()
    train(tiny_run_config(root, steps=4), run, progress=False)  # finished: nothing to do
    assert (run / "checkpoint.pt").read_bytes() == kept  # its optimizer state is not reset
    extended = read_model_file(train(tiny_run_config(root, steps=6), run, progress=False))
    assert extended["step"] == whole["step"] == 6
    for key, value in whole["state_dict"].items():
        assert torch.equal(value, extended["state_dict"][key]), key
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["steps"] == 6
    with pytest.raises(UserError, match=r"at step 6, beyond train\.steps 4"):
        train(tiny_run_config(root, steps=4), run, progress=False)


def test_other_config_in_run_folder_is_refused(ibsr_dataset: Callable[..., Path],
                                               tmp_path: Path) -> None:
    root = ibsr_dataset(n=5)
    train(tiny_run_config(root, steps=2), tmp_path / "run", progress=False)
    other = tiny_run_config(root, steps=2)
    other.train.lr = 0.5
    with pytest.raises(UserError, match="different config; pass --force"):
        train(other, tmp_path / "run", progress=False)
    # a run started before a key existed (its config.yaml lacks it) extends when the key is at
    # its default, and is refused when it is not
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del saved["train"]["init_partial"]
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(saved))
    longer = tiny_run_config(root, steps=3)
    assert read_model_file(train(longer, tmp_path / "run", progress=False))["step"] == 3
    longer.train.steps, longer.train.init_partial = 4, True
    with pytest.raises(UserError, match="different config; pass --force"):
        train(longer, tmp_path / "run", progress=False)


def test_shipped_configs_load_and_unknown_key_refused(tmp_path: Path) -> None:
    for name in ("demo_float", "demo_w4a4"):
        cfg = load_run_config(Path("configs") / f"{name}.yaml")
        assert cfg.model.name == name.split("_")[1]
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  stepz: 3\n")
    with pytest.raises(UserError, match=r"unknown config key 'train\.stepz'"):
        load_run_config(bad)


@pytest.mark.parametrize("name", ["demo-float", "demo-w4a4", "demo-w4a4-p50", "demo-float-v1",
                                  "demo-float-v2", "demo-w4a4-v2", "demo-w4a4-v3",
                                  "demo-w4a4-v4"])
def test_shipped_models_load_by_name(name: str) -> None:
    _, cfg, ckpt = load_model(name)
    assert ckpt["metrics"]["final"]["dice"] > ckpt["metrics"]["final"]["dice_before"]
    assert cfg.model.name == name.split("-")[1]


@pytest.mark.parametrize("name", ["demo-float", "demo-w4a4", "demo-float-v1", "demo-float-v2",
                                  "demo-w4a4-v2", "demo-w4a4-v3", "demo-w4a4-v4"])
def test_shipped_models_are_what_their_configs_say(name: str) -> None:
    """Each shipped model records the steps that were run, and its config says them."""
    _, cfg, ckpt = load_model(name)
    config = Path(__file__).parents[2] / "configs" / f"{name.replace('-', '_')}.yaml"
    expected = load_run_config(config)
    assert ckpt["step"] == expected.train.steps == cfg.train.steps
    got, want = to_dict(cfg), to_dict(expected)
    got["data"].pop("root"), want["data"].pop("root")  # where the data lay on the machine
    assert got == want


def test_evaluate_writes_metrics(ibsr_dataset: Callable[..., Path], tmp_path: Path) -> None:
    from hwreg.evaluate import evaluate_model

    root = ibsr_dataset(n=5)
    path = train(tiny_run_config(root, steps=2), tmp_path / "run", progress=False)
    result = evaluate_model(path, tmp_path / "eval", data=root)
    assert result["pairs"] == 2  # the 2 held-out subjects, both orders
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["registered"]["dice_mean"] == result["registered"]["dice_mean"]
    assert set(saved["identity"]["dice_per_label"]) == {"2", "41"}
    assert "| identity (before) |" in (tmp_path / "eval" / "metrics.md").read_text()


def test_atlas_pairs_run_resumes_to_the_same_weights(ibsr_dataset: Callable[..., Path],
                                                     tmp_path: Path) -> None:
    from hwreg.config import PairSource
    from hwreg.losses import ImageSimilarity

    def config(steps: int) -> RunConfig:
        cfg = tiny_run_config(ibsr_dataset(n=5), steps=steps)
        cfg.data.source = PairSource.atlas
        cfg.data.grid_spacing = 16.0  # the whole atlas on an 8x8x8 grid
        cfg.loss.image, cfg.loss.image_weight = ImageSimilarity.lncc, 0.5
        return cfg

    class Killed(Exception):
        pass

    def kill_at_3(_model: object, step: int) -> None:
        if step == 3:  # after the step-2 checkpoint
            raise Killed

    whole = read_model_file(train(config(4), tmp_path / "whole", progress=False))
    run = tmp_path / "resumed"
    with pytest.raises(Killed):
        train(config(4), run, progress=False, after_step=kill_at_3)
    assert read_model_file(run / "checkpoint.pt")["step"] == 2
    resumed = read_model_file(train(config(4), run, progress=False))
    assert resumed["step"] == whole["step"] == 4
    for key, value in whole["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_shipped_demo_w4a4_v4_is_the_average_its_configs_say() -> None:
    """demo-w4a4-v4 is a weight average of checkpoints of the runs of demo_w4a4_v4.yaml and
    demo_w4a4_v4_b.yaml (their configs differ in the LNCC weight and the steps run)."""
    _, _, ckpt = load_model("demo-w4a4-v4")
    configs = Path(__file__).parents[2] / "configs"
    a, b = (to_dict(load_run_config(configs / f))
            for f in ("demo_w4a4_v4.yaml", "demo_w4a4_v4_b.yaml"))
    sources, steps = ckpt["average"]["sources"], ckpt["average"]["steps"]
    assert len(sources) == len(steps) >= 2 and steps[0] == ckpt["step"] == a["train"]["steps"]
    assert max(steps) <= max(a["train"]["steps"], b["train"]["steps"])
    assert a["loss"].pop("image_weight") != b["loss"].pop("image_weight")
    a["train"].pop("steps"), b["train"].pop("steps")
    assert a == b


@pytest.mark.parametrize(("name", "start"), [("demo-w4a4", "demo-w4a4-v4"),
                                             ("demo-float", "demo-float-v2")])
def test_shipped_model_is_the_average_of_one_cascade_trained_run(name: str, start: str) -> None:
    """demo-w4a4 and demo-float average checkpoints of the one run of their config (trained
    through two cascade passes from their previous version), the last of them at the steps the
    config says."""
    _, cfg, ckpt = load_model(name)
    steps = ckpt["average"]["steps"]
    assert len(steps) >= 2 and steps[0] == ckpt["step"] == cfg.train.steps == max(steps)
    assert len(set(steps)) == len(steps)
    assert cfg.train.cascade == 2 and cfg.train.init_from == start
