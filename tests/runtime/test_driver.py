"""The package driver's host side without a transport: byte packing equals the Verilator
harness's packing, prologue/epilogue equal :mod:`hwreg.runtime.host`, the numpy upsampling
equals :func:`hwreg.warp.upsample_ddf`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hwreg.rtl.harness import pack
from hwreg.runtime.driver import (
    MANIFEST_FORMAT,
    Accelerator,
    load_manifest,
    pack_bytes,
    unpack_bytes,
    upsample_ddf_np,
)
from hwreg.runtime.host import epilogue, prologue
from hwreg.warp import upsample_ddf


@pytest.mark.parametrize(("bits", "elems", "nbytes"), [(8, 2, 2), (4, 3, 2), (7, 5, 8),
                                                        (8, 3, 4), (12, 6, 16)])
def test_pack_bytes_matches_harness(bits, elems, nbytes) -> None:
    rng = np.random.default_rng(bits)
    v = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(11, elems))
    got = pack_bytes(v, bits, nbytes)
    ref = pack(v, bits, 8 * nbytes).view(np.uint8)[:, :nbytes]  # little-endian words
    assert got.shape == (11, nbytes) and np.array_equal(got, ref)
    assert np.array_equal(unpack_bytes(got, elems, bits, signed=True), v)


class Loopback:
    """A transport that returns prepared output beats (the host side alone)."""

    def __init__(self, out: np.ndarray) -> None:
        self.out, self.seen = out, None

    def transfer(self, beats: np.ndarray) -> np.ndarray:
        self.seen = beats
        return self.out


def test_prologue_epilogue_match_host(tmp_path) -> None:
    grid, out_grid = (4, 6, 4), (2, 3, 2)
    manifest = {"format": MANIFEST_FORMAT,
                "input": {"grid": list(grid), "channels": 2, "bits": 8, "scale": 2.0 ** -8},
                "output": {"grid": list(out_grid), "channels": 3, "bits": 8, "signed": True,
                           "scale": 0.25},
                "stream": {"simd": 2, "pe": 3, "dma_in_bytes": 2, "dma_out_bytes": 4}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    rng = np.random.default_rng(0)
    codes = rng.integers(-128, 128, size=(1, int(np.prod(out_grid)), 3))
    transport = Loopback(pack_bytes(codes[0], 8, 4))
    acc = Accelerator(tmp_path, transport)
    x = rng.uniform(-0.1, 1.1, size=(2, *grid)).astype(np.float32)
    ddf = acc.ddf(x)
    assert np.array_equal(unpack_bytes(transport.seen, 2, 8, False), prologue(x[None])[0])
    got = acc.epilogue(transport.out)
    assert np.array_equal(got, epilogue(codes, out_grid)[0])
    ref = upsample_ddf(torch.from_numpy(got[None] * 0.25).float(), grid)[0].numpy()
    assert ddf.shape == (3, *grid) and np.allclose(ddf, ref, atol=1e-5)
    with pytest.raises(ValueError, match="input shape"):
        acc.prologue(x[:, :2])


def test_upsample_matches_torch() -> None:
    ddf = np.random.default_rng(1).normal(size=(3, 3, 5, 4)).astype(np.float32)
    for shape in ((6, 10, 8), (5, 9, 7), (3, 5, 4)):
        ref = upsample_ddf(torch.from_numpy(ddf[None]), shape)[0].numpy()
        assert np.allclose(upsample_ddf_np(ddf, shape), ref, atol=1e-5)


def test_manifest_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match="not found"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        load_manifest(tmp_path)
