"""The ``hwreg`` command: one subcommand per stage, each a thin shell over the in-memory API.

User errors (:class:`~hwreg.errors.UserError`) print one line ``hwreg: error: ...`` on stderr and
exit with status 2, without a traceback; Ctrl-C exits 130. Everything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hwreg import __version__
from hwreg.errors import UserError

Handler = Callable[[argparse.Namespace], int]


def _data_prepare(args: argparse.Namespace) -> int:
    from hwreg.data.synth import prepare_default

    folders = prepare_default(args.out, subjects=args.subjects, seed=args.seed,
                              spacing=args.spacing, force=args.force,
                              progress=not args.quiet)
    print(f"wrote {len(folders)} subjects (IBSR_18 layout) to {args.out}")
    return 0


def _data_check(args: argparse.Namespace) -> int:
    from hwreg.config import DataConfig, Layout
    from hwreg.data.datasets import check_dataset

    cfg = DataConfig(root=Path(args.dir), layout=Layout(args.layout),
                     image_glob=args.image_glob, label_glob=args.label_glob)
    summaries = check_dataset(cfg)
    print(f"{args.dir}: {len(summaries)} subjects, all readable and consistent")
    print(f"{'subject':<14} {'shape':<16} {'spacing (mm)':<20} labels")
    for s in summaries:
        shape = "x".join(str(n) for n in s.shape)
        spacing = "x".join(f"{v:g}" for v in s.spacing)
        ids = ",".join(str(i) for i in s.label_ids)
        print(f"{s.id:<14} {shape:<16} {spacing:<20} {len(s.label_ids)}: {ids}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from hwreg.checkpoint import load_run_config
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


def _register(args: argparse.Namespace) -> int:
    from hwreg.register import register_files

    result = register_files(args.fixed, args.moving, args.out, model=args.model,
                            moving_label=args.moving_label, force=args.force,
                            device=args.device)
    print(f"registered in {result['seconds_total']:.2f} s (network "
          f"{result['seconds_network'] * 1000:.0f} ms); wrote " + ", ".join(result["outputs"]))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from hwreg.demo import run_demo

    run_demo(args.out, data=args.data, configs=args.configs, full=args.full)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hwreg`` command (subcommands carry their handler)."""
    parser = argparse.ArgumentParser(
        prog="hwreg",
        description="Hardware co-design toolkit for learned, quantized 3D image registration.",
    )
    parser.add_argument("--version", action="version", version=f"hwreg {__version__}")
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)

    data = stages.add_parser("data", help="prepare and check datasets",
                             description="Prepare the embedded default data; check a dataset.")
    data_cmds = data.add_subparsers(dest="command", metavar="COMMAND", required=True)

    prep = data_cmds.add_parser(
        "prepare", help="write the embedded default data as NIfTI files (IBSR_18 layout)",
        description="Write synthetic subjects made from the IBSR atlas and T1 template shipped in "
                    "the deepmriprep wheel, as IBSR_XX/IBSR_XX_ana_strip.nii.gz + _seg_ana.")
    prep.add_argument("--out", required=True, type=Path, help="output folder")
    prep.add_argument("--subjects", type=int, default=18, help="number of subjects (default 18)")
    prep.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    prep.add_argument("--spacing", type=float, default=1.0,
                      help="voxel size of the written volumes in mm (default 1, the atlas's)")
    prep.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(handler=_data_prepare)

    check = data_cmds.add_parser(
        "check", help="validate a dataset folder and summarise it",
        description="Load every subject, check it, and print shapes, spacings and label ids.")
    check.add_argument("dir", help="dataset folder")
    check.add_argument("--layout", choices=["ibsr", "glob"], default="ibsr",
                       help="folder layout (default ibsr)")
    check.add_argument("--image-glob", default="*/aligned_norm.nii.gz",
                       help="image pattern for --layout glob")
    check.add_argument("--label-glob", default="*/aligned_seg35.nii.gz",
                       help="label pattern for --layout glob")
    check.set_defaults(handler=_data_check)

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

    reg = stages.add_parser(
        "register", help="register a NIfTI pair with a trained model (no labels needed)",
        description="Warp MOVING onto FIXED. Writes DIR/warped.nii.gz and DIR/ddf.nii.gz (an "
                    "ITK/ANTs displacement field in mm, LPS, on FIXED's grid) and, with "
                    "--moving-label, DIR/warped_label.nii.gz; all with FIXED's shape and affine.")
    reg.add_argument("fixed", type=Path, help="fixed image (NIfTI)")
    reg.add_argument("moving", type=Path, help="moving image (NIfTI)")
    reg.add_argument("--out", required=True, type=Path, help="output folder")
    reg.add_argument("--model", default="demo-w4a4",
                     help="model file, run folder or shipped name (default demo-w4a4)")
    reg.add_argument("--moving-label", type=Path, default=None,
                     help="label map of MOVING to warp (nearest neighbour, ids kept)")
    reg.add_argument("--force", action="store_true", help="overwrite existing outputs")
    reg.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    reg.set_defaults(handler=_register)

    demo = stages.add_parser(
        "demo", help="the main job: every stage on the default data, then a report",
        description="Prepare data, train float and W4A4, evaluate, build with FINN for each "
                    "board, emulate bit-exactly, register a pair, write OUT/report.md/.html.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    demo.add_argument("--data", type=Path, default=Path("data/default"), help="dataset folder")
    demo.add_argument("--configs", type=Path, default=Path("configs"), help="config folder")
    demo.add_argument("--full", action="store_true",
                      help="the configs' full training schedules (the full-size study; use a GPU)")
    demo.set_defaults(handler=_demo)

    from hwreg.compile.commands import add_commands
    from hwreg.compress_cli import add_commands as add_compress_commands

    add_commands(stages)
    add_compress_commands(stages)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hwreg`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UserError as exc:
        print(f"hwreg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwreg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
