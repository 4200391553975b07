"""The vendor-neutral MVAU and Thresholding (``hdl/hwreg_mvau.sv``, ``hdl/hwreg_thresholding.sv``)
under Verilator against their Python references (:mod:`hwreg.rtl.mvau`), at full speed and with
random input gaps and output back-pressure; the references against FINN's/QONNX's own
semantics."""

from __future__ import annotations

import numpy as np
import pytest

from hwreg.rtl import harness
from hwreg.rtl.harness import pack, unpack
from hwreg.rtl.mvau import (
    MvauSpec,
    ThresholdSpec,
    mvau_reference,
    threshold_reference,
    write_mvau_top,
    write_threshold_top,
)
from hwreg.rtl.tops import padded

pytestmark = pytest.mark.rtl


def _rand(rng: np.random.Generator, shape: tuple[int, ...], bits: int, signed: bool
          ) -> np.ndarray:
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    return rng.integers(lo, hi, size=shape)


def _acc_bits(s: MvauSpec) -> int:
    """Bits that hold every sum (as FINN's MinimizeAccumulatorWidth)."""
    xmax = 1 << (s.i_bits - (1 if s.i_signed else 0))
    wmax = 1 << (s.w_bits - (1 if s.w_signed else 0))
    return (s.mw * xmax * wmax).bit_length() + 1


def _run(exe, x, n_out, wo, tmp_path, runtime, tag: str):
    """Yield (stall, output beats, cycles) at full speed and with 40% stalls."""
    for stall in (0, 40):
        got, cycles = harness.run(exe, [x], [n_out], [wo], tmp_path / f"{tag}{stall}", runtime,
                                  stall_percent=stall, seed=stall + 11)
        yield stall, got[0], cycles


MVAU_CASES = [  # mw, mh, simd, pe, (i_bits, i_signed), (w_bits, w_signed)
    (8, 4, 2, 2, (4, False), (4, True)),   # the tiny net's kind: UINT4 x INT4
    (12, 6, 3, 3, (3, True), (2, True)),   # odd SIMD/PE (a non-power-of-two adder tree)
    (6, 4, 6, 1, (4, True), (1, False)),   # SF = 1 (a beat is a whole vector), 1-bit weights
    (10, 2, 5, 2, (8, True), (8, True)),   # NF = 1, 8-bit operands, 80-bit weight words
]


@pytest.mark.parametrize("case", MVAU_CASES, ids=[f"mvau{i}" for i in range(len(MVAU_CASES))])
def test_mvau_rtl_matches_reference(tmp_path, rtl_cache, case) -> None:
    mw, mh, simd, pe, (ib, isg), (wb, wsg) = case
    s0 = MvauSpec(mw, mh, simd, pe, ib, isg, wb, wsg, 32, True, 32)
    a = _acc_bits(s0)
    spec = MvauSpec(mw, mh, simd, pe, ib, isg, wb, wsg, a, True, a)
    rng = np.random.default_rng(mw * mh)
    w = _rand(rng, (mw, mh), wb, wsg)
    vectors = 7
    x = _rand(rng, (vectors * mw // simd, simd), ib, isg)
    ref = mvau_reference(x, w, spec)
    assert np.array_equal(ref.reshape(vectors, mh), x.reshape(vectors, mw) @ w)
    src, rt = write_mvau_top(tmp_path / "hdl", "mvau_top", spec, w)
    wi, wo = padded(simd * ib), padded(pe * a)
    exe = harness.build(src, "mvau_top", [harness.Port("in0_V", wi)],
                        [harness.Port("out0_V", wo)], rtl_cache)
    for stall, got, cycles in _run(exe, pack(x, ib, wi), len(ref), wo, tmp_path, rt, "r"):
        assert np.array_equal(unpack(got, pe, a, True), ref), f"stall {stall}"
        if stall == 0:  # FINN's cycles: MW/SIMD * MH/PE per vector, plus the pipeline
            assert cycles <= vectors * (mw // simd) * (mh // pe) + 4


def test_mvau_rtl_wraps_like_the_reference(tmp_path, rtl_cache) -> None:
    """A too-narrow accumulator wraps in two's complement, in RTL as in the reference (and the
    reference then differs from the true product, so the test sees the accumulator width)."""
    spec = MvauSpec(8, 2, 4, 1, 4, False, 4, True, 6, True, 6)
    rng = np.random.default_rng(5)
    w, x = _rand(rng, (8, 2), 4, True), _rand(rng, (20 * 2, 4), 4, False)
    ref = mvau_reference(x, w, spec)
    assert not np.array_equal(ref.reshape(-1, 2), x.reshape(-1, 8) @ w)
    src, rt = write_mvau_top(tmp_path / "hdl", "mvau_wrap", spec, w)
    exe = harness.build(src, "mvau_wrap", [harness.Port("in0_V", 16)],
                        [harness.Port("out0_V", 8)], rtl_cache)
    for stall, got, _ in _run(exe, pack(x, 4, 16), len(ref), 8, tmp_path, rt, "w"):
        assert np.array_equal(unpack(got, 1, 6, True), ref), f"stall {stall}"


def _thresholds(rng: np.random.Generator, c: int, n: int, lo: int, hi: int,
                per_tensor: bool) -> np.ndarray:
    """Sorted thresholds, some outside the input range and some not integers."""
    t = np.sort(rng.integers(lo - 3, hi + 4, size=(1 if per_tensor else c, n)), axis=1)
    return t + rng.choice([0.0, -0.5], size=t.shape)


THR_CASES = [  # c, pe, n, (i_bits, i_signed), o_bits, bias
    (4, 2, 15, (8, True), 4, 0),      # UINT4 activation of an accumulator
    (6, 3, 7, (5, False), 4, -4),     # INT4 output (ActVal < 0), unsigned input
    (5, 5, 3, (6, True), 2, 0),       # CF = 1
    (8, 1, 1, (3, True), 1, 0),       # one threshold, PE = 1
]


@pytest.mark.parametrize("per_tensor", [False, True], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("case", THR_CASES, ids=[f"thr{i}" for i in range(len(THR_CASES))])
def test_thresholding_rtl_matches_reference(tmp_path, rtl_cache, case, per_tensor) -> None:
    from qonnx.custom_op.general.multithreshold import multithreshold

    c, pe, n, (ib, isg), ob, bias = case
    spec = ThresholdSpec(c, pe, n, ib, isg, ob, bias)
    rng = np.random.default_rng(c * n + per_tensor)
    lo, hi = (-(1 << (ib - 1)), (1 << (ib - 1)) - 1) if isg else (0, (1 << ib) - 1)
    thr = _thresholds(rng, c, n, lo, hi, per_tensor)
    pixels = 23
    x = _rand(rng, (pixels * c // pe, pe), ib, isg)
    ref = threshold_reference(x, thr, spec)
    finn = multithreshold(x.reshape(pixels, c).astype(np.float64), thr, out_bias=bias,
                          channels_last=True)  # QONNX's op, as FINN's Thresholding runs it
    assert np.array_equal(ref.reshape(pixels, c), finn)
    src, rt = write_threshold_top(tmp_path / "hdl", "thr_top", spec, thr)
    wi, wo = padded(pe * ib), padded(pe * ob)
    exe = harness.build(src, "thr_top", [harness.Port("in0_V", wi)],
                        [harness.Port("out0_V", wo)], rtl_cache)
    for stall, got, cycles in _run(exe, pack(x, ib, wi), len(ref), wo, tmp_path, rt, "t"):
        assert np.array_equal(unpack(got, pe, ob, bias < 0), ref), f"stall {stall}"
        if stall == 0:
            assert cycles <= len(x) + 3  # one beat per cycle


def test_mvau_with_thresholds_matches_reference(tmp_path, rtl_cache) -> None:
    """FINN's MVAU with an activation (``mvau_style: hls``): the MVAU's accumulators through
    the thresholding, in one top."""
    spec = MvauSpec(9, 6, 3, 2, 4, False, 4, True, 12, True, 12)
    t = ThresholdSpec(6, 2, 15, 12, True, 4, 0)
    rng = np.random.default_rng(3)
    w, x = _rand(rng, (9, 6), 4, True), _rand(rng, (11 * 3, 3), 4, False)
    thr = _thresholds(rng, 6, 15, -200, 200, False)
    ref = threshold_reference(mvau_reference(x, w, spec), thr, t)
    src, rt = write_mvau_top(tmp_path / "hdl", "mvau_act", spec, w, (t, thr))
    exe = harness.build(src, "mvau_act", [harness.Port("in0_V", 16)],
                        [harness.Port("out0_V", 8)], rtl_cache)
    for stall, got, _ in _run(exe, pack(x, 4, 16), len(ref), 8, tmp_path, rt, "a"):
        assert np.array_equal(unpack(got, 2, 4, False), ref), f"stall {stall}"
    assert len(np.unique(ref)) > 4  # the thresholds spread the outputs


def test_threshold_reference_rejects_nothing_silently() -> None:
    """Hand-computed: thresholds [1, 3] on x = 0..4 give 0, 1, 1, 2, 2 (+ bias)."""
    spec = ThresholdSpec(1, 1, 2, 4, False, 3, -1)
    got = threshold_reference(np.arange(5)[:, None], np.array([[1, 3]]), spec)
    assert np.array_equal(got[:, 0], [-1, 0, 0, 1, 1])
