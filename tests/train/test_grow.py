"""``train.init_grow``: a wider or deeper network that starts from what a trained one computes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hwreg.checkpoint import read_model_file
from hwreg.errors import ConfigError, UserError
from hwreg.grow import NEW_WEIGHT_FRACTION, grow_weights_from
from hwreg.model import RegNet, build_model
from hwreg.run import RunConfig
from hwreg.train import train
from tests.train.test_train import tiny_run_config


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, RunConfig]]:
    """Two trained tiny models (float and W4A4), 3 steps each."""
    from tests.conftest import write_ibsr_dataset

    tmp = tmp_path_factory.mktemp("grow")
    root = write_ibsr_dataset(tmp / "data", n=5)
    out = {}
    for name, bits in (("float", None), ("w4a4", 4)):
        cfg = tiny_run_config(root, steps=3, bits=bits)
        out[name] = (train(cfg, tmp / name, progress=False), cfg)
    return out


def _grown(source: tuple[Path, RunConfig], channels: list[int]) -> tuple[RegNet, RegNet]:
    path, cfg = source
    src = build_model(cfg.model)
    src.load_state_dict(read_model_file(path)["state_dict"])
    wider = copy.deepcopy(cfg.model)
    wider.channels = channels
    grown = build_model(wider)
    grow_weights_from(grown, path)
    return src.eval(), grown.eval()


def _outputs(a: RegNet, b: RegNet) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(2, 2, 8, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return a.core(x), b.core(x)


@pytest.mark.parametrize("name", ["float", "w4a4"])
def test_a_wider_network_starts_as_the_source(sources: dict, name: str) -> None:
    """Wider: the same DDF (the same integers for W4A4), the source in the leading block, new
    channels cut off from the old ones and below the source's largest weight."""
    src, grown = _grown(sources[name], [6, 12])
    before, after = _outputs(src, grown)
    assert torch.equal(before, after)
    assert float(before.abs().max()) > 0  # the source computes something
    old, new = src.state_dict(), grown.state_dict()
    assert torch.equal(new["enc.1.weight"][:8, :8], old["enc.1.weight"])
    assert not new["head.weight"][:, 4:].any() and not new["enc.1.weight"][:8, 8:].any()
    fresh = new["enc.1.weight"][8:]
    assert fresh.any()
    assert float(fresh.abs().max()) <= NEW_WEIGHT_FRACTION * float(old["enc.1.weight"].abs().max())
    if name == "w4a4":
        assert torch.equal(grown.enc["1"].quant_weight().scale, src.enc["1"].quant_weight().scale)


def test_a_deeper_network_passes_the_old_bottom_level_through(sources: dict) -> None:
    """Deeper (float): the new decoder of the old bottom level is a Dirac identity with a
    near-zero up conv, so the DDF stays within a small fraction of the source's."""
    src, grown = _grown(sources["float"], [4, 8, 16])
    before, after = _outputs(src, grown)
    assert not torch.equal(before, after)  # the new level adds a little
    assert float((before - after).abs().max()) < 0.05 * float(before.abs().max())
    dirac = torch.zeros(8, 8, 3, 3, 3)
    torch.nn.init.dirac_(dirac)
    assert torch.equal(grown.state_dict()["dec.1.weight"], dirac)


def test_growing_trains_the_new_channels(ibsr_dataset: Callable[..., Path], sources: dict,
                                         tmp_path: Path) -> None:
    """Through ``hwreg train``: the run starts grown, and after training the head reads the new
    channels (their zero outgoing weights received gradients)."""
    path, _ = sources["w4a4"]
    cfg = tiny_run_config(ibsr_dataset(n=5), steps=2, bits=4)
    cfg.model.channels = [6, 12]
    cfg.train.init_from, cfg.train.init_grow = str(path), True
    state = read_model_file(train(cfg, tmp_path / "grown", progress=False))["state_dict"]
    assert state["head.weight"].shape[1] == 6
    assert state["head.weight"][:, 4:].any()


def test_growing_refuses_what_does_not_fit(sources: dict, tmp_path: Path) -> None:
    path, cfg = sources["float"]
    narrower = copy.deepcopy(cfg.model)
    narrower.channels = [4, 6]
    with pytest.raises(UserError, match=r"cannot grow 'enc\.1\.weight' of shape \[8, 8, 3, 3, 3\] "
                       r"into \[6, 6"):
        grow_weights_from(build_model(narrower), path)
    bad = copy.deepcopy(cfg)
    bad.train.init_grow = True
    with pytest.raises(ConfigError, match=r"train\.init_grow: needs train\.init_from"):
        bad.validate()
    bad.train.init_from, bad.train.init_partial = str(path), True
    with pytest.raises(ConfigError, match=r"excludes train\.init_partial"):
        bad.validate()


def test_a_new_summed_ddf_head_starts_at_zero(sources: dict) -> None:
    """``model.ddf_levels: 2`` grown from one head: the coarse head adds nothing yet (the same
    W4A4 integers) and is trainable (zero weights, not a dead layer)."""
    path, cfg = sources["w4a4"]
    src = build_model(cfg.model)
    src.load_state_dict(read_model_file(path)["state_dict"])
    more = copy.deepcopy(cfg.model)
    more.ddf_levels = 2
    grown = build_model(more)
    report = grow_weights_from(grown, path)
    assert report.new == ["coarse_heads.1.weight", "coarse_heads.1.bias"]
    before, after = _outputs(src.eval(), grown.eval())
    assert torch.equal(before, after)
    grown.train()
    grown.core(torch.rand(1, 2, 8, 8, 8)).pow(2).sum().backward()
    assert grown.coarse_heads["1"].weight.grad.abs().max() > 0
