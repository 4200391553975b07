"""FIFO sizing by simulation (the stitched tiny accelerators under Verilator, input at the
bottleneck rate): the analytic bound is never below a simulated depth, and the accelerator
with the simulated depths is exact and keeps full throughput."""

from __future__ import annotations

import pytest
from qonnx.core.modelwrapper import ModelWrapper

from hwreg.compile.boards import board_info
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.compile.fifos import analytic_depths, probe_caps
from hwreg.compile.steps import hw_graph_path
from hwreg.config import load_yaml
from hwreg.emulate import Levels, random_pairs
from hwreg.rtl.stitch import PROBE_DEPTH, simulate_accelerator, size_fifos

pytestmark = pytest.mark.rtl


def test_analytic_bound_covers_simulated_depths(tiny_build, rtl_cache, tmp_path) -> None:
    _, grid, out = tiny_build
    cfg = load_yaml(BuildConfig, out / "build_config.yaml")
    if cfg.mvau_style is MvauStyle.hls:
        pytest.skip("MVAU_hls (thresholds inside) has no Vivado-free RTL")
    model = ModelWrapper(str(hw_graph_path(out)))
    part = board_info(cfg.board).part
    probe = size_fifos(model, tmp_path / "size", part, cfg.clock_ns, rtl_cache)
    bound = analytic_depths(model)
    assert probe["depths"].keys() == bound.keys()
    assert not probe["saturated"], probe["saturated"]  # no FIFO reached the probe's depth
    for name, depth in probe["depths"].items():
        assert 2 <= depth <= bound[name], (name, depth, bound[name], probe["fills"][name])
        assert probe["probe_depths"][name] >= bound[name]  # no backlog pushed upstream
    caps = probe_caps(model)
    assert caps and all(probe["depths"][n] <= c < PROBE_DEPTH for n, c in caps.items())
    # the accelerator with the simulated depths: exact, and full throughput
    x = next(iter(random_pairs(grid, 1, seed=4))).x
    _, ctx3 = Levels(out).l3(x)
    l5 = simulate_accelerator(model, ctx3, tmp_path / "l5", part, cfg.clock_ns, rtl_cache,
                              depths=probe["depths"])
    assert l5["exact"] and l5["fifo_sizing"] == "build"
    assert l5["fifo_depths"] == probe["depths"]
    assert l5["interval_cycles"] <= 1.1 * l5["finn_max_layer_cycles"]
