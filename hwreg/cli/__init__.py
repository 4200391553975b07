"""The ``hwreg`` command: one subcommand per stage, each a thin shell over the library.

One module per command group adds its subcommands (``add_commands``) and holds their handlers:
:mod:`.data` (``data prepare|check``), :mod:`.train` (``train``, ``evaluate``), :mod:`.register`,
:mod:`.demo`, :mod:`.hardware` (``export``, ``build``, ``emulate``, ``synth``), :mod:`.package` and
:mod:`.compress` (``prune``, ``sweep``). A handler parses nothing itself: it calls the library
with typed arguments and prints a summary. Nothing heavy is imported until a command runs (the
CLI starts without torch or FINN), and nothing in :mod:`hwreg` imports this package: its only
entries are the console script and ``python -m hwreg.cli`` (:func:`run`), and ``python -m hwreg``
(what ``torchrun -m hwreg`` runs: :func:`main`).

User errors (:class:`~hwreg.errors.UserError`) print one line ``hwreg: error: ...`` on stderr and
exit with status 2, without a traceback; Ctrl-C exits 130. Everything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

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


def main(argv: Sequence[str] | None = None, *, exit_fast: bool = False) -> int:
    """Run one ``hwreg`` command; returns the exit status.

    With ``exit_fast`` (the console script, :func:`run`), a command that sets ``args.exit_fast``
    (``hwreg register`` on a torch device) ends the process as soon as it returns
    (:func:`_exit_now`) instead of returning.
    """
    from hwreg.tool_messages import ignore_known_warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    ignore_known_warnings()
    handler: Handler = args.handler
    try:
        code = handler(args)
    except UserError as exc:
        print(f"hwreg: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("hwreg: interrupted", file=sys.stderr)
        code = 130
    if exit_fast and getattr(args, "exit_fast", False):
        _exit_now(code)
    return code


def run() -> int:
    """The ``hwreg`` console script and ``python -m hwreg.cli``: :func:`main` with ``exit_fast``."""
    return main(exit_fast=True)


def _exit_now(code: int) -> NoReturn:
    """End the process with ``code`` without the interpreter's teardown (``os._exit``, after
    flushing stdout and stderr). Only for a command that has closed everything it opened and
    started no process: unloading torch's modules at exit takes about 0.45 s, a tenth of a
    whole ``hwreg register`` call on a 1 mm pair (measured: ``python -c "import torch"`` 1.7-2.1
    s, the same ending in ``os._exit`` 1.2-1.6 s). atexit handlers do not run."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
