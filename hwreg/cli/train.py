"""``hwreg train`` and ``hwreg evaluate``: thin shells over :mod:`hwreg.train` and
:mod:`hwreg.evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _train(args: argparse.Namespace) -> int:
    from hwreg.run import load_run_config
    from hwreg.train import train

    cfg = load_run_config(args.config)
    if args.steps is not None:
        cfg.train.steps = args.steps
    path = train(cfg, args.out, force=args.force, progress=not args.quiet)
    print(f"model written to {path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from hwreg.evaluate import evaluate_model

    result = evaluate_model(args.model, args.out, data=args.data, max_pairs=args.pairs,
                            device=args.device, progress=not args.quiet)
    before, after = result["identity"], result["registered"]
    print(f"{result['pairs']} held-out pairs: Dice {before['dice_mean']:.3f} -> "
          f"{after['dice_mean']:.3f}, TRE {before['tre_mm']:.2f} -> {after['tre_mm']:.2f} mm, "
          f"folding {after['folding_percent']:.3f} %; written to {args.out}")
    return 0


def add_commands(stages: Any) -> None:
    """Add ``train`` and ``evaluate`` to the ``hwreg`` subparsers object."""
    tr = stages.add_parser(
        "train", help="train a DDF network with label-driven loss (resumable)",
        description="Train (or resume) a run. The run folder gets config.yaml, model.pt, "
                    "metrics.json; re-running the same command resumes from the last checkpoint.")
    tr.add_argument("--config", required=True, type=Path, help="run config YAML (configs/)")
    tr.add_argument("--out", required=True, type=Path, help="run folder")
    tr.add_argument("--steps", type=int, default=None, help="override train.steps")
    tr.add_argument("--force", action="store_true", help="start over in an existing run folder")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(handler=_train)

    ev = stages.add_parser(
        "evaluate", help="Dice, TRE and folding on held-out pairs, before and after",
        description="Evaluate a model on the held-out subjects of its dataset split.")
    ev.add_argument("--model", required=True, help="model file, run folder or shipped name")
    ev.add_argument("--data", type=Path, default=None,
                    help="dataset folder (default: the one the model was trained on)")
    ev.add_argument("--out", required=True, type=Path, help="output folder (metrics.json/.md)")
    ev.add_argument("--pairs", type=int, default=None, help="at most this many pairs")
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(handler=_evaluate)
