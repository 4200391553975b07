"""L4: every layer of the tiny builds in RTL under Verilator (the 3D ops, FINN's MVAU_rtl and
Thresholding_rtl, the project's ElementwiseAdd/DuplicateStreams RTL), exact vs L3, and L5: the
stitched accelerator (FIFOs, width converters) exact vs L3, through ``emulate(..., rtl=True)``.
Verilator builds are cached between sessions (a cold cache costs about 15 s per layer shape).
"""

from __future__ import annotations

import json

import pytest

from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.config import load_yaml
from hwreg.emulate import emulate, random_pairs

pytestmark = pytest.mark.rtl


def test_l4_layers_and_l5_accelerator_exact_vs_l3(tiny_build, rtl_cache, tmp_path) -> None:
    model, grid, out = tiny_build
    if load_yaml(BuildConfig, out / "build_config.yaml").mvau_style is MvauStyle.hls:
        pytest.skip("MVAU_hls (thresholds inside) has no Vivado-free RTL")
    result = emulate(model, out, random_pairs(grid, 1, seed=11), tmp_path, rtl=True,
                     rtl_cache=rtl_cache)
    l4 = result["L4"]
    assert result["exact"] and l4["exact"], l4
    assert l4["layers_exact"] == l4["layers"] == len(l4["per_layer"]) and not l4["no_rtl"]
    impls = {r["impl"] for r in l4["per_layer"]}
    assert {"MVAU_rtl", "Thresholding_rtl", "ConvolutionInputGenerator3D_hwreg_rtl"} <= impls
    for r in l4["per_layer"]:  # full speed: close to FINN's cycle estimate
        assert r["cycles"] <= 1.1 * r["exp_cycles"] + 64, r
    l5 = result["L5"]
    assert l5["exact_1"] and l5["exact_2"], l5  # one volume, then two back to back
    # steady state: the interval between volumes within 10 % of FINN's slowest layer
    assert l5["finn_max_layer_cycles"] <= l5["interval_cycles"] <= 1.1 * l5["finn_max_layer_cycles"]
    assert l5["cycles_one_volume"] < l5["finn_critical_path_cycles"]  # layers overlap
    # the build's FIFO depths (step_set_fifo_depths, BUILD/fifo_depths.json): the same FIFOs
    assert l5["fifo_sizing"] == "build" and l5["fifo_depths"]
    table = json.loads((out / "fifo_depths.json").read_text())["fifos"]
    assert l5["fifo_depths"] == {name: f["depth"] for name, f in table.items()}
    assert l5["fifo_bits"] == sum(f["bits"] for f in table.values())
    saved = json.loads((tmp_path / "emulation.json").read_text())
    assert saved["L4"]["layers_exact"] == l4["layers"]
