"""The network's architecture and quantisation config, and the host side of its forward pass.

Kept free of Brevitas so that the Brevitas-free inference path (:mod:`hwreg.inference`), the run
config and model-file loading import neither Brevitas nor the network's modules:
:class:`ModelConfig` describes the network (:mod:`hwreg.model` builds it), and
:class:`HostPasses` is the part of ``forward`` around the accelerator's ``core`` (cascade passes,
half-resolution upsampling, scaling and squaring) that both the Brevitas network and its
inference form run.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

import torch

from hwreg.errors import ConfigError
from hwreg.warp import integrate_velocity, upsample_ddf, warp_image

BIT_WIDTHS = (2, 3, 4, 6, 8)


class Preset(enum.StrEnum):
    """Network size presets (``channels`` per level)."""

    tiny = "tiny"  #: tests: 2 levels, 4/8 channels
    demo = "demo"  #: trains on 2 CPU cores in minutes
    full = "full"  #: the full-size study (GPU)


PRESET_CHANNELS: dict[Preset, tuple[int, ...]] = {
    Preset.tiny: (4, 8),
    Preset.demo: (8, 16, 32),
    Preset.full: (16, 32, 64, 64),
}


@dataclass
class ModelConfig:
    """Network architecture and quantisation."""

    #: Size preset; ``channels`` overrides its channel counts when set.
    preset: Preset = Preset.demo
    #: Channels per resolution level (level 0 = full resolution); ``None`` = the preset's.
    channels: list[int] | None = None
    #: Weight bits of the hidden convs (2, 3, 4, 6, 8), or ``None`` for float.
    weight_bits: int | None = None
    #: Activation bits of the hidden ReLUs (2, 3, 4, 6, 8), or ``None`` for float.
    act_bits: int | None = None
    #: Weight bits of the first conv (quantized models only).
    first_bits: int = 8
    #: Weight bits of the DDF head conv (quantized models only).
    last_bits: int = 8
    #: Bits of the signed DDF output quantizer (quantized models only).
    ddf_bits: int = 8
    #: Resolution level of the DDF head: 0 = full resolution, 1 = half (host-side upsampling).
    head_level: int = 0
    #: DDF heads summed over this many decoder levels (LocalNet-style), from ``head_level`` up:
    #: each coarser level's head (``head{l}``) predicts a DDF that is upsampled x2 (nearest) and
    #: added to the next finer one's, on the accelerator (integer adds of one shared quantizer's
    #: codes, re-quantised to the DDF's bits). 1 = one head.
    ddf_levels: int = 1
    #: Per-layer weight-bit overrides by layer name (e.g. ``{"enc1": 8}``), quantized only.
    overrides: dict[str, int] = field(default_factory=dict)
    #: Skip memory knob (the skips' FIFOs are the accelerator's largest buffers): decoder
    #: levels that keep their additive skip; ``None`` = every decoder level, ``[1]`` drops the
    #: full-resolution skip, ``[]`` all skips. A level without a skip adds nothing.
    skip_levels: list[int] | None = None
    #: Bits of the activations the skips carry (each skip level's shared encoder/up-conv
    #: quantizer, so the skip tensor and its FIFO shrink with them); ``None`` = ``act_bits``.
    skip_bits: int | None = None
    #: Passes of the same network (a cascade), at inference only (eval mode; training sees
    #: single passes, so these two settings never change what a config trains): after each
    #: pass the host warps the moving image by the DDF so far and the next pass predicts the
    #: remaining displacement; the DDFs are composed. Costs ``cascade`` accelerator passes.
    cascade: int = 1
    #: Test-time flip averaging, at inference only: each pass also registers the pair
    #: mirrored along every subset of the first ``flips`` spatial axes (1: left-right), the
    #: host mirrors each DDF back (negating the flipped components) and averages them. Costs
    #: ``2**flips`` accelerator passes per pass.
    flips: int = 0
    #: Host-side scaling and squaring: the head predicts a stationary velocity field, integrated
    #: on the host in ``integrate`` squarings (0 = the head predicts the DDF itself). Part of
    #: the host epilogue; the accelerator is unchanged.
    integrate: int = 0

    @property
    def quantized(self) -> bool:
        """True unless this is the float model."""
        return self.weight_bits is not None

    def resolved_channels(self) -> tuple[int, ...]:
        """The channel count of each level."""
        return tuple(self.channels) if self.channels else PRESET_CHANNELS[Preset(self.preset)]

    @property
    def name(self) -> str:
        """Short name: ``float`` or ``w4a4`` style."""
        return "float" if not self.quantized else f"w{self.weight_bits}a{self.act_bits}"

    def validate(self) -> None:
        """Raise ConfigError on an unsupported combination."""
        if (self.weight_bits is None) != (self.act_bits is None):
            raise ConfigError("model.weight_bits and model.act_bits must both be set or both null")
        for key in ("weight_bits", "act_bits", "first_bits", "last_bits", "ddf_bits",
                    "skip_bits"):
            value = getattr(self, key)
            if value is not None and value not in BIT_WIDTHS:
                raise ConfigError(f"model.{key}: {value} is not one of {BIT_WIDTHS}")
        channels = self.resolved_channels()
        if len(channels) < 2 or min(channels) < 1:
            raise ConfigError(f"model.channels: need >= 2 positive levels, got {list(channels)}")
        if not 1 <= self.cascade <= 8:
            raise ConfigError(f"model.cascade: expected 1..8 passes, got {self.cascade}")
        if not 0 <= self.flips <= 3:
            raise ConfigError(f"model.flips: expected 0..3 flipped axes, got {self.flips}")
        if not 0 <= self.integrate <= 10:
            raise ConfigError(f"model.integrate: expected 0..10 squarings, got {self.integrate}")
        if self.head_level not in (0, 1):
            raise ConfigError(f"model.head_level: expected 0 or 1, got {self.head_level}")
        if not 1 <= self.ddf_levels <= len(channels) - self.head_level:
            raise ConfigError(f"model.ddf_levels: expected 1..{len(channels) - self.head_level} "
                              f"(levels from head_level up), got {self.ddf_levels}")
        decoder = list(range(self.head_level, len(channels) - 1))
        for lvl in self.skip_levels or []:
            if lvl not in decoder:
                raise ConfigError(f"model.skip_levels: {lvl} is not a decoder level {decoder}")
        if self.skip_bits is not None and not self.quantized:
            raise ConfigError("model.skip_bits: only for quantized models (set weight_bits)")
        for name, bits in self.overrides.items():
            if bits not in BIT_WIDTHS:
                raise ConfigError(f"model.overrides.{name}: {bits} is not one of {BIT_WIDTHS}")

    def has_skip(self, level: int) -> bool:
        """True if decoder level ``level`` adds the encoder's skip."""
        return self.skip_levels is None or level in self.skip_levels

    @property
    def divisor(self) -> int:
        """Each grid axis must be a multiple of this (2 ** number of downsamplings)."""
        return 2 ** (len(self.resolved_channels()) - 1)


def coarse_levels(cfg: ModelConfig) -> list[int]:
    """The levels of the coarser DDF heads of ``model.ddf_levels`` (above ``head_level``)."""
    return list(range(cfg.head_level + 1, cfg.head_level + cfg.ddf_levels))


def flip_sets(flips: int) -> list[tuple[int, ...]]:
    """The axis subsets of test-time flip averaging over the first ``flips`` axes, the
    unflipped pass first: ``flip_sets(1) == [(), (0,)]``."""
    axes = range(flips)
    return [c for r in range(flips + 1) for c in itertools.combinations(axes, r)]


class HostPasses:
    """The host side of a DDF network's ``forward`` (cascade, flips, epilogue) around ``self.core``
    (``(B, 2, D, H, W)`` -> the DDF at ``cfg.head_level``), for a class that sets ``self.cfg``."""

    cfg: ModelConfig
    training: bool  # nn.Module's
    #: Cascade passes in training mode (``train.cascade``; the loop sets it): the network is
    #: trained through this many passes, gradients through every pass and the warps between.
    train_cascade: int = 1

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """The part that becomes hardware; subclasses define it."""
        raise NotImplementedError

    def forward(self, fixed: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        """``fixed``, ``moving``: (B, 1, D, H, W) in [0, 1] -> DDF (B, 3, D, H, W), voxels."""
        shape = tuple(fixed.shape[2:])
        div = self.cfg.divisor
        if fixed.shape != moving.shape or any(s % div for s in shape):
            raise ValueError(f"fixed {tuple(fixed.shape)} and moving {tuple(moving.shape)} must "
                             f"match and each spatial axis be a multiple of {div}")
        ddf = self.single_pass(fixed, moving)
        for _ in range((self.train_cascade if self.training else self.cfg.cascade) - 1):
            # host: warp the moving image by the DDF so far; the next pass finds the rest:
            # total(p) = step(p) + ddf(p + step(p))
            step = self.single_pass(fixed, warp_image(moving, ddf))
            ddf = step + warp_image(ddf, step)
        return ddf

    @property
    def passes(self) -> int:
        """Accelerator passes per registered pair at inference (cascade x 2**flips)."""
        return self.cfg.cascade * 2 ** self.cfg.flips

    def single_pass(self, fixed: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        """One pass of the cascade: ``(B, 1, D, H, W)`` images -> DDF, averaged over the
        mirrored pairs when ``flips`` (eval mode only)."""
        if self.training or not self.cfg.flips:
            return self.network_pass(fixed, moving)
        # the mirrored pairs go through the network as one batch (several times faster on a
        # CPU than one pass each; each pair's DDF is the same, tests/test_model.py)
        sets = flip_sets(self.cfg.flips)
        dims = [[a + 2 for a in axes] for axes in sets]
        ddfs = self.network_pass(torch.cat([fixed.flip(d) for d in dims]),
                                 torch.cat([moving.flip(d) for d in dims]))
        total = torch.zeros(())
        for k, (axes, d) in enumerate(zip(sets, dims, strict=True)):
            ddf = ddfs[k * len(fixed):(k + 1) * len(fixed)].flip(d)
            sign = torch.ones(3, dtype=ddf.dtype, device=ddf.device)
            sign[list(axes)] = -1
            total = total + ddf * sign.view(1, 3, 1, 1, 1)
        return total / 2 ** self.cfg.flips

    def network_pass(self, fixed: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        """One accelerator pass plus the host epilogue: ``(B, 1, D, H, W)`` images -> DDF."""
        ddf = self.core(torch.cat([fixed, moving], dim=1))  # (B, 2, ...) channel 0 fixed
        return self.epilogue(ddf, tuple(fixed.shape[2:]))

    def epilogue(self, out: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """The host epilogue of one pass: the accelerator's output (dequantised, at
        ``head_level``) -> the DDF on the image grid ``shape`` (upsampling, then scaling and
        squaring when ``integrate``)."""
        if tuple(out.shape[2:]) != tuple(shape):
            out = upsample_ddf(out, shape)  # type: ignore[arg-type]
        return integrate_velocity(out, self.cfg.integrate) if self.cfg.integrate else out
