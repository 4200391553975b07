"""``hwreg data prepare`` and ``hwreg data check``: thin shells over :mod:`hwreg.data`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwreg.cli.options import positive_float, ranged


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


def add_commands(stages: Any) -> None:
    """Add ``data`` (``prepare``, ``check``) to the ``hwreg`` subparsers object."""
    data = stages.add_parser("data", help="prepare and check datasets",
                             description="Prepare the embedded default data; check a dataset.")
    data_cmds = data.add_subparsers(dest="command", metavar="COMMAND", required=True)

    prep = data_cmds.add_parser(
        "prepare", help="write the embedded default data as NIfTI files (IBSR_18 layout)",
        description="Write synthetic subjects made from the IBSR atlas and T1 template shipped in "
                    "the deepmriprep wheel, as IBSR_XX/IBSR_XX_ana_strip.nii.gz + _seg_ana.")
    prep.add_argument("--out", required=True, type=Path, help="output folder")
    prep.add_argument("--subjects", type=ranged(int, 2), default=18,
                      help="number of subjects (default 18)")
    prep.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    prep.add_argument("--spacing", type=positive_float, default=1.0,
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
