"""Global unstructured magnitude pruning of the conv weights, with masks held while fine-tuning.

Contract:

- the prunable tensors are the ``weight`` of every ``QuantConv3d`` of a :class:`RegNet` (float or
  quantized); biases and quantizer parameters are never pruned; layers named in
  :attr:`PruneConfig.exclude` (``enc0``, ``down1``, ``up0``, ``dec0``, ``head``) are left dense;
- :func:`global_magnitude_masks` keeps the ``n - round(s * n)`` largest ``|w|`` over all prunable
  weights together (ties broken by position), so the global sparsity is exact;
- masks live outside the module (a ``{name: bool tensor}`` dict held by :class:`Pruner`), never in
  its ``state_dict``; pruning multiplies the float weights by the mask, and a per-tensor symmetric
  quantizer maps 0 to the integer 0, so the integer weights are 0 wherever the mask is. A pruned
  ``model.pt`` is therefore a normal model file: "removing the masks" is only forgetting them
  (:meth:`Pruner.remove`);
- :class:`Pruner` is the training hook (``hwreg.train.train(after_step=...)``): it re-applies the
  masks after every optimizer step, and for an iterative schedule raises the sparsity stage by
  stage, evenly spaced over the fine-tuning steps.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from hwreg.errors import ConfigError

if TYPE_CHECKING:  # Brevitas is imported where a network is pruned, not with PruneConfig
    from brevitas.nn import QuantConv3d


class Schedule(enum.StrEnum):
    """How the target sparsity is reached."""

    oneshot = "oneshot"  #: prune to ``sparsity`` once, before fine-tuning
    iterative = "iterative"  #: ``stages`` then ``sparsity``, evenly spaced over fine-tuning


@dataclass
class PruneConfig:
    """Pruning of a run (``hwreg prune``); absent from runs that do not prune."""

    #: Fraction of all prunable conv weights set to zero at the end, in [0, 1).
    sparsity: float = 0.5
    #: oneshot or iterative.
    schedule: Schedule = Schedule.oneshot
    #: Iterative only: increasing sparsities reached before ``sparsity`` (e.g. ``[0.25]``);
    #: empty = ``[sparsity / 2]``.
    stages: list[float] = field(default_factory=list)
    #: Layers left dense, by name (``enc0``, ``down0``, ``up0``, ``dec0``, ``head``).
    exclude: list[str] = field(default_factory=list)
    #: The model that was pruned (name or path), for the record.
    source: str | None = None

    def resolved_stages(self) -> list[float]:
        """The sparsity of each stage, the last one being ``sparsity``."""
        if self.schedule == Schedule.oneshot:
            return [self.sparsity]
        return [*(self.stages or [self.sparsity / 2]), self.sparsity]

    def validate(self) -> None:
        """Raise ConfigError on an unusable schedule."""
        stages = self.resolved_stages()
        if not all(0.0 <= s < 1.0 for s in stages):
            raise ConfigError(f"prune: sparsities must be in [0, 1), got {stages}")
        if any(b < a for a, b in itertools.pairwise(stages)):
            raise ConfigError(f"prune.stages: must increase up to prune.sparsity, got {stages}")


def layer_name(module_name: str) -> str:
    """``enc.0`` -> ``enc0``, ``down.1.0`` -> ``down1``, ``head`` -> ``head``."""
    parts = module_name.split(".")
    return parts[0] + (parts[1] if len(parts) > 1 else "")


def prunable(model: nn.Module, exclude: list[str] | None = None) -> dict[str, QuantConv3d]:
    """The conv layers whose weights are pruned, by module name (``enc.0``, ``head``, ...)."""
    excluded = set(exclude or [])
    from brevitas.nn import QuantConv3d

    convs = {n: m for n, m in model.named_modules() if isinstance(m, QuantConv3d)}
    unknown = excluded - {layer_name(n) for n in convs}
    if unknown:
        raise ConfigError(f"prune.exclude: no layer named '{sorted(unknown)[0]}'")
    return {n: m for n, m in convs.items() if layer_name(n) not in excluded}


@torch.no_grad()
def global_magnitude_masks(layers: dict[str, QuantConv3d], sparsity: float
                           ) -> dict[str, torch.Tensor]:
    """Keep masks (bool, each the shape of its ``weight`` ``(Cout, Cin, 3, 3, 3)``) that zero
    exactly ``round(sparsity * n)`` of the ``n`` weights of ``layers``: the smallest ``|w|``
    over all layers together (a stable sort breaks ties by layer order, then position)."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"prune.sparsity: {sparsity} is not in [0, 1)")
    flat = torch.cat([m.weight.detach().abs().flatten().cpu() for m in layers.values()])
    k = round(sparsity * flat.numel())
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    keep[torch.sort(flat, stable=True).indices[:k]] = False
    masks, start = {}, 0
    for name, module in layers.items():
        n = module.weight.numel()
        masks[name] = keep[start:start + n].view_as(module.weight).to(module.weight.device)
        start += n
    return masks


@torch.no_grad()
def apply_masks(layers: dict[str, QuantConv3d], masks: dict[str, torch.Tensor]) -> None:
    """Zero the masked weights in place (``weight *= mask``)."""
    for name, module in layers.items():
        module.weight.mul_(masks[name].to(module.weight.dtype))


class Pruner:
    """Holds the masks of one model and keeps them applied; the ``after_step`` hook of training.

    ``pruner(model, step)`` (called before the first step and after every optimizer step of a
    ``total_steps`` run) prunes to the schedule's stage for ``step`` when the stage changes and
    re-applies the masks. On a resumed run the masks are recomputed from the weights, whose
    pruned entries are the zeros, so they are the same masks.
    """

    def __init__(self, cfg: PruneConfig, total_steps: int) -> None:
        cfg.validate()
        self.cfg = cfg
        self.total_steps = total_steps
        self.masks: dict[str, torch.Tensor] | None = None
        self.current: float | None = None

    def target(self, step: int) -> float:
        """The sparsity in force at ``step`` (stage i starts at ``i * total_steps / stages``)."""
        stages = self.cfg.resolved_stages()
        if self.total_steps <= 0:
            return stages[-1]
        index = min(len(stages) - 1, step * len(stages) // self.total_steps)
        return stages[index]

    def __call__(self, model: nn.Module, step: int) -> None:
        layers = prunable(model, self.cfg.exclude)
        target = self.target(step)
        if self.masks is None or target != self.current:
            self.masks = global_magnitude_masks(layers, target)
            self.current = target
        apply_masks(layers, self.masks)

    def remove(self) -> None:
        """Forget the masks (the module never held them): the model exports as it is."""
        self.masks, self.current = None, None


@torch.no_grad()
def integer_weights(module: QuantConv3d) -> tuple[torch.Tensor, int]:
    """The weights as deployed and their bits: ``(int codes, bits)`` for a quantized layer,
    ``(float weights, 32)`` for a float one."""
    if module.weight_quant.is_quant_enabled:
        qw = module.quant_weight()
        return qw.int(), int(qw.bit_width)
    return module.weight.detach(), 32


def sparsity_report(model: nn.Module) -> dict[str, Any]:
    """Per conv layer: weights, zeros (of the deployed, integer weights where quantized), bits;
    and the totals: ``sparsity``, ``nonzero_bits`` (non-zero weights x their bits) and
    ``compression`` (float32 dense weight bits / non-zero weight bits)."""
    layers, total, zeros, bits_nz = [], 0, 0, 0
    for name, module in prunable(model).items():
        w, bits = integer_weights(module)
        n, z = w.numel(), int((w == 0).sum())
        layers.append({"layer": layer_name(name), "shape": list(w.shape), "weights": n,
                       "zeros": z, "sparsity": z / n, "bits": bits})
        total, zeros, bits_nz = total + n, zeros + z, bits_nz + (n - z) * bits
    return {"layers": layers, "weights": total, "zeros": zeros,
            "sparsity": zeros / max(1, total), "nonzero_bits": bits_nz,
            "compression": 32 * total / max(1, bits_nz)}


def report_markdown(report: dict[str, Any], title: str) -> str:
    """The sparsity report as a Markdown table."""
    lines = [f"# {title}", "", "| layer | shape | weights | zeros | sparsity | bits |",
             "|---|---|---|---|---|---|"]
    for r in report["layers"]:
        shape = "x".join(str(s) for s in r["shape"])
        lines.append(f"| {r['layer']} | {shape} | {r['weights']} | {r['zeros']} | "
                     f"{100 * r['sparsity']:.2f} % | {r['bits']} |")
    lines.append(f"| **all** | | {report['weights']} | {report['zeros']} | "
                 f"{100 * report['sparsity']:.2f} % | |")
    lines += ["", f"Non-zero weight bits: {report['nonzero_bits']}; compression vs dense float32 "
              f"weights: {report['compression']:.2f}x (sparse index overhead not counted)."]
    return "\n".join(lines) + "\n"
