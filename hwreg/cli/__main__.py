"""``python -m hwreg.cli``: the ``hwreg`` command."""

import sys

from hwreg.cli import run

sys.exit(run())
