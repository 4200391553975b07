"""Mismatches fail loudly: a build whose weights or thresholds were altered makes ``hwreg
emulate`` exit 1 and name the first differing layer, at L3 (Python) and at L4 (RTL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper

from hwreg.cli import main
from hwreg.compile.steps import hw_graph_path

GRID = (8, 8, 8)
MODEL = "random:tiny:w4a4:h0"  # the model hwreg.checkpoint.random_model builds for this spec


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny W4A4 build (the ``random:tiny:w4a4:h0`` model) through the folding step."""
    out = tmp_path_factory.mktemp("mismatch") / "build"
    assert main(["build", "--model", MODEL, "--grid", *map(str, GRID), "--target-fps", "1000",
                 "--to-step", "step_set_folding", "--out", str(out)]) == 0
    return out


def _alter(model: ModelWrapper, node_name: str) -> str:
    """Negate one output channel's weights of an MVAU, or raise one channel's thresholds;
    returns the node's (last) integer output tensor that the change reaches first."""
    node = model.get_node_from_name(node_name)
    values = model.get_initializer(node.input[1]).copy()
    if node.op_type == "MVAU":
        values[:, 0] = -values[:, 0] if np.any(values[:, 0]) else 1
    else:  # Thresholding: every threshold of channel 0 one higher
        values[0] = values[0] + 1
    model.set_initializer(node.input[1], values)
    consumer = model.find_consumer(node.output[0])
    if node.op_type == "MVAU" and consumer is not None and consumer.op_type == "Thresholding":
        return consumer.output[0]  # the conv's activation is the separate threshold layer
    return node.output[0]


def _altered_copy(build: Path, tmp_path: Path, node_name: str) -> tuple[Path, str]:
    work = tmp_path / "build"
    shutil.copytree(build, work)
    model = ModelWrapper(str(hw_graph_path(work)))
    tensor = _alter(model, node_name)
    model.save(str(hw_graph_path(work)))
    return work, tensor


@pytest.mark.slow
@pytest.mark.parametrize("node", ["MVAU_0", "MVAU_2", "Thresholding_1"])
def test_l3_names_the_first_altered_layer(build: Path, tmp_path: Path, node: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "--model", MODEL, "--build", str(build), "--pairs", "1",
                 "--out", str(tmp_path / "ok")]) == 0  # the unaltered build is exact
    work, tensor = _altered_copy(build, tmp_path, node)
    capsys.readouterr()
    status = main(["emulate", "--model", MODEL, "--build", str(work), "--pairs", "1",
                   "--out", str(tmp_path / "emu")])
    out = capsys.readouterr().out
    assert status == 1, out
    line = next(ln for ln in out.splitlines() if ln.startswith("MISMATCH"))
    assert line.endswith(f"integer tensor {tensor})"), line
    assert (tmp_path / "emu" / "emulation.json").is_file()  # the evidence is kept


@pytest.mark.slow
@pytest.mark.rtl
def test_l4_names_the_altered_layer(build: Path, tmp_path: Path, rtl_cache: Path) -> None:
    """L3 runs the build as made; the RTL of an altered MVAU must then differ from it, and L4
    names that layer (and L5 is not run on an inexact L4)."""
    from hwreg.checkpoint import load_model_spec
    from hwreg.emulate import Levels, random_pairs, rtl_levels

    levels = Levels(build)
    pair = next(random_pairs(GRID, 1, seed=5))
    _, ctx3 = levels.l3(pair.x)
    _alter(levels.hw, "MVAU_1")  # the RTL is generated from this graph, L3 ran before
    res = rtl_levels(build, levels, ctx3, tmp_path / "rtl", rtl_cache)
    assert res["L4"]["first_mismatch"] == "MVAU_1" and not res["L4"]["exact"]
    assert res["L5"] == {"exact": False, "why": "L4 not exact"}
    assert load_model_spec(MODEL)[1] is None
