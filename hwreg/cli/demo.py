"""``hwreg demo``: a thin shell over :func:`hwreg.studies.demo.run_demo`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwreg.cli.options import positive_int


def _demo(args: argparse.Namespace) -> int:
    from hwreg.atomic import require_absent
    from hwreg.studies.demo import run_demo

    require_absent([args.out / "report.md"], args.force)  # an unfinished demo resumes
    run_demo(args.out, data=args.data, configs=args.configs, full=args.full, jobs=args.jobs)
    return 0


def add_commands(stages: Any) -> None:
    """Add ``demo`` to the ``hwreg`` subparsers object."""
    demo = stages.add_parser(
        "demo", help="the main job: every stage on the default data, then a report",
        description="Prepare data, train float and W4A4, evaluate, build with FINN for each "
                    "board, emulate bit-exactly, register a pair, write OUT/report.md/.html.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    demo.add_argument("--data", type=Path, default=Path("data/default"), help="dataset folder")
    demo.add_argument("--configs", type=Path, default=Path("configs"), help="config folder")
    demo.add_argument("--full", action="store_true",
                      help="the configs' full training schedules (the full-size study; use a GPU)")
    demo.add_argument("--jobs", type=positive_int, default=2,
                      help="stages run at once, one process each (default 2, for 2 cores; "
                           "1: one after another in this process)")
    demo.add_argument("--force", action="store_true",
                      help="run again into an --out that holds a finished demo (report.md)")
    demo.set_defaults(handler=_demo)
