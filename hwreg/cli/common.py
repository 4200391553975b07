"""Options shared by several ``hwreg`` commands."""

from __future__ import annotations

import argparse


def executor_args(parser: argparse.ArgumentParser) -> None:
    """``--executor local|ray`` and ``--address``: where independent jobs run."""
    parser.add_argument("--executor", choices=["local", "ray"], default="local",
                        help="local processes (default) or Ray tasks (pip install 'hwreg[ray]')")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (ray start --head prints it; 'auto' finds a "
                             "running one); default: a local Ray instance")
