"""Fixtures of the RTL tests: a Verilator build cache kept between test sessions."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def rtl_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build cache shared by the sessions of this user (beside pytest's numbered temp roots,
    which pytest prunes); a parameter set compiles once."""
    return tmp_path_factory.getbasetemp().parent / "hwreg-verilator-cache"
