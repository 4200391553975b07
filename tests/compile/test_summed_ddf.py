"""``model.ddf_levels``: DDFs summed over decoder levels (LocalNet-style) on the accelerator.

The coarser head's DDF codes are upsampled and added to the finer head's as integers of one
quantizer's scale, then re-quantised: the Brevitas network, its inference form, QONNX (L2),
FINN's HW graph (L3) and the stitched RTL (L5) compute the same integers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper

from hwreg.checkpoint import with_inference_form
from hwreg.compile.boards import board_info
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.compile.steps import build, hw_graph_path
from hwreg.config import to_dict
from hwreg.emulate import Levels, emulate, random_pairs
from hwreg.errors import ConfigError
from hwreg.export import export_checked
from hwreg.inference import FORM_KEY, InferenceNet
from hwreg.model import ModelConfig, RegNet, build_model
from hwreg.run import RunConfig

GRID = (8, 8, 8)


def summed(head_level: int, seed: int = 0) -> RegNet:
    """A tiny 3-level W4A4 network with DDF heads at two levels, both non-trivial, and
    activation scales that saw data."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(preset="tiny", channels=[4, 8, 8], weight_bits=4, act_bits=4,
                                    head_level=head_level, ddf_levels=2))
    for head in (model.head, *model.coarse_heads.values()):
        torch.nn.init.normal_(head.weight, std=0.3)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.core(torch.rand(2, 2, *GRID))
    return model.eval()


@pytest.mark.parametrize("head_level", [0, 1])
def test_summed_ddfs_inference_form_is_bit_exact(head_level: int) -> None:
    model = summed(head_level)
    assert list(model.coarse_heads) == [str(head_level + 1)]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = with_inference_form({"format": "hwreg-model-1", "state_dict": state, "step": 0,
                                "config": to_dict(RunConfig(model=model.cfg)), "metrics": {}})
    fast = InferenceNet(ckpt[FORM_KEY], model.cfg).eval()
    x = torch.rand(2, 2, *GRID, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        want = model.core(x)
        coarse = model.coarse_heads[str(head_level + 1)]
        assert want.abs().max() > 0 and coarse.quant_weight().value.abs().max() > 0
        assert torch.equal(fast.core(x), want)


def test_ddf_levels_range_is_checked() -> None:
    ModelConfig(preset="tiny", head_level=0, ddf_levels=2).validate()  # levels 0 and 1
    with pytest.raises(ConfigError, match=r"model\.ddf_levels: expected 1\.\.1"):
        ModelConfig(preset="tiny", head_level=1, ddf_levels=2).validate()
    with pytest.raises(ConfigError, match=r"model\.ddf_levels"):
        ModelConfig(preset="tiny", ddf_levels=0).validate()


@pytest.fixture(scope="module")
def summed_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[RegNet, Path]:
    model = summed(1)
    out = tmp_path_factory.mktemp("summed_build")
    export_checked(model, GRID, out / "export.onnx")
    build(out / "export.onnx", BuildConfig(grid_shape=GRID, target_fps=1000.0,
                                           mvau_style=MvauStyle("rtl")), out)
    return model, out


def test_summed_ddfs_compile_and_l1_l2_l3_exact(summed_build: tuple[RegNet, Path],
                                                tmp_path: Path) -> None:
    """Two integer adds of DDF codes, each followed by a re-quantising Thresholding layer."""
    model, out = summed_build
    hw = ModelWrapper(str(hw_graph_path(out)))
    ops = [n.op_type for n in hw.graph.node]
    assert ops.count("ElementwiseAdd") == 2 and ops[-1] == "Thresholding"  # skip + DDF sum
    assert hw.find_producer(hw.graph.node[-1].input[0]).op_type == "ElementwiseAdd"
    result = emulate(model, out, random_pairs(GRID, 2), tmp_path / "emu")
    assert result["exact"], result


@pytest.mark.rtl
def test_summed_ddfs_stitched_rtl_exact(summed_build: tuple[RegNet, Path], rtl_cache: Path,
                                        tmp_path: Path) -> None:
    """L5: the stitched accelerator under Verilator gives L3's DDF codes."""
    from hwreg.rtl.stitch import simulate_accelerator

    _, out = summed_build
    cfg = BuildConfig(grid_shape=GRID, target_fps=1000.0, mvau_style=MvauStyle("rtl"))
    x = next(iter(random_pairs(GRID, 1, seed=4))).x
    _, ctx3 = Levels(out).l3(x)
    hw = ModelWrapper(str(hw_graph_path(out)))
    l5 = simulate_accelerator(hw, ctx3, tmp_path / "l5", board_info(cfg.board).part,
                              cfg.clock_ns, rtl_cache)
    assert l5["exact"], l5
