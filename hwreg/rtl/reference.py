"""Python references of the stream ops given RTL here (``hw/hdl``).

Streams are (N, E) integer arrays: N beats of E elements (FINN's folded layout, one row per beat).
"""

from __future__ import annotations

import numpy as np


def add_streams(a: np.ndarray, b: np.ndarray, out_bits: int, out_signed: bool) -> np.ndarray:
    """``hwreg_addstreams``: (N, PE) + (N, PE) -> (N, PE); the sums must fit the output type
    (FINN's ElementwiseAdd chooses it so), else ValueError."""
    if a.shape != b.shape:
        raise ValueError(f"add_streams: shapes {a.shape} and {b.shape} differ")
    s = np.asarray(a, np.int64) + np.asarray(b, np.int64)
    lo, hi = (-(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1) if out_signed else \
        (0, (1 << out_bits) - 1)
    if s.size and (s.min() < lo or s.max() > hi):
        raise ValueError(f"add_streams: sums in [{s.min()}, {s.max()}] leave [{lo}, {hi}]")
    return s


def duplicate_streams(x: np.ndarray, n_out: int) -> list[np.ndarray]:
    """``hwreg_dupstreams``: the same (N, PE) stream on each of ``n_out`` outputs."""
    return [np.array(x, copy=True) for _ in range(n_out)]
