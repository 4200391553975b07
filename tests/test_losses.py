"""Label-driven loss: zero for identical labels, exact smoothing, falls on a toy pair."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from hwreg.losses import (
    ImageSimilarity,
    LossConfig,
    Regulariser,
    bending_energy,
    gaussian_kernel,
    gaussian_smooth,
    gradient_norm,
    lncc,
    registration_loss,
)


def _cube(shape: tuple[int, int, int], lo: int, hi: int) -> torch.Tensor:
    vol = torch.zeros(1, 1, *shape)
    vol[..., lo:hi, lo:hi, lo:hi] = 1.0
    return vol


def test_loss_is_zero_for_identical_labels_and_identity() -> None:
    label = _cube((12, 12, 12), 3, 8)
    ddf = torch.zeros(1, 3, 12, 12, 12)
    loss, parts = registration_loss(ddf, label, label, LossConfig())
    assert abs(float(loss)) < 1e-6 and parts["reg"] == 0.0


def test_matrix_smoothing_equals_spatial_convolution() -> None:
    vol = torch.rand(2, 3, 9, 12, 7, dtype=torch.float64)
    for sigma in (1.0, 2.0, 4.0, 16.0):
        ref = vol
        for axis in range(3):
            kernel = gaussian_kernel(sigma, vol.shape[2 + axis] - 1).double()
            shape, pad = [1, 1, 1, 1, 1], [0, 0, 0]
            shape[2 + axis], pad[axis] = kernel.numel(), kernel.numel() // 2
            ref = functional.conv3d(ref.reshape(-1, 1, *ref.shape[2:]), kernel.view(shape),
                                    padding=tuple(pad)).reshape(vol.shape)
        torch.testing.assert_close(gaussian_smooth(vol, sigma), ref, rtol=0, atol=1e-12)


def test_regularisers_vanish_on_affine_fields() -> None:
    grid = torch.stack(torch.meshgrid(*[torch.arange(8.0)] * 3, indexing="ij"))[None]
    affine = 0.1 * grid + 0.05 * grid.flip(1)  # linear in the coordinates
    assert float(bending_energy(affine)) < 1e-10
    assert float(gradient_norm(torch.ones(1, 3, 5, 5, 5))) == 0.0
    assert float(gradient_norm(affine)) > 0


def test_loss_falls_when_optimising_a_shift() -> None:
    """A moving cube one voxel off the fixed cube: a few Adam steps on a free DDF lower the loss."""
    fixed, moving = _cube((12, 12, 12), 3, 8), _cube((12, 12, 12), 4, 9)
    ddf = torch.zeros(1, 3, 12, 12, 12, requires_grad=True)
    cfg = LossConfig(dice_sigmas=[0, 1, 2], regulariser=Regulariser.gradient, reg_weight=0.01)
    opt = torch.optim.Adam([ddf], lr=0.1)
    first = None
    for _ in range(20):
        loss, _ = registration_loss(ddf, fixed, moving, cfg)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(registration_loss(ddf, fixed, moving, cfg)[0]) < 0.5 * first
    assert float(ddf[0, :, 5, 5, 5].mean()) > 0.3  # moves towards +1 voxel on every axis


def test_lncc_is_one_for_linear_intensity_changes_and_lower_otherwise() -> None:
    torch.manual_seed(0)
    a = torch.rand(1, 1, 10, 11, 9)
    assert float(lncc(a, 3 * a + 0.5)) > 0.999
    assert float(lncc(a, torch.rand(1, 1, 10, 11, 9))) < 0.2


def test_image_term_is_added_with_its_weight() -> None:
    label = _cube((12, 12, 12), 3, 8)
    image = torch.rand(1, 1, 12, 12, 12)
    ddf = torch.zeros(1, 3, 12, 12, 12)
    plain, _ = registration_loss(ddf, label, label, LossConfig())
    cfg = LossConfig(image=ImageSimilarity.mse, image_weight=2.0)
    with_mse, parts = registration_loss(ddf, label, label, cfg, image, image + 0.1)
    assert parts["image"] == pytest.approx(0.01, rel=1e-4)
    assert float(with_mse - plain) == pytest.approx(0.02, rel=1e-4)
    with pytest.raises(ValueError, match="needs the fixed and moving images"):
        registration_loss(ddf, label, label, cfg)
