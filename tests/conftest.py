"""Shared fixtures: tiny NIfTI datasets written under tmp_path; the Verilator build cache; tiny
FINN builds (used by the compile, rtl and synth tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Write ``data`` as NIfTI (plain nibabel, independent of hwreg's writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def blob_subject(shape: tuple[int, int, int], shift: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A tiny image with two labelled boxes (ids 2 and 41) offset by ``shift`` voxels."""
    img = rng.uniform(0, 10, shape).astype(np.float32)
    lab = np.zeros(shape, dtype=np.uint8)
    x, y, z = (s // 4 for s in shape)
    lab[x + shift:2 * x + shift, y:3 * y, z:3 * z] = 2
    lab[2 * x + shift:3 * x + shift, y:3 * y, z:3 * z] = 41
    img[lab > 0] += 100
    return img, lab


def write_ibsr_dataset(root: Path, n: int = 4, shape: tuple[int, int, int] = (16, 12, 16),
                       affine: np.ndarray | None = None) -> Path:
    """A tiny IBSR_18-layout dataset under ``root``; 4D (X,Y,Z,1) storage like the real IBSR."""
    rng = np.random.default_rng(0)
    aff = np.diag([1.0, 1.5, 1.0, 1.0]) if affine is None else affine
    for i in range(n):
        sid = f"IBSR_{i + 1:02d}"
        img, lab = blob_subject(shape, i % 2, rng)
        write_nifti(root / sid / f"{sid}_ana_strip.nii.gz", img[..., None], aff)
        write_nifti(root / sid / f"{sid}_seg_ana.nii.gz", lab[..., None], aff)
    return root


@pytest.fixture
def ibsr_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Factory: :func:`write_ibsr_dataset` under ``tmp_path / "ibsr"``."""

    def make(n: int = 4, shape: tuple[int, int, int] = (16, 12, 16),
             affine: np.ndarray | None = None) -> Path:
        return write_ibsr_dataset(tmp_path / "ibsr", n, shape, affine)

    return make


@pytest.fixture(scope="session")
def rtl_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Verilator build cache shared by the sessions of this user (beside pytest's numbered temp
    roots, which pytest prunes); a parameter set compiles once."""
    return tmp_path_factory.getbasetemp().parent / "hwreg-verilator-cache"


#: Grids of the tiny builds per head level (odd-ish, non-cubic where possible).
GRIDS = {0: (8, 8, 8), 1: (8, 12, 6)}


@pytest.fixture(scope="session", params=[(0, "rtl"), (1, "rtl"), (0, "hls")],
                ids=["head0-rtl", "head1-rtl", "head0-hls"])
def tiny_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(model, grid, build_dir): a tiny W4A4 model exported and built for ZCU104, per head level
    and MVAU style."""
    from hwreg.checkpoint import random_model
    from hwreg.compile.config import BuildConfig, MvauStyle
    from hwreg.compile.steps import build
    from hwreg.export import export_checked

    head, style = request.param
    grid = GRIDS[head]
    model = random_model("tiny", 4, 4, head_level=head, seed=head, grid=grid)
    out: Path = tmp_path_factory.mktemp(f"build_head{head}_{style}")
    export_checked(model, grid, out / "export.onnx")
    cfg = BuildConfig(grid_shape=grid, target_fps=1000.0, mvau_style=MvauStyle(style))
    build(out / "export.onnx", cfg, out)
    return model, grid, out
