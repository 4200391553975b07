"""The quantization-aware 3D DDF network (a LocalNet-style encoder-decoder, built for FINN).

Input: fixed and moving images on the model grid as 2 channels, ``(B, 2, D, H, W)`` in [0, 1].
Output: the DDF ``(B, 3, D, H, W)`` in voxels, fixed -> moving (convention: :mod:`hwreg.warp`).

Op set, chosen so the FPGA dataflow needs few op types (``../shared/DESIGN.md``):

- every layer is a 3x3x3 ``QuantConv3d`` (padding 1) followed by a ``QuantReLU``; downsampling is
  a stride-2 conv (no pooling), upsampling is nearest x2 followed by a conv (no transposed conv);
- skips are additive, and both addends share one activation quantizer (the encoder level's
  ``QuantReLU`` instance is reused by the decoder conv of the same level), so the skip add is an
  integer add of two streams with the same scale (no re-quantisation in hardware);
- the input is quantised as an unsigned 8-bit integer image with the fixed scale 2**-8;
- all quantizers use power-of-two scales (Brevitas ``FixedPoint``): thresholds are integers and
  every level of the emulation (Brevitas, QONNX, FINN, RTL) computes the same integers;
- one DDF head: a conv to 3 channels and a signed 8-bit output quantizer (the DDF's integer
  codes are the accelerator's output); with ``head_level = 1`` the DDF is predicted at half
  resolution and upsampled on the host (:func:`hwreg.warp.upsample_ddf`), a co-design choice
  that removes the full-resolution decoder from the hardware; with ``ddf_levels > 1`` coarser
  decoder levels have heads too (``head{l}``), each DDF upsampled x2 (nearest) and added to the
  next finer one's (LocalNet-style), all through the one DDF quantizer, so every add is an
  integer add of codes on one scale, re-quantised to the DDF's bits.

Bit widths come from :class:`ModelConfig`: ``weight_bits``/``act_bits`` of ``None`` give the float
model (same modules with quantisation off, so float checkpoints initialise quantized ones);
``first_bits`` and ``last_bits`` override the first conv's and the head's weight bits.
"""

from __future__ import annotations

import torch
from brevitas.nn import QuantConv3d, QuantIdentity, QuantReLU
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    Uint8ActPerTensorFixedPoint,
)
from torch import nn

from hwreg.model_config import (
    BIT_WIDTHS,
    PRESET_CHANNELS,
    HostPasses,
    ModelConfig,
    Preset,
    coarse_levels,
    flip_sets,
)

__all__ = ["BIT_WIDTHS", "PRESET_CHANNELS", "ModelConfig", "Preset", "RegNet", "build_model",
           "count_parameters", "flip_sets"]

def _conv(cin: int, cout: int, stride: int, bits: int | None) -> QuantConv3d:
    if bits is None:
        return QuantConv3d(cin, cout, 3, stride=stride, padding=1, bias=True, weight_quant=None)
    return QuantConv3d(cin, cout, 3, stride=stride, padding=1, bias=True,
                       weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=bits)


def _relu(bits: int | None) -> QuantReLU:
    if bits is None:
        return QuantReLU(act_quant=None)
    return QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits)


class InputQuant(QuantIdentity):
    """Unsigned 8-bit integer image: ``x -> round(clip(x, 0, 255/256) * 256) / 256``."""

    def __init__(self) -> None:
        super().__init__(act_quant=Uint8ActPerTensorFixedPoint, bit_width=8,
                         scaling_impl_type="const", scaling_init=1.0)


class RegNet(HostPasses, nn.Module):
    """The DDF network; see the module docstring. Layer names: ``enc{l}``/``down{l}`` (encoder),
    ``up{l}``/``dec{l}`` (decoder), ``head`` (and ``coarse_heads[l]`` of ``model.ddf_levels``);
    ``act{l}`` is level l's shared activation."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        ch = cfg.resolved_channels()
        q = cfg.quantized
        levels = len(ch)

        def wbits(name: str, default: int | None) -> int | None:
            return cfg.overrides.get(name, default) if q else None

        self.input_quant = InputQuant() if q else nn.Identity()
        self.enc = nn.ModuleDict()
        self.down = nn.ModuleDict()
        self.up = nn.ModuleDict()
        self.dec = nn.ModuleDict()
        self.act = nn.ModuleDict()  # shared per level: encoder output and decoder conv output
        self.dec_act = nn.ModuleDict()
        for lvl in range(levels):
            cin = 2 if lvl == 0 else ch[lvl]
            first = cfg.first_bits if lvl == 0 else cfg.weight_bits
            self.enc[str(lvl)] = _conv(cin, ch[lvl], 1, wbits(f"enc{lvl}", first))
            skip = cfg.head_level <= lvl < levels - 1 and cfg.has_skip(lvl)
            bits = cfg.skip_bits if skip and cfg.skip_bits is not None else cfg.act_bits
            self.act[str(lvl)] = _relu(bits)
            if lvl + 1 < levels:
                self.down[str(lvl)] = nn.Sequential(
                    _conv(ch[lvl], ch[lvl + 1], 2, wbits(f"down{lvl}", cfg.weight_bits)),
                    _relu(cfg.act_bits))
        for lvl in range(levels - 2, cfg.head_level - 1, -1):
            self.up[str(lvl)] = _conv(ch[lvl + 1], ch[lvl], 1, wbits(f"up{lvl}", cfg.weight_bits))
            self.dec[str(lvl)] = _conv(ch[lvl], ch[lvl], 1, wbits(f"dec{lvl}", cfg.weight_bits))
            self.dec_act[str(lvl)] = _relu(cfg.act_bits)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = _conv(ch[cfg.head_level], 3, 1, wbits("head", cfg.last_bits))
        self.coarse_heads = nn.ModuleDict({  # summed DDFs (model.ddf_levels)
            str(lvl): _conv(ch[lvl], 3, 1, wbits(f"head{lvl}", cfg.last_bits))
            for lvl in coarse_levels(cfg)})
        if q:
            self.ddf_quant: nn.Module = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint,
                                                      bit_width=cfg.ddf_bits)
        else:
            self.ddf_quant = nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        # He init keeps the signal alive through the ReLU stack (torch's default init shrinks it
        # by ~2.4x per layer, and the ReLUs die); a near-zero head starts at the identity.
        for module in self.modules():
            if isinstance(module, QuantConv3d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for head in (self.head, *self.coarse_heads.values()):
            nn.init.normal_(head.weight, std=1e-3)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """The part that becomes hardware: ``(B, 2, D, H, W)`` -> DDF at ``head_level``."""
        levels = len(self.cfg.resolved_channels())
        x = self.input_quant(x)
        skips = []
        for lvl in range(levels):
            x = self.act[str(lvl)](self.enc[str(lvl)](x))
            skips.append(x)
            if lvl + 1 < levels:
                x = self.down[str(lvl)](x)
        ddf = self._coarse_ddf(None, levels - 1, x)
        for lvl in range(levels - 2, self.cfg.head_level - 1, -1):
            # the shared act[lvl] puts both addends on one scale: an integer add in hardware
            x = self.act[str(lvl)](self.up[str(lvl)](self.upsample(x)))
            if self.cfg.has_skip(lvl):
                x = x + skips[lvl]
            x = self.dec_act[str(lvl)](self.dec[str(lvl)](x))
            ddf = self._coarse_ddf(ddf, lvl, x)
        out = self.ddf_quant(self.head(x))
        # summed DDFs: one shared quantizer, so the add is of integer codes; re-quantised
        return out if ddf is None else self.ddf_quant(out + self.upsample(ddf))

    def _coarse_ddf(self, ddf: torch.Tensor | None, lvl: int, x: torch.Tensor
                    ) -> torch.Tensor | None:
        """The summed DDF so far after level ``lvl`` (features ``x``): ``None`` until the
        coarsest head of ``model.ddf_levels``."""
        if str(lvl) not in self.coarse_heads:
            return ddf
        own = self.ddf_quant(self.coarse_heads[str(lvl)](x))
        return own if ddf is None else self.ddf_quant(own + self.upsample(ddf))


def build_model(cfg: ModelConfig) -> RegNet:
    """Build the network described by ``cfg``."""
    return RegNet(cfg)


def count_parameters(model: nn.Module) -> int:
    """Number of conv weights and biases (quantizer scales excluded)."""
    return sum(p.numel() for n, p in model.named_parameters()
               if n.endswith(".weight") or n.endswith(".bias"))
