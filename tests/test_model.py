"""The quantized DDF network: shapes per bit width, float/quant structure, config checks."""

from __future__ import annotations

import pytest
import torch

from hwreg.errors import ConfigError
from hwreg.model import BIT_WIDTHS, ModelConfig, build_model, flip_sets
from hwreg.warp import warp_image


@pytest.fixture(params=[None, *BIT_WIDTHS], ids=lambda b: "float" if b is None else f"w{b}a{b}")
def bits(request: pytest.FixtureRequest) -> int | None:
    return request.param


@pytest.mark.parametrize("head_level", [0, 1])
def test_forward_shapes(bits: int | None, head_level: int) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset="tiny", weight_bits=bits, act_bits=bits,
                                    head_level=head_level))
    fixed, moving = torch.rand(2, 1, 8, 12, 8), torch.rand(2, 1, 8, 12, 8)
    ddf = model(fixed, moving)
    assert ddf.shape == (2, 3, 8, 12, 8)
    ddf.sum().backward()  # differentiable through the quantizers (straight-through)
    assert model.enc["0"].weight.grad is not None


def test_quantized_output_is_integer_codes_times_scale() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset="tiny", weight_bits=4, act_bits=4)).eval()
    torch.nn.init.normal_(model.head.weight, std=0.5)
    ddf = model.core(torch.rand(1, 2, 8, 8, 8))
    scale = float(model.ddf_quant.act_quant.scale())
    codes = ddf / scale
    assert torch.equal(codes, torch.round(codes))
    assert codes.abs().max() <= 128
    assert scale == 2.0 ** round(torch.log2(torch.tensor(scale)).item())  # power of two


def test_input_is_uint8_image() -> None:
    model = build_model(ModelConfig(preset="tiny", weight_bits=4, act_bits=4))
    x = torch.tensor([0.0, 0.5, 1.0, 1 / 256, 0.3])
    assert torch.equal(model.input_quant(x) * 256, torch.tensor([0.0, 128, 255, 1, 77]))


def test_per_layer_overrides_and_first_last_bits() -> None:
    model = build_model(ModelConfig(preset="tiny", weight_bits=2, act_bits=2,
                                    overrides={"enc1": 6}))
    assert model.enc["0"].weight_quant.bit_width() == 8  # first layer
    assert model.head.weight_quant.bit_width() == 8  # last layer
    assert model.enc["1"].weight_quant.bit_width() == 6  # override
    assert model.down["0"][0].weight_quant.bit_width() == 2


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (ModelConfig(weight_bits=4, act_bits=None), "both be set"),
        (ModelConfig(weight_bits=5, act_bits=5), "weight_bits: 5 is not one of"),
        (ModelConfig(head_level=2), "head_level"),
        (ModelConfig(channels=[8]), "need >= 2 positive levels"),
    ],
)
def test_bad_model_config(cfg: ModelConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model(cfg)


def test_grid_must_be_divisible() -> None:
    model = build_model(ModelConfig(preset="demo"))  # 3 levels: multiples of 4
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.rand(1, 1, 8, 10, 8), torch.rand(1, 1, 8, 10, 8))


def test_cascade_composes_passes() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(preset="tiny", head_level=1)
    one = build_model(cfg)
    two = build_model(ModelConfig(preset="tiny", head_level=1, cascade=2))
    two.load_state_dict(one.state_dict())
    with torch.no_grad():  # training sees one pass
        x = torch.rand(1, 1, 8, 12, 8), torch.rand(1, 1, 8, 12, 8)
        assert torch.equal(two(*x), one(*x))
    two.eval()
    fixed, moving = torch.rand(1, 1, 8, 12, 8), torch.rand(1, 1, 8, 12, 8)
    with torch.no_grad():
        first = one(fixed, moving)
        step = one(fixed, warp_image(moving, first))
        expected = step + warp_image(first, step)
        assert torch.allclose(two(fixed, moving), expected, atol=1e-6)
    # a network that predicts zero stays the identity however many passes
    for p in two.head.parameters():
        torch.nn.init.zeros_(p)
    assert torch.count_nonzero(two(fixed, moving)) == 0
    with pytest.raises(ConfigError, match="cascade"):
        ModelConfig(cascade=0).validate()


def test_train_cascade_trains_through_the_passes() -> None:
    torch.manual_seed(0)
    cascade = build_model(ModelConfig(preset="tiny", head_level=1, cascade=2)).eval()
    for p in cascade.head.parameters():  # a head that predicts something
        torch.nn.init.normal_(p, std=0.05)
    unrolled = build_model(ModelConfig(preset="tiny", head_level=1))
    unrolled.load_state_dict(cascade.state_dict())
    unrolled.train_cascade = 2  # what train.cascade 2 sets
    fixed, moving = torch.rand(1, 1, 8, 12, 8), torch.rand(1, 1, 8, 12, 8)
    with torch.no_grad():
        expected = cascade(fixed, moving)  # the cascade at inference
        one = unrolled.eval()(fixed, moving)  # the model's own inference: one pass
    assert not torch.allclose(one, expected, atol=1e-4)
    ddf = unrolled.train()(fixed, moving)
    assert torch.allclose(ddf, expected, atol=1e-6)
    # the gradient reaches the weights through the second pass's input (the warped moving)
    grad_two = torch.autograd.grad(ddf.square().sum(), unrolled.enc["0"].weight)[0]
    unrolled.train_cascade = 1
    grad_one = torch.autograd.grad(unrolled(fixed, moving).square().sum(),
                                   unrolled.enc["0"].weight)[0]
    assert grad_two.abs().sum() > 0 and not torch.allclose(grad_two, grad_one)


def test_flips_average_mirrored_passes_at_inference_only() -> None:
    torch.manual_seed(0)
    plain = build_model(ModelConfig(preset="tiny", head_level=1)).eval()
    flipped = build_model(ModelConfig(preset="tiny", head_level=1, flips=1)).eval()
    for p in plain.head.parameters():  # a head that predicts something
        torch.nn.init.normal_(p, std=0.05)
    flipped.load_state_dict(plain.state_dict())
    fixed, moving = torch.rand(1, 1, 8, 12, 8), torch.rand(1, 1, 8, 12, 8)
    with torch.no_grad():
        one = plain(fixed, moving)
        mirror = plain(fixed.flip([2]), moving.flip([2])).flip([2])
        mirror[:, 0] = -mirror[:, 0]
        # the mirrored pairs run as one batch: float rounding differs with the batch size
        assert torch.allclose(flipped(fixed, moving), (one + mirror) / 2, atol=1e-6)
        # the average is mirror-equivariant: the mirrored pair gives the mirrored DDF
        back = flipped(fixed.flip([2]), moving.flip([2])).flip([2])
        back[:, 0] = -back[:, 0]
        assert torch.allclose(back, flipped(fixed, moving), atol=1e-6)
        assert not torch.allclose(one, flipped(fixed, moving), atol=1e-4)
        # a batch of pairs gives each pair's own DDF
        two = torch.cat([fixed, moving.flip([3])]), torch.cat([moving, fixed])
        assert torch.allclose(flipped(*two)[:1], flipped(fixed, moving), atol=1e-6)
        assert torch.allclose(flipped(*two)[1:], flipped(moving.flip([3]), fixed), atol=1e-6)
        flipped.train()  # training sees single passes
        assert torch.equal(flipped(fixed, moving), one)
    assert flip_sets(3) == [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]
    assert build_model(ModelConfig(preset="tiny", cascade=2, flips=3)).passes == 16
    with pytest.raises(ConfigError, match="flips"):
        ModelConfig(flips=4).validate()


def test_batched_flips_keep_a_quantized_network_exact() -> None:
    """Power-of-two scales make every product and partial sum of a quantized conv exact in
    float32, so running the mirrored pairs as one batch gives the very integers of one pass
    each (what the accelerator computes pass by pass)."""
    torch.manual_seed(1)
    cfg = ModelConfig(preset="tiny", head_level=1, weight_bits=4, act_bits=4, flips=3)
    net = build_model(cfg).eval()
    for p in net.head.parameters():
        torch.nn.init.normal_(p, std=0.05)
    fixed, moving = torch.rand(2, 1, 8, 12, 8), torch.rand(2, 1, 8, 12, 8)
    with torch.no_grad():
        batched = net(fixed, moving)
        total = torch.zeros(())
        for axes in flip_sets(3):
            dims = [a + 2 for a in axes]
            ddf = torch.cat([net.network_pass(fixed[i:i + 1].flip(dims),
                                              moving[i:i + 1].flip(dims)) for i in range(2)])
            ddf = ddf.flip(dims)
            ddf[:, list(axes)] = -ddf[:, list(axes)]
            total = total + ddf
    assert batched.abs().max() > 0 and torch.equal(batched, total / 8)


def test_integrate_is_scaling_and_squaring_of_the_head_output() -> None:
    torch.manual_seed(0)
    plain = build_model(ModelConfig(preset="tiny", head_level=1))
    svf = build_model(ModelConfig(preset="tiny", head_level=1, integrate=3))
    svf.load_state_dict(plain.state_dict())
    with torch.no_grad():
        for p in plain.head.parameters():
            p.mul_(300.0)  # a velocity large enough that composing differs from scaling
        svf.load_state_dict(plain.state_dict())
        fixed, moving = torch.rand(1, 1, 8, 12, 8), torch.rand(1, 1, 8, 12, 8)
        v = plain(fixed, moving)
        u = v / 8
        for _ in range(3):
            u = u + warp_image(u, u)
        got = svf(fixed, moving)
    assert v.abs().max() > 0.5
    assert torch.allclose(got, u, atol=1e-6)
    assert not torch.allclose(got, v, atol=1e-3)
    with pytest.raises(ConfigError, match="integrate"):
        ModelConfig(integrate=-1).validate()
