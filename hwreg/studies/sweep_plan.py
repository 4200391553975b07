"""What a bit-width x sparsity sweep makes: its config and its points (``hwreg sweep``).

Shared starting points: the float model is trained once (``float-s0``); every quantized
``w{B}-s0`` is trained from it (quantization-aware, ``train.init_from``); every pruned point
``{bits}-s{S}`` is pruned from its bit width's ``-s0`` point and fine-tuned with the masks held
(:mod:`hwreg.prune`). Besides the grid, the seed's Table 1 stages: ``t1-pruned`` (the float model
pruned to ``table1_sparsity``, not re-trained), the float point at that sparsity (pruned +
re-trained) and ``t1-quantized`` (that point quantized to ``table1_bits`` with its mask held).

A :class:`Point` says how it is made as data: a run config file to train (``train``) or a
:class:`PruneSpec` (the arguments of :func:`hwreg.prune.prune_config`). :mod:`.sweep` makes
them; :mod:`.sweep_report` tabulates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hwreg.compile.boards import Board
from hwreg.compress import Schedule
from hwreg.config import dump_yaml, load_yaml
from hwreg.errors import ConfigError, UserError
from hwreg.model_config import BIT_WIDTHS
from hwreg.prune import FLOAT, parse_bits, prune_config
from hwreg.run import RunConfig


@dataclass
class SweepConfig:
    """A bit-width x sparsity sweep (``configs/sweep_*.yaml``)."""

    #: The float starting point's run config (data, network size, loss, train settings).
    run: RunConfig = field(default_factory=RunConfig)
    #: Bit widths of weights and activations: ``float`` or one of 2, 3, 4, 6, 8.
    bits: list[int | str] = field(default_factory=lambda: [FLOAT, 8, 6, 4, 3, 2])
    #: Target global sparsities of the conv weights, in [0, 1); 0 = the unpruned point.
    sparsities: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75])
    #: Training steps of the float starting point.
    float_steps: int = 2000
    #: Quantization-aware training steps of each quantized starting point (from the float one).
    quant_steps: int = 1000
    #: Masked fine-tuning steps of each pruned point.
    finetune_steps: int = 500
    #: Learning rate of the fine-tuning (``None`` = ``run.train.lr``).
    finetune_lr: float | None = None
    #: Layers left dense in every pruned point (e.g. ``[head]``: the DDF head's weights are
    #: small, so a global threshold removes them first).
    exclude: list[str] = field(default_factory=list)
    #: Pruning schedule of the pruned points.
    schedule: Schedule = Schedule.oneshot
    #: Held-out pairs every point is evaluated on (``None`` = all ordered pairs).
    eval_pairs: int | None = None
    #: Sparsity of the seed's Table 1 stages (the seed pruned 25 %).
    table1_sparsity: float = 0.25
    #: Bit width of the Table 1 "quantized" stage.
    table1_bits: int | str = 8
    #: Add FINN's resource and throughput estimates (LUT, BRAM, DSP, pairs/s) of every
    #: quantized point (``hwreg build`` to ``step_estimates``, about 20 s per point).
    estimates: bool = False
    #: Board of the estimates.
    board: Board = Board.zcu104

    def validate(self) -> None:
        """Raise ConfigError on an unusable grid."""
        self.run.validate()
        for b in [*self.bits, self.table1_bits]:
            bits = parse_bits(b)
            if bits is not None and bits not in BIT_WIDTHS:
                raise ConfigError(f"bits: {b} is not 'float' or one of {BIT_WIDTHS}")
        if not self.bits or FLOAT not in [str(b) for b in self.bits]:
            raise ConfigError("bits: must include 'float' (the shared starting point)")
        if not all(0.0 <= s < 1.0 for s in [*self.sparsities, self.table1_sparsity]):
            raise ConfigError(f"sparsities: must be in [0, 1), got {self.sparsities}")


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Load and validate a sweep YAML (paths resolve against its folder)."""
    cfg = load_yaml(SweepConfig, path)
    try:
        cfg.validate()
        for key in ("float_steps", "quant_steps", "finetune_steps"):
            if getattr(cfg, key) < 0:
                raise ConfigError(f"{key}: expected >= 0, got {getattr(cfg, key)}")
        if cfg.finetune_lr is not None and cfg.finetune_lr <= 0:
            raise ConfigError(f"finetune_lr: expected > 0, got {cfg.finetune_lr}")
    except UserError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def bits_name(bits: int | None) -> str:
    """``float`` or ``w4`` (weights and activations)."""
    return FLOAT if bits is None else f"w{bits}"


def point_name(bits: int | None, sparsity: float) -> str:
    """``float-s0``, ``w4-s50`` (sparsity in %)."""
    return f"{bits_name(bits)}-s{round(100 * sparsity)}"


#: :attr:`PruneSpec.bits` that keeps the bits of the point pruned from.
SAME_BITS = "same"


@dataclass(frozen=True)
class PruneSpec:
    """How a pruned point is made from the point it starts from."""

    #: Run folder of the starting point.
    source: Path
    #: Target global sparsity of the conv weights.
    sparsity: float
    #: Masked fine-tuning steps (0: pruned, not re-trained).
    finetune_steps: int
    #: Pruning schedule.
    schedule: Schedule = Schedule.oneshot
    #: Fine-tuning learning rate (``None``: the starting point's).
    lr: float | None = None
    #: Layers left dense.
    exclude: tuple[str, ...] = ()
    #: Bits of the pruned model: :data:`SAME_BITS` (the starting point's), ``None`` (float) or
    #: a bit width (quantize with the masks held).
    bits: int | str | None = SAME_BITS

    def run_config(self) -> RunConfig:
        """The run config of this pruning (:func:`hwreg.prune.prune_config`)."""
        return prune_config(self.source, self.sparsity, self.finetune_steps,
                            schedule=self.schedule, bits=self.bits, lr=self.lr,
                            exclude=list(self.exclude))


@dataclass
class Point:
    """One model of the sweep and how to make it (``train`` or ``prune``)."""

    name: str
    bits: int | None
    sparsity: float
    #: The point it starts from (None: the float starting point).
    depends: str | None
    #: A trained point: its run config file (written by :func:`plan`).
    train: Path | None = None
    #: A pruned point: how it is pruned from ``depends``.
    prune: PruneSpec | None = None
    #: The seed's Table 1 stage it stands for, if any.
    stage: str | None = None
    #: Part of the bits x sparsity grid.
    grid: bool = True


def plan(cfg: SweepConfig, out: Path) -> list[Point]:
    """The points of the sweep in dependency order; writes the train configs under ``out``."""
    pts = out / "points"
    pts.mkdir(parents=True, exist_ok=True)
    base = cfg.run
    base.train.steps = cfg.float_steps
    dump_yaml(base, pts / "float-s0.yaml")
    points = [Point("float-s0", None, 0.0, None, train=pts / "float-s0.yaml", stage="trained")]
    for b in (parse_bits(v) for v in cfg.bits):
        if b is None:
            continue
        qcfg = load_yaml(RunConfig, pts / "float-s0.yaml")
        qcfg.model.weight_bits, qcfg.model.act_bits = b, b
        qcfg.train.steps = cfg.quant_steps
        qcfg.train.init_from = str(pts / "float-s0" / "model.pt")
        name = point_name(b, 0.0)
        dump_yaml(qcfg, pts / f"{name}.yaml")
        points.append(Point(name, b, 0.0, "float-s0", train=pts / f"{name}.yaml"))

    def prune(source: str, s: float, steps: int, bits: int | str | None = SAME_BITS
              ) -> PruneSpec:
        return PruneSpec(pts / source, s, steps, cfg.schedule, cfg.finetune_lr,
                         tuple(cfg.exclude), bits)

    t1 = cfg.table1_sparsity
    sparsities = sorted({*cfg.sparsities} - {0.0})
    for b in (parse_bits(v) for v in cfg.bits):
        for s in sparsities:
            name, src = point_name(b, s), point_name(b, 0.0)
            stage = "pruned + re-trained" if b is None and s == t1 else None
            points.append(Point(name, b, s, src, prune=prune(src, s, cfg.finetune_steps),
                                stage=stage))
    if t1 > 0:
        points.append(Point("t1-pruned", None, t1, "float-s0", prune=prune("float-s0", t1, 0),
                            stage="pruned", grid=False))
        retrained = point_name(None, t1)
        if t1 not in sparsities:
            points.append(Point(retrained, None, t1, "float-s0",
                                prune=prune("float-s0", t1, cfg.finetune_steps),
                                stage="pruned + re-trained", grid=False))
        qb = parse_bits(cfg.table1_bits)
        points.append(Point("t1-quantized", qb, t1, retrained,
                            prune=prune(retrained, t1, cfg.quant_steps, qb),
                            stage="quantized", grid=False))
    return points
