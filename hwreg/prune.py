"""``hwreg prune``: prune a trained model and fine-tune it with the masks held, into a run folder.

The run is an ordinary training run (:func:`hwreg.train.train`, resumable, same files) whose
config has a ``prune`` section, ``train.init_from`` = the source model and ``train.steps`` = the
fine-tuning steps; the :class:`~hwreg.compress.Pruner` hook prunes before the first step and keeps
the masks applied after every step. With ``bits`` the fine-tuned model gets other weight and
activation bits than the source (prune a float model, then quantize it with the masks held: the
seed's "quantized" stage). The run folder also gets ``sparsity.json`` and ``sparsity.md`` (per
layer), and ``metrics.json`` / ``model.pt`` get a ``sparsity`` entry.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hwreg.atomic import write_json, write_text
from hwreg.checkpoint import SHIPPED, load_model, resolve_model
from hwreg.compress import PruneConfig, Pruner, Schedule, report_markdown, sparsity_report
from hwreg.config import require_data_root
from hwreg.errors import UserError
from hwreg.model import RegNet
from hwreg.run import RunConfig
from hwreg.train import train

FLOAT = "float"


def parse_bits(value: str | int | None) -> int | None:
    """``float`` (or None) -> None, ``"4"``/4 -> 4: the bits of a ``wNaN`` model."""
    if value is None or str(value) == FLOAT:
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"bits: expected 'float' or an integer, got {value!r}") from None


def prune_config(source: str | Path, sparsity: float, finetune_steps: int,
                 schedule: Schedule = Schedule.oneshot, stages: list[float] | None = None,
                 bits: str | int | None = "same", lr: float | None = None,
                 data: Path | None = None, exclude: list[str] | None = None) -> RunConfig:
    """The run config of pruning ``source`` (a model name, file or run folder)."""
    path = resolve_model(source)
    _, cfg, _ = load_model(path)
    cfg = copy.deepcopy(cfg)
    cfg.data.root = require_data_root(cfg.data.root, data)
    if bits != "same":
        b = parse_bits(bits)
        cfg.model.weight_bits, cfg.model.act_bits = b, b
    cfg.train.steps = finetune_steps
    # a shipped name stays a name (a path into this install would not resolve on another)
    shipped = str(source) in SHIPPED and not Path(source).exists()
    cfg.train.init_from = str(source) if shipped else str(path.resolve())
    cfg.train.eval_every = max(1, finetune_steps)
    if lr is not None:
        cfg.train.lr = lr
    cfg.prune = PruneConfig(sparsity=sparsity, schedule=schedule, stages=list(stages or []),
                            exclude=list(exclude or []), source=str(source))
    cfg.validate()
    return cfg


def run_prune(cfg: RunConfig, out: str | Path, force: bool = False,
              progress: bool = True) -> Path:
    """Prune + fine-tune per ``cfg`` (a config with a ``prune`` section) into the run folder
    ``out``; writes the sparsity report; returns the path of ``model.pt``."""
    if cfg.prune is None:
        raise UserError("run config has no 'prune' section")
    out = Path(out)
    pruner = Pruner(cfg.prune, cfg.train.steps)

    def finish(model: RegNet) -> dict[str, Any]:
        # the sparsity report is written before model.pt, which marks the finished run
        pruner.remove()
        report = sparsity_report(model)
        write_json(out / "sparsity.json", report)
        title = f"Sparsity of {cfg.model.name} pruned to {100 * cfg.prune.sparsity:g} %"
        write_text(out / "sparsity.md", report_markdown(report, title))
        return {"sparsity": {k: report[k] for k in ("weights", "zeros", "sparsity",
                                                    "nonzero_bits", "compression")}}

    path = train(cfg, out, force=force, progress=progress, after_step=pruner, finish=finish)
    return path
