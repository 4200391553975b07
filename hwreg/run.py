"""The run configuration: one typed tree with a section per stage of a training run.

A run (``hwreg train``, ``hwreg prune``, a sweep point) is described by one :class:`RunConfig`
that round-trips through YAML (strict loading, :mod:`hwreg.config`): ``data``
(:class:`~hwreg.config.DataConfig`), ``model`` (:class:`~hwreg.model.ModelConfig`), ``loss``
(:class:`~hwreg.losses.LossConfig`), ``train`` (:class:`TrainConfig`) and, for a pruning run,
``prune`` (:class:`~hwreg.compress.PruneConfig`). Each section's dataclass lives with its stage;
this module composes them and holds the training schedule and the device choice. A model file
stores its run config as a plain dict (:mod:`hwreg.checkpoint`), so the YAML keys are its format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hwreg.compress import PruneConfig
from hwreg.config import DataConfig, PairSource, Rule, check_rules, load_yaml
from hwreg.errors import ConfigError, UserError
from hwreg.losses import LossConfig
from hwreg.model_config import ModelConfig


class Device(enum.StrEnum):
    """Where training and inference run."""

    auto = "auto"  #: CUDA when available, else CPU
    cpu = "cpu"
    cuda = "cuda"


@dataclass
class TrainConfig:
    """Optimisation schedule and bookkeeping."""

    #: Optimiser steps in total.
    steps: int = 2000
    #: Pairs per minibatch.
    batch_size: int = 4
    #: Labels sampled per pair for the Dice loss (label-reg used 1; more = denser signal).
    labels_per_pair: int = 1
    #: Adam learning rate.
    lr: float = 1e-3
    #: Evaluate on held-out pairs every this many steps (and at the end).
    eval_every: int = 250
    #: Held-out pairs used by the periodic evaluation (all ordered pairs at most).
    eval_pairs: int = 20
    #: Write a resumable checkpoint every this many steps.
    checkpoint_every: int = 50
    #: Seed of weights initialisation and pair sampling.
    seed: int = 0
    #: Device: auto, cpu or cuda.
    device: Device = Device.auto
    #: CPU threads for torch (0 = torch's default).
    threads: int = 0
    #: Start from this model's weights (a name or a path), e.g. a float model for a W4A4 run.
    init_from: str | None = None
    #: With ``init_from``: copy only the conv parameters that fit (same name and shape), the rest
    #: (new layers, e.g. the level-0 decoder of ``model.head_level: 0`` from a level-1 model)
    #: keep their fresh initialisation. False: every conv parameter must fit.
    init_partial: bool = False
    #: With ``init_from``: grow it into this wider (more ``model.channels`` per level) and/or
    #: deeper (more levels) network so that training starts from what it computes
    #: (:mod:`hwreg.grow`: exactly for a wider network, closely for a deeper one).
    init_grow: bool = False
    #: Train through this many cascade passes (the host warp between them included, gradients
    #: through all, the loss on the composed DDF), so that the network learns to refine what an
    #: earlier pass left, as ``model.cascade`` uses it at inference. 1 = single passes. Costs
    #: about this many times the compute per step; the model's inference settings do not change.
    cascade: int = 1


#: Range rules of a run's ``train`` and ``loss`` sections (see :func:`hwreg.config.check_rules`).
RUN_RULES: dict[str, Rule] = {
    "train.steps": (lambda v: v >= 0, ">= 0"),
    "train.batch_size": (lambda v: v >= 1, ">= 1"),
    "train.labels_per_pair": (lambda v: v >= 1, ">= 1"),
    "train.lr": (lambda v: v > 0, "> 0"),
    "train.eval_every": (lambda v: v >= 1, ">= 1"),
    "train.eval_pairs": (lambda v: v >= 1, ">= 1"),
    "train.checkpoint_every": (lambda v: v >= 1, ">= 1"),
    "train.threads": (lambda v: v >= 0, ">= 0 (0 = torch's default)"),
    "train.cascade": (lambda v: 1 <= v <= 8, "1..8 passes"),
    "loss.dice_sigmas": (lambda v: len(v) > 0 and all(s >= 0 for s in v), "non-empty, each >= 0"),
    "loss.reg_weight": (lambda v: v >= 0, ">= 0"),
    "loss.image_weight": (lambda v: v >= 0, ">= 0"),
    "loss.lncc_window": (lambda v: v >= 1 and v % 2 == 1, "an odd number >= 1"),
}


@dataclass
class RunConfig:
    """Everything that defines a training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    #: Pruning with masked fine-tuning (``hwreg prune``); ``None`` = no pruning.
    prune: PruneConfig | None = None

    def validate(self) -> None:
        """Value ranges (:data:`RUN_RULES`) and cross-section checks (raise ConfigError /
        UserError)."""
        self.data.validate()
        check_rules(self, RUN_RULES)
        if self.data.source == PairSource.dataset and self.data.n_train < 1:
            raise ConfigError("data.n_train: expected >= 1 for data.source dataset, got 0")
        self.model.validate()
        div = self.model.divisor
        if any(s % div for s in self.data.grid_shape):
            raise UserError(f"data.grid_shape {list(self.data.grid_shape)}: each axis must be a "
                            f"multiple of {div} for {len(self.model.resolved_channels())} levels")
        if self.train.steps < 0 or self.train.batch_size < 1:
            raise UserError("train.steps must be >= 0 and train.batch_size >= 1")
        if self.train.init_grow and (self.train.init_partial or not self.train.init_from):
            raise ConfigError("train.init_grow: needs train.init_from and excludes "
                              "train.init_partial (a grown network keeps every source layer)")
        if self.prune is not None:
            self.prune.validate()


def load_run_config(path: str | Path) -> RunConfig:
    """Load and validate a run config YAML."""
    cfg = load_yaml(RunConfig, path)
    try:
        cfg.validate()
    except UserError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def pick_device(device: Device | str) -> torch.device:
    """The torch device for a config choice."""
    device = Device(device)
    if device == Device.cuda and not torch.cuda.is_available():
        raise UserError("train.device is cuda but no CUDA device is available")
    if device == Device.cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")
