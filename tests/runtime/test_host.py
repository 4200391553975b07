"""The host prologue/epilogue: exact codes and layouts."""

from __future__ import annotations

import numpy as np
import torch

from hwreg.runtime.host import ddf_from_codes, epilogue, prologue, quantise_input
from hwreg.warp import upsample_ddf


def test_prologue_codes_exact_and_ndhwc() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.1, 1.1, (2, 2, 4, 6, 5)).astype(np.float32)
    x[0, 0, 0, 0, :3] = [0.5 / 256, 1.5 / 256, 254.5 / 256]  # ties round to even, like numpy
    ref = np.round(np.clip(x.astype(np.float64) * 256, 0, 255))  # float64 reference
    codes = quantise_input(x)
    assert codes.dtype == np.uint8 and codes.shape == (2, 4 * 6 * 5, 2)
    assert codes[0, :3, 0].tolist() == [0, 2, 254]
    np.testing.assert_array_equal(codes, ref.transpose(0, 2, 3, 4, 1).reshape(2, -1, 2))
    np.testing.assert_array_equal(prologue(x), codes.astype(np.float32))


def test_epilogue_to_model_grid_ddf() -> None:
    rng = np.random.default_rng(1)
    half, full = (3, 4, 2), (6, 8, 4)
    codes = rng.integers(-128, 128, (1, 3 * 4 * 2, 3))
    ncdhw = epilogue(codes, half)
    assert ncdhw.shape == (1, 3, *half)
    assert ncdhw[0, 2, 1, 2, 1] == codes[0, (1 * 4 + 2) * 2 + 1, 2]  # NDHWC flat -> NCDHW
    ddf = ddf_from_codes(codes, half, 0.125, full)
    ref = upsample_ddf(torch.from_numpy(ncdhw).float() * 0.125, full)
    torch.testing.assert_close(ddf, ref, rtol=0, atol=0)
    assert torch.equal(ddf_from_codes(codes, half, 0.125, half), torch.from_numpy(ncdhw) * 0.125)
