"""Grow a trained network into a wider or deeper one that starts computing what it computed.

``train.init_grow`` (with ``train.init_from``) measures the width and depth levers without a
from-scratch run: the grown network's first step is the source model, so a fine-tune of it is
compared with the same fine-tune of the source (the lever table's control row).

- **Wider** (``model.channels`` larger per level): each conv's source weights fill the leading
  block of the wider tensor; the weights from the new input channels into the old output channels
  are zero, so the old channels, and the DDF head, see nothing new. The new output channels keep
  their fresh (He) initialisation, scaled so that their largest weight stays below the source
  tensor's: the per-tensor power-of-two weight scale, and so every old integer, is unchanged.
  Their outgoing weights start at zero and receive gradients, so they learn.
- **Deeper** (more levels, ``model.channels`` longer): the new bottom level's layers keep their
  fresh initialisation except the decoder of the old bottom level, which did not exist before: its
  ``dec`` conv starts as the identity (a Dirac kernel, and its activation takes the scale of the
  level's shared activation) and its ``up`` conv near zero, so the old bottom level passes
  through. A float network starts within the tiny ``up`` contribution of the source. A quantized
  one starts close, not equal: a power-of-two weight scale taken from the largest weight cannot
  hold a largest weight of exactly 1 (it clips to ``2**(bits-1) - 1`` codes), so the identity
  passes the level through at gain 7/8 (4-bit weights) and the activation re-rounds it.

- **Summed DDFs** (``model.ddf_levels`` larger): a new coarser DDF head starts at zero, so its
  DDF adds nothing (exactly, quantized or not) until it has learned.

Quantizer scales that the source has under the same name are copied, as in
:func:`hwreg.checkpoint.init_weights_from`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from hwreg.checkpoint import source_state
from hwreg.errors import UserError

if TYPE_CHECKING:
    from hwreg.model import RegNet

#: Fresh new-channel weights are scaled to at most this fraction of the source's largest weight.
NEW_WEIGHT_FRACTION = 0.5
#: A new ``up`` conv of a deeper network starts at its fresh initialisation times this.
NEW_UP_SCALE = 1e-2


@dataclass
class GrowReport:
    """What :func:`grow_weights_from` did, by conv parameter name."""

    copied: list[str] = field(default_factory=list)  #: same shape, copied
    embedded: list[str] = field(default_factory=list)  #: wider, source in the leading block
    new: list[str] = field(default_factory=list)  #: layers the source lacks

    def summary(self) -> str:
        """One line for the training log."""
        layers = sorted({k.rsplit(".", 1)[0] for k in self.new})
        widened = sorted({k.rsplit(".", 1)[0] for k in self.embedded})
        return (f"{len(self.copied)} conv tensors copied, widened: {', '.join(widened) or 'none'}"
                f"; new: {', '.join(layers) or 'none'}")


def _embed(fresh: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """``src`` in the leading block of ``fresh``'s shape; see the module docstring."""
    out = fresh.clone()
    if src.dim() == 1:  # bias: new channels start at zero
        out.zero_()
        out[: src.shape[0]] = src
        return out
    co, ci = src.shape[:2]
    new_rows = out[co:]
    if new_rows.numel():
        peak = float(new_rows.abs().max())
        limit = NEW_WEIGHT_FRACTION * float(src.abs().max())
        if peak > limit:
            new_rows.mul_(limit / peak)
    out[:co] = 0.0  # old outputs: nothing from the new inputs
    out[:co, :ci] = src
    return out


def _dirac(fresh: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(fresh)
    torch.nn.init.dirac_(out)
    return out


def grow_weights_from(model: RegNet, ref: str | Path) -> GrowReport:
    """Initialise ``model`` from a narrower and/or shallower model file ``ref`` so that it
    starts computing what ``ref`` computes (see the module docstring). Raises UserError if a
    layer of ``ref`` does not fit into ``model`` (fewer channels, another kernel) or nothing
    of it does."""
    source = source_state(ref)
    own = model.state_dict()
    report = GrowReport()
    state: dict[str, torch.Tensor] = {}
    for key in (k for k in own if k.endswith(("weight", "bias")) and "quant" not in k):
        fresh, src = own[key], source.get(key)
        if src is None:
            report.new.append(key)
            continue
        if src.shape == fresh.shape:
            report.copied.append(key)
            state[key] = src
        elif src.dim() == fresh.dim() and src.shape[2:] == fresh.shape[2:] and all(
                s <= f for s, f in zip(src.shape, fresh.shape, strict=True)):
            report.embedded.append(key)
            state[key] = _embed(fresh, src)
        else:
            raise UserError(f"{ref}: cannot grow '{key}' of shape {list(src.shape)} into "
                            f"{list(fresh.shape)} (a grown network has at least the source's "
                            "channels per level and the same kernels)")
    if not report.copied and not report.embedded:
        raise UserError(f"{ref}: cannot grow from it, no conv parameter of it is in this network")
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers()), **own}
    for key, value in tensors.items():  # learned quantizer scales of the same name
        if key not in state and "quant" in key and key in source \
                and source[key].shape == value.shape:
            state[key] = source[key]
    for key in report.new:  # a new decoder at a level the source had: pass the level through
        kind, level, param = key.split(".")[0], key.split(".")[1], key.rsplit(".", 1)[1]
        if kind == "coarse_heads":  # a new summed-DDF head adds nothing until it learns
            state[key] = torch.zeros_like(own[key])
            continue
        if f"enc.{level}.weight" not in source or kind not in ("dec", "up"):
            continue
        if param == "bias":
            state[key] = torch.zeros_like(own[key])
        elif kind == "up":
            state[key] = own[key] * NEW_UP_SCALE
        else:
            state[key] = _dirac(own[key])
            prefix = f"act.{level}."
            for name, value in source.items():  # the decoder activation: the level's scale
                alias = f"dec_act.{level}." + name[len(prefix):]
                if name.startswith(prefix) and alias in tensors:
                    state[alias] = value
    model.load_state_dict(state, strict=False)
    return report
