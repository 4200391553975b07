"""``hwreg train`` and ``hwreg evaluate``: thin shells over :mod:`hwreg.train` and
:mod:`hwreg.evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwreg.cli.options import non_negative_int, positive_int


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
    from hwreg.atomic import require_absent
    from hwreg.evaluate import evaluate_model

    require_absent([args.out / "metrics.json", args.out / "metrics.md"], args.force)
    result = evaluate_model(args.model, args.out, data=args.data, max_pairs=args.pairs,
                            device=args.device, progress=not args.quiet,
                            baseline=args.baseline, oracle=not args.no_oracle)
    before, after = result["identity"], result["registered"]
    print(f"{result['pairs']} held-out pairs: Dice {before['dice_mean']:.3f} -> "
          f"{after['dice_mean']:.3f}, TRE {before['tre_mm']:.2f} -> {after['tre_mm']:.2f} mm, "
          f"folding {after['folding_percent']:.3f} %; written to {args.out}")
    ceiling = result.get("ceiling", {})
    if "oracle_dice" in ceiling:
        print(f"oracle (true DDF) Dice {ceiling['oracle_dice']:.3f}: "
              f"{100 * ceiling['fraction_of_oracle_gain']:.1f} % of the oracle's gain")
    if "syn" in ceiling:
        syn = ceiling["syn"]
        print(f"ANTs SyN on {syn['pairs']} of these pairs: Dice {syn['syn_dice']:.3f}: "
              f"{100 * syn['fraction_of_syn_gain']:.1f} % of SyN's gain")
    return 0


def add_commands(stages: Any) -> None:
    """Add ``train`` and ``evaluate`` to the ``hwreg`` subparsers object."""
    tr = stages.add_parser(
        "train", help="train a DDF network with label-driven loss (resumable)",
        description="Train (or resume) a run. The run folder gets config.yaml, model.pt, "
                    "metrics.json; re-running the same command resumes from the last checkpoint.")
    tr.add_argument("--config", required=True, type=Path, help="run config YAML (configs/)")
    tr.add_argument("--out", required=True, type=Path, help="run folder")
    tr.add_argument("--steps", type=non_negative_int, default=None, help="override train.steps")
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
    ev.add_argument("--pairs", type=positive_int, default=None, help="at most this many pairs")
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ev.add_argument("--baseline", type=Path, default=None,
                    help="ANTs SyN results on the same pairs (benchmarks/results/register.json) "
                         "to report the gain as a fraction of SyN's")
    ev.add_argument("--no-oracle", action="store_true",
                    help="skip the oracle (true-DDF) ceiling of synthetic data")
    ev.add_argument("--force", action="store_true", help="overwrite an existing metrics.json")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(handler=_evaluate)
