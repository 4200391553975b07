"""``--rtl-backend hwreg``: the tiny builds' L4 (every layer in RTL) and L5 (the stitched
accelerator) with hwreg's vendor-neutral MVAU and Thresholding in place of FINN's, exact vs L3
bit for bit, also for FINN's MVAU with embedded thresholds (``mvau_style: hls``, which the
``finn`` backend cannot simulate)."""

from __future__ import annotations

import pytest

from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.config import load_yaml
from hwreg.emulate import emulate, random_pairs

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


def test_l4_l5_exact_with_the_hwreg_backend(tiny_build, rtl_cache, tmp_path) -> None:
    model, grid, out = tiny_build
    if model.cfg.head_level != 0:
        pytest.skip("the head-0 builds cover both MVAU styles")
    style = load_yaml(BuildConfig, out / "build_config.yaml").mvau_style
    result = emulate(model, out, random_pairs(grid, 1, seed=5), tmp_path, rtl=True,
                     rtl_cache=rtl_cache, rtl_backend="hwreg")
    l4, l5 = result["L4"], result["L5"]
    assert result["exact"] and l4["exact"] and l4["rtl_backend"] == "hwreg", l4
    assert l4["layers_exact"] == l4["layers"] and not l4["no_rtl"]
    ours = [r for r in l4["per_layer"] if r["impl"].startswith(("MVAU", "Thresholding"))]
    assert ours and all(r["top"].endswith("_hwreg") for r in ours), ours
    impls = {r["impl"] for r in ours}
    if style is MvauStyle.hls:  # thresholds inside the MVAU (hwreg_mvau + hwreg_thresholding)
        assert "MVAU_hls" in impls, impls
    else:
        assert {"MVAU_rtl", "Thresholding_rtl"} <= impls, impls
    for r in ours:  # full speed: FINN's cycle estimate, plus the pipeline
        assert r["cycles"] <= r["exp_cycles"] + 16, r
    assert l5["exact_1"] and l5["exact_2"], l5  # one volume, then two back to back
    assert l5["finn_max_layer_cycles"] <= l5["interval_cycles"] <= 1.1 * l5["finn_max_layer_cycles"]
