"""The Brevitas-free inference form: bit for bit the Brevitas model's DDF, stored in model files,
never used stale, and importable without Brevitas."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch

from hwreg.checkpoint import (
    FORMAT,
    SHIPPED,
    load_for_inference,
    load_model,
    model_from_checkpoint,
    read_model_file,
    resolve_model,
    with_inference_form,
)
from hwreg.config import to_dict
from hwreg.inference import FORM_KEY, InferenceNet, fingerprint, freeze
from hwreg.model import ModelConfig, RegNet, build_model
from hwreg.run import RunConfig

#: (weight_bits, act_bits, extra ModelConfig fields): plain widths, per-layer overrides, narrow
#: skips, dropped skips, a cascade with scaling and squaring, test-time flips
CASES: dict[str, tuple[int, int, dict[str, Any]]] = {
    "w2a2": (2, 2, {}),
    "w4a4": (4, 4, {}),
    "w8a8": (8, 8, {}),
    "w3a6-overrides": (3, 6, {"overrides": {"enc1": 8, "dec0": 2}, "first_bits": 4,
                              "last_bits": 6, "ddf_bits": 6}),
    "w4a4-skip_bits2": (4, 4, {"skip_bits": 2}),
    "w4a4-no-skips": (4, 4, {"skip_levels": []}),
    "w4a4-cascade": (4, 4, {"cascade": 2, "integrate": 2}),
    "w4a4-flips": (4, 4, {"flips": 2}),
}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[int, int, dict[str, Any]]:
    return CASES[request.param]


def calibrated(cfg: ModelConfig) -> RegNet:
    """A quantized network with a non-trivial head and activation scales that saw data."""
    torch.manual_seed(0)
    model = build_model(cfg)
    torch.nn.init.normal_(model.head.weight, std=0.3)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.core(torch.rand(2, 2, 8, 8, 8))
    return model.eval()


def model_file_dict(model: RegNet) -> dict[str, Any]:
    """A model file dict as ``hwreg train`` writes it (without the metrics)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "config": to_dict(RunConfig(model=model.cfg)),
            "state_dict": state, "step": 0, "metrics": {}}


@pytest.mark.parametrize("head_level", [0, 1])
def test_inference_form_is_bit_exact(case: tuple[int, int, dict[str, Any]],
                                     head_level: int) -> None:
    wb, ab, extra = case
    cfg = ModelConfig(preset="tiny", weight_bits=wb, act_bits=ab, head_level=head_level, **extra)
    model = calibrated(cfg)
    ckpt = with_inference_form(model_file_dict(model))
    loaded, _ = model_from_checkpoint(ckpt)  # the network as a model file gives it back
    fast = InferenceNet(ckpt[FORM_KEY], cfg).eval()
    direct = InferenceNet(freeze(model, "-"), cfg).eval()
    torch.manual_seed(1)
    for _ in range(2):
        fixed, moving = torch.rand(2, 1, 8, 12, 6), torch.rand(2, 1, 8, 12, 6) * 1.2 - 0.1
        with torch.inference_mode():
            want = loaded(fixed, moving)
            assert want.abs().max() > 0  # a real DDF, not all zeros
            assert torch.equal(fast(fixed, moving), want)
            assert torch.equal(direct(fixed, moving), model(fixed, moving))


def test_float_model_has_no_form() -> None:
    model = build_model(ModelConfig(preset="tiny")).eval()
    assert FORM_KEY not in with_inference_form(model_file_dict(model))
    with pytest.raises(ValueError, match="float model"):
        freeze(model, "-")


def test_shipped_models_hold_a_fitting_form() -> None:
    for name in SHIPPED:
        net, cfg, ckpt = load_for_inference(name)
        assert isinstance(net, InferenceNet) == cfg.model.quantized, name
        if cfg.model.quantized:
            assert ckpt[FORM_KEY]["fingerprint"] == fingerprint(ckpt["state_dict"])


def test_shipped_demo_w4a4_bit_exact_at_its_grid() -> None:
    brevitas, cfg, _ = load_model("demo-w4a4")
    fast, _, _ = load_for_inference("demo-w4a4")
    assert isinstance(fast, InferenceNet)
    torch.manual_seed(2)
    fixed, moving = (torch.rand(1, 1, *cfg.data.grid_shape) for _ in range(2))
    with torch.inference_mode():
        want = brevitas(fixed, moving)
        assert want.abs().max() > 0.5
        assert torch.equal(fast(fixed, moving), want)


def test_stale_or_foreign_form_falls_back_to_brevitas(tmp_path: Any) -> None:
    ckpt = read_model_file(resolve_model("demo-w4a4"))
    ckpt["state_dict"]["head.bias"] = ckpt["state_dict"]["head.bias"] + 0.5  # weights changed
    torch.save(ckpt, tmp_path / "stale.pt")
    net, _, _ = load_for_inference(tmp_path / "stale.pt")
    assert isinstance(net, RegNet)
    ckpt = read_model_file(resolve_model("demo-w4a4"))
    ckpt["config"]["model"]["skip_levels"] = []  # another topology, same weights
    torch.save(ckpt, tmp_path / "other.pt")
    net, cfg, _ = load_for_inference(tmp_path / "other.pt")
    assert isinstance(net, RegNet) and cfg.model.skip_levels == []


def test_register_path_imports_no_brevitas() -> None:
    code = ("import sys, numpy as np\n"
            "from hwreg.runtime.batch import register_batch\n"
            "from hwreg.runtime.register import Registrar\n"
            "reg = Registrar('demo-w4a4', 'cpu')\n"
            "assert type(reg.net).__name__ == 'InferenceNet'\n"
            "heavy = ('brevitas', 'finn', 'qonnx', 'onnx', 'onnxruntime', 'sympy')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
