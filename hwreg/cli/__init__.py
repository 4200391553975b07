"""The ``hwreg`` command: one subcommand per stage, each a thin shell over the library.

One module per command group adds its subcommands (``add_commands``) and holds their handlers:
:mod:`.data` (``data prepare|check``), :mod:`.train` (``train``, ``evaluate``), :mod:`.register`,
:mod:`.demo`, :mod:`.hardware` (``export``, ``build``, ``emulate``, ``synth``), :mod:`.package` and
:mod:`.compress` (``prune``, ``sweep``). A handler parses nothing itself: it calls the library
with typed arguments and prints a summary. Nothing heavy is imported until a command runs (the
CLI starts without torch or FINN), and nothing in :mod:`hwreg` imports this package: its only
entries are the console script (``hwreg.cli:main``), ``python -m hwreg.cli`` and
``python -m hwreg`` (what ``torchrun -m hwreg`` runs).

User errors (:class:`~hwreg.errors.UserError`) print one line ``hwreg: error: ...`` on stderr and
exit with status 2, without a traceback; Ctrl-C exits 130. Everything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hwreg import __version__
from hwreg.cli import compress, data, demo, hardware, package, register, train
from hwreg.cli.options import OneLineParser
from hwreg.errors import UserError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hwreg`` command (subcommands carry their handler)."""
    parser = OneLineParser(
        prog="hwreg",
        description="Hardware co-design toolkit for learned, quantized 3D image registration.",
    )
    parser.add_argument("--version", action="version", version=f"hwreg {__version__}")
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for group in (data, train, register, demo, hardware, package, compress):
        group.add_commands(stages)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hwreg`` console script; returns the exit status."""
    from hwreg.tool_messages import ignore_known_warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    ignore_known_warnings()
    handler: Handler = args.handler
    try:
        return handler(args)
    except UserError as exc:
        print(f"hwreg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwreg: interrupted", file=sys.stderr)
        return 130
