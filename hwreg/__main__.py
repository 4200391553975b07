"""``python -m hwreg`` (what ``torchrun ... -m hwreg train`` runs): the ``hwreg`` command."""

import sys

from hwreg.cli import main

sys.exit(main())
