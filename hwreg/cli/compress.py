"""``hwreg prune``, ``hwreg average`` and ``hwreg sweep``: thin shells over :mod:`hwreg.prune`,
:mod:`hwreg.average` and :mod:`hwreg.studies.sweep`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwreg.cli.common import executor_args
from hwreg.cli.options import fraction, non_negative_int, positive_float, positive_int


def _prune(args: argparse.Namespace) -> int:
    import json

    from hwreg.compress import Schedule
    from hwreg.prune import prune_config, run_prune

    cfg = prune_config(args.model, args.sparsity, args.finetune_steps,
                       schedule=Schedule(args.schedule), stages=args.stages,
                       bits="same" if args.bits is None else args.bits, lr=args.lr,
                       data=args.data, exclude=args.exclude)
    path = run_prune(cfg, args.out, force=args.force, progress=not args.quiet)
    metrics = json.loads((args.out / "metrics.json").read_text())
    final, sp = metrics["final"], metrics["sparsity"]
    print(f"pruned to {100 * sp['sparsity']:.2f} % ({sp['zeros']} of {sp['weights']} conv "
          f"weights), {cfg.train.steps} fine-tuning steps: held-out Dice {final['dice']:.3f}, "
          f"TRE {final['tre_mm']:.2f} mm; model written to {path}")
    return 0


def _average(args: argparse.Namespace) -> int:
    import json

    from hwreg.average import average_models

    path = average_models(args.models, args.out, force=args.force, data=args.data,
                          eval_pairs=args.eval_pairs, progress=not args.quiet)
    final = json.loads((args.out / "metrics.json").read_text())["final"]
    print(f"averaged {len(args.models)} models: held-out Dice {final['dice']:.3f} "
          f"(identity {final['dice_before']:.3f}), TRE {final['tre_mm']:.2f} mm; model written "
          f"to {path}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from hwreg.executor import make_executor
    from hwreg.studies.sweep import run_sweep
    from hwreg.studies.sweep_plan import load_sweep_config

    cfg = load_sweep_config(args.config)
    executor = make_executor(args.executor, args.jobs, args.address)
    points = run_sweep(cfg, args.out, executor=executor)
    print(f"{len(points)} points; wrote {args.out / 'table.md'}, {args.out / 'table.csv'} "
          "and the plots")
    return 0


def _run_folder_args(parser: argparse.ArgumentParser, force_help: str) -> None:
    """--data, --out, --force, --quiet of a command that writes a run folder."""
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset folder (default: the one the model was trained on)")
    parser.add_argument("--out", required=True, type=Path, help="run folder")
    parser.add_argument("--force", action="store_true", help=force_help)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_commands(stages: Any) -> None:
    """Add ``prune``, ``average`` and ``sweep`` to the ``hwreg`` subparsers object."""
    pr = stages.add_parser(
        "prune", help="global magnitude pruning + masked fine-tuning (a run folder)",
        description="Zero the smallest conv weights of MODEL over all layers together, then "
                    "fine-tune with the masks held (pruned weights stay exactly zero, also as "
                    "integers). Writes RUN/model.pt, config.yaml, metrics.json, sparsity.json/.md; "
                    "re-running the same command resumes.")
    pr.add_argument("--model", required=True, help="model file, run folder or shipped name")
    pr.add_argument("--sparsity", required=True, type=fraction,
                    help="fraction of conv weights set to zero, in [0, 1)")
    pr.add_argument("--finetune-steps", type=non_negative_int, default=0,
                    help="masked fine-tuning steps (default 0: prune only)")
    pr.add_argument("--schedule", choices=["oneshot", "iterative"], default="oneshot",
                    help="oneshot (default) or iterative: --stages then --sparsity, evenly "
                         "spaced over the fine-tuning")
    pr.add_argument("--stages", type=fraction, nargs="+", default=None,
                    help="iterative: intermediate sparsities (default sparsity/2)")
    pr.add_argument("--bits", default=None,
                    help="weight/activation bits of the fine-tuned model: float, 2, 3, 4, 6, 8 "
                         "(default: the model's; e.g. prune a float model and quantize it)")
    pr.add_argument("--exclude", nargs="+", default=None, metavar="LAYER",
                    help="layers left dense (enc0, down0, up0, dec0, head, ...); the DDF head's "
                         "small weights would otherwise be pruned first")
    pr.add_argument("--lr", type=positive_float, default=None, help="fine-tuning learning rate")
    _run_folder_args(pr, "start over in an existing run folder")
    pr.set_defaults(handler=_prune)

    av = stages.add_parser(
        "average", help="uniform weight average of models fine-tuned from one start (a run "
                        "folder)",
        description="Average the weights of models that share an architecture and a starting "
                    "point (checkpoints of one run, or runs fine-tuned from one model): same "
                    "hardware, usually better held-out accuracy. Writes RUN/model.pt, "
                    "config.yaml and metrics.json (held-out evaluation).")
    av.add_argument("--models", required=True, nargs="+",
                    help="model files, run folders or shipped names (at least two)")
    av.add_argument("--eval-pairs", type=positive_int, default=None,
                    help="held-out pairs evaluated (default: the first model's train.eval_pairs)")
    _run_folder_args(av, "replace an existing model.pt")
    av.set_defaults(handler=_average)

    sw = stages.add_parser(
        "sweep", help="accuracy table over bit widths x sparsities (parallel, resumable)",
        description="Train float once, quantize from it, prune each bit width's model; evaluate "
                    "every point on the same held-out pairs; write DIR/table.csv, table.md and "
                    "PNG plots. A re-run skips finished points.")
    sw.add_argument("--config", required=True, type=Path, help="sweep YAML (configs/sweep_*)")
    sw.add_argument("--out", required=True, type=Path, help="sweep folder")
    sw.add_argument("--jobs", type=positive_int, default=1,
                    help="local executor: points run in parallel (default 1)")
    executor_args(sw)
    sw.set_defaults(handler=_sweep)

