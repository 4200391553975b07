"""Quantiser parameters and integer thresholds that reproduce float32 quantisation exactly.

A hidden layer of the exported graph computes ``Quant(Relu?(acc * acc_scale + bias))`` in
float32, where ``acc`` is the integer accumulator of the conv. :func:`thresholds` finds, per
channel and per output code, the least integer ``acc`` that reaches the code, by evaluating that
float32 expression (:func:`quantised_code`) — not by rounding a float threshold — so a
``MultiThreshold`` on the integer accumulator reproduces the float model's rounding exactly,
ties included.
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto, helper
from qonnx.core.modelwrapper import ModelWrapper

from hwreg.errors import UserError


def quant_params(model: ModelWrapper, node: NodeProto) -> tuple[float, float, int, bool, bool]:
    """``(scale, zero_point, bits, signed, narrow)`` of a per-tensor, zero-point-free ``Quant``
    node with ``ROUND`` rounding; raises UserError for any other ``Quant``."""
    scale = model.get_initializer(node.input[1])
    zp = model.get_initializer(node.input[2])
    bits = model.get_initializer(node.input[3])
    if scale is None or zp is None or bits is None or np.size(scale) != 1 or np.any(zp != 0):
        raise UserError(f"{node.name}: only per-tensor, zero-point-free Quant nodes are "
                        "supported")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    rounding = attrs.get("rounding_mode", b"ROUND")
    if (rounding.decode() if isinstance(rounding, bytes) else rounding) != "ROUND":
        raise UserError(f"{node.name}: rounding mode {rounding!r} is not supported")
    return (float(scale), float(zp), int(bits), bool(attrs.get("signed", 1)),
            bool(attrs.get("narrow", 0)))


def code_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """Integer range of a quantiser."""
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1 - int(narrow)


def quantised_code(acc: np.ndarray, acc_scale: float, bias: np.ndarray, act_scale: float,
                   lo: int, hi: int, relu: bool) -> np.ndarray:
    """The float32 reference: codes of ``Quant(Relu?(acc * acc_scale + bias))``.

    ``acc`` broadcasts against ``bias`` (C,) on its last axis.
    """
    v = (acc.astype(np.float64) * acc_scale).astype(np.float32) + bias.astype(np.float32)
    if relu:
        v = np.maximum(v, np.float32(0))
    return np.clip(np.round(v / np.float32(act_scale)), lo, hi)


def thresholds(acc_scale: float, bias: np.ndarray, act_scale: float, lo: int, hi: int,
               relu: bool) -> np.ndarray:
    """Integer thresholds ``(C, hi - lo)``: ``T[c, j]`` = least integer ``acc`` whose code is
    ``>= lo + j + 1`` (see module docstring)."""
    targets = np.arange(lo + 1, hi + 1, dtype=np.float64)[:, None]  # (m, 1)
    exact = ((targets - 0.5) * act_scale - bias[None, :].astype(np.float64)) / acc_scale
    guess = np.ceil(exact)  # (m, C); float32 rounding moves the true boundary a little

    def reached(acc: np.ndarray) -> np.ndarray:
        return quantised_code(acc, acc_scale, bias, act_scale, lo, hi, relu) >= targets

    # bracket the boundary (widen until code(low) < target <= code(high)), then bisect; the
    # code is monotonic in acc, so this finds the least integer acc reaching each target
    width = np.full(guess.shape, 4.0)
    for _ in range(64):
        low, high = guess - width, guess + width
        bad = reached(low) | ~reached(high)
        if not bad.any():
            break
        width = np.where(bad, width * 4, width)
    else:
        raise AssertionError("threshold bracket not found")  # internal error
    while np.any(high - low > 1):
        mid = np.floor((low + high) / 2)
        hit = reached(mid)
        high, low = np.where(hit, mid, high), np.where(hit, low, mid)
    return high.T.astype(np.float32)  # (C, m)
