"""Fixtures of the registration tests: tiny W4A4 model files (a non-trivial one, and one whose
DDF is exactly zero) and a small fixed/moving/label NIfTI pair with oblique, anisotropic grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hwreg.checkpoint import atomic_save
from hwreg.config import DataConfig
from hwreg.model import ModelConfig, build_model
from hwreg.run import RunConfig
from hwreg.train import model_dict
from tests.conftest import write_nifti


def _model_file(folder: Path, head_std: float) -> Path:
    torch.manual_seed(0)
    cfg = RunConfig(data=DataConfig(grid_shape=(8, 12, 8), grid_spacing=4.0),
                    model=ModelConfig(preset="tiny", weight_bits=4, act_bits=4))
    model = build_model(cfg.model)
    torch.nn.init.normal_(model.head.weight, std=head_std)
    if head_std == 0 and model.head.bias is not None:
        torch.nn.init.zeros_(model.head.bias)
    model.train()
    for _ in range(3):  # let the activation quantizers collect statistics
        model(torch.rand(1, 1, 8, 12, 8), torch.rand(1, 1, 8, 12, 8))
    path = folder / "model.pt"
    atomic_save(model_dict(cfg, model.eval(), 0, {}), path)
    return path


@pytest.fixture(scope="package")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny W4A4 model file with a non-trivial head (so the DDF is not zero)."""
    return _model_file(tmp_path_factory.mktemp("model"), 0.3)


@pytest.fixture(scope="package")
def zero_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny W4A4 model file whose head is zero: its DDF is exactly 0 voxels."""
    return _model_file(tmp_path_factory.mktemp("zero_model"), 0.0)


def make_pair(tmp_path: Path, seed: int = 0) -> tuple[Path, Path, Path, np.ndarray]:
    """FIXED (oblique, stored 3D), MOVING (LAS, anisotropic, stored 4D) and MOVING's labels."""
    rng = np.random.default_rng(seed)
    fixed_affine = np.array([[0, -1.5, 0, 20], [0, 0, 2.0, -30], [-1.2, 0, 0, 10], [0, 0, 0, 1]])
    fixed = write_nifti(tmp_path / "fixed.nii.gz", rng.uniform(0, 100, (13, 17, 11))
                        .astype(np.float32), fixed_affine)
    moving_data = np.zeros((15, 9, 14), np.float32)
    moving_data[3:12, 2:7, 4:11] = rng.uniform(50, 100, (9, 5, 7))
    moving_affine = np.diag([-2.0, 2.5, 1.5, 1.0])  # LAS, anisotropic
    moving = write_nifti(tmp_path / "moving.nii.gz", moving_data[..., None], moving_affine)
    labels = np.zeros((15, 9, 14), np.int16)
    labels[3:8, 2:7, 4:11], labels[8:12, 2:7, 4:11] = 17, 1000
    label = write_nifti(tmp_path / "label.nii.gz", labels, moving_affine)
    return fixed, moving, label, fixed_affine
