"""``python -m hwreg.cli``: the ``hwreg`` command."""

import sys

from hwreg.cli import main

sys.exit(main())
