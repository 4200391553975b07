"""Integer thresholds reproduce the float32 quantiser exactly."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.custom_op.general.multithreshold import multithreshold

from hwreg.compile.lower import code_range, quantised_code, thresholds


@pytest.mark.parametrize(("bits", "signed", "relu"), [(4, False, True), (2, False, True),
                                                       (8, True, False), (3, True, False)])
def test_thresholds_match_float_quantiser(bits: int, signed: bool, relu: bool) -> None:
    rng = np.random.default_rng(bits)
    acc_scale, act_scale = 2.0 ** -12, 2.0 ** -4
    bias = rng.normal(0, 0.3, size=5).astype(np.float32)
    # include exact ties: a bias that is a multiple of the accumulator step
    bias[0] = np.float32(3 * 2.0 ** -5)
    lo, hi = code_range(bits, signed, narrow=False)
    thr = thresholds(acc_scale, bias, act_scale, lo, hi, relu)
    assert thr.shape == (5, hi - lo)
    acc = np.arange(-40000, 40000, dtype=np.float64)[:, None].repeat(5, axis=1)  # (N, C)
    ref = quantised_code(acc, acc_scale, bias, act_scale, lo, hi, relu)
    got = multithreshold(acc, thr, out_bias=lo)
    assert np.array_equal(got, ref)
