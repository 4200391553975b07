"""Fixtures of the compile tests: tiny quantised models and one build per head level."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwreg.checkpoint import random_model
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.compile.steps import build
from hwreg.export import export_checked

#: Grids of the tiny builds per head level (odd-ish, non-cubic where possible).
GRIDS = {0: (8, 8, 8), 1: (8, 12, 6)}


@pytest.fixture(scope="session", params=[(0, "rtl"), (1, "rtl"), (0, "hls")],
                ids=["head0-rtl", "head1-rtl", "head0-hls"])
def tiny_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(model, grid, build_dir): a tiny W4A4 model exported and built for ZCU104, per head level
    and MVAU style."""
    head, style = request.param
    grid = GRIDS[head]
    model = random_model("tiny", 4, 4, head_level=head, seed=head, grid=grid)
    out: Path = tmp_path_factory.mktemp(f"build_head{head}_{style}")
    export_checked(model, grid, out / "export.onnx")
    cfg = BuildConfig(grid_shape=grid, target_fps=1000.0, mvau_style=MvauStyle(style))
    build(out / "export.onnx", cfg, out)
    return model, grid, out
