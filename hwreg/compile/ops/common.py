"""Shared helpers of the project's FINN hardware ops: stream geometry and memory estimates.

Resource estimates of the 3D ops are first-order models in the spirit of FINN's own (a buffer is
mapped onto 18 Kib BRAMs of 1024 x 18 bits, 288 Kib URAMs of 4096 x 72 bits or 64-bit LUTRAMs,
plus a fixed control cost); they are estimates for folding and fit checks, not synthesis results.
"""

from __future__ import annotations

import math

#: LUTs of the loop counters, address generation and AXI-stream handshake of one 3D op.
CONTROL_LUTS = 300


def memory_cost(width_bits: int, depth: int, ram_style: str) -> dict[str, int]:
    """BRAM_18K / URAM / LUT count of a ``depth`` x ``width_bits`` buffer in ``ram_style``.

    ``auto`` picks LUTRAM below 4 Kib and BRAM above (URAM only when asked for).
    """
    bits = width_bits * depth
    if bits == 0:
        return {"BRAM_18K": 0, "URAM": 0, "LUT": 0}
    style = ram_style
    if style == "auto":
        style = "distributed" if bits < 4096 else "block"
    if style == "distributed":
        return {"BRAM_18K": 0, "URAM": 0, "LUT": math.ceil(bits / 64)}
    if style == "ultra":
        return {"BRAM_18K": 0, "URAM": math.ceil(width_bits / 72) * math.ceil(depth / 4096),
                "LUT": 0}
    # block RAM: widths above 18 bits use several 1024 x 18 primitives side by side
    return {"BRAM_18K": math.ceil(width_bits / 18) * math.ceil(depth / 1024), "URAM": 0,
            "LUT": 0}


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n``, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]
