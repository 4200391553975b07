"""The tiny network through every build step: L1 = L2 = L3 exactly, sane reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hwreg.compile.boards import BOARDS, Board, board_info
from hwreg.compile.config import BuildConfig
from hwreg.compile.estimates import estimate_with_buffers, layer_estimates, network_report
from hwreg.compile.ops import HWREG_OPS
from hwreg.compile.steps import STEP_NAMES, build, hw_graph_path
from hwreg.config import load_yaml
from hwreg.emulate import Levels, emulate, random_pairs
from hwreg.errors import UserError


def test_every_step_saved_and_timed(tiny_build) -> None:
    _, grid, out = tiny_build
    for name in STEP_NAMES:
        assert (out / "intermediate_models" / f"{name}.onnx").is_file()
    times = json.loads((out / "time_per_step.json").read_text())
    assert list(times) == list(STEP_NAMES)
    cfg = load_yaml(BuildConfig, out / "build_config.yaml")
    assert cfg.grid_shape == grid and cfg.board is Board.zcu104


def test_hw_graph_is_hardware_only(tiny_build) -> None:
    net, _, out = tiny_build
    model = ModelWrapper(str(hw_graph_path(out)))
    ops = {n.op_type for n in model.graph.node}
    assert all(n.domain == "finn.custom_op.fpgadataflow" for n in model.graph.node)
    assert {"MVAU", "ConvolutionInputGenerator3D_hwreg"} <= ops
    if net.cfg.head_level == 0:  # the tiny net has a decoder only at head level 0
        assert {"UpsampleNearest3D_hwreg", "ElementwiseAdd", "DuplicateStreams"} <= ops
    for node in model.graph.node:
        inst = getCustomOp(node)
        assert inst.get_exp_cycles() > 0
        if node.op_type in HWREG_OPS:
            assert inst.verify_node() == []


def test_l1_l2_l3_exact(tiny_build, tmp_path) -> None:
    model, grid, out = tiny_build
    result = emulate(model, out, random_pairs(grid, 2, seed=3), tmp_path)
    assert result["exact"], result
    assert all(r["max_abs_diff_vs_L1"] == 0 for r in result["levels"].values())
    saved = json.loads((tmp_path / "emulation.json").read_text())
    assert saved["levels"]["L3"]["time_s_per_pair"] > 0


def test_mismatch_names_first_layer(tiny_build) -> None:
    _, grid, out = tiny_build
    levels = Levels(out)
    # corrupt the thresholds of the first conv (inside the MVAU or in its Thresholding layer)
    node = next(n for n in levels.hw.graph.node
                if n.op_type == "Thresholding" or (n.op_type == "MVAU" and len(n.input) == 3))
    thr = levels.hw.get_initializer(node.input[-1])
    levels.hw.set_initializer(node.input[-1], np.full_like(thr, thr.min()))  # all steps at once
    x = next(iter(random_pairs(grid, 1))).x
    _, ctx2 = levels.l2(x)
    _, ctx3 = levels.l3(x)
    first = levels.qonnx.graph.node
    where = levels.first_mismatch(ctx2, ctx3)
    conv_quant = next(n.name for n in first if n.op_type == "Quant"
                      and n.output[0] in levels.tensor_map and n.input[0] != first[0].input[0])
    assert where.startswith(conv_quant), (where, conv_quant)


def test_reports_present_and_sane(tiny_build) -> None:
    _, _, out = tiny_build
    rep = out / "report"
    layers = json.loads((rep / "estimate_layer_resources_cycles.json").read_text())
    perf = json.loads((rep / "estimate_network_performance.json").read_text())
    assert all(r["cycles"] > 0 for r in layers.values())
    assert sum(r["LUT"] for r in layers.values()) > 0
    assert perf["fits"] and perf["estimated_pairs_per_s"] >= 1000.0
    assert 0 < perf["pipeline_balance_mvau"] <= 1
    assert (rep / "estimates.md").is_file()
    folding = json.loads((out / "folding_config.json").read_text())
    assert any(k.startswith("ConvolutionInputGenerator3D_hwreg") for k in folding)
    hdl = json.loads((out / "hdl" / "hdl_report.json").read_text())
    assert all(v["status"] == "generated" for v in hdl.values()), hdl
    swg = next(v for v in hdl.values() if v["impl"].startswith("ConvolutionInputGenerator3D"))
    assert any(f.endswith("hwreg_swg3d.sv") for f in swg["files"])


@pytest.mark.parametrize("board", list(Board))
def test_tiny_net_fits_every_board(tiny_build, board: Board) -> None:
    _, _, out = tiny_build
    model = ModelWrapper(str(hw_graph_path(out)))
    info = board_info(board)
    table = json.loads((out / "fifo_depths.json").read_text())
    _, _, report = estimate_with_buffers(model, info, 200e6, table)  # FIFOs counted
    assert report["fits"], (board, report["utilisation"])
    assert report["totals"]["LUT"] > network_report(layer_estimates(model, info.finn_part),
                                                    info, 200e6)["totals"]["LUT"]
    assert set(BOARDS) == set(Board)


def test_resume_and_folding_json(tiny_build, tmp_path) -> None:
    model, grid, out = tiny_build
    # resume from the folding step with the saved folding config: same folding, same results
    cfg = load_yaml(BuildConfig, out / "build_config.yaml")
    import shutil

    work = tmp_path / "b"
    shutil.copytree(out, work)
    (work / "report" / "estimates.md").unlink()
    cfg.folding_config = out / "folding_config.json"
    build(work / "export.onnx", cfg, work, from_step="step_set_folding",
          to_step="step_estimates")
    assert (work / "report" / "estimates.md").is_file()
    a = json.loads((out / "folding_config.json").read_text())
    b = json.loads((work / "folding_config.json").read_text())
    assert a == b
    assert emulate(model, work, random_pairs(grid, 1))["exact"]
    with pytest.raises(UserError, match="unknown step"):
        build(work / "export.onnx", cfg, work, from_step="step_nope")


def test_finn_analyses_include_3d_ops(tiny_build) -> None:
    """FINN's own analyses see the 3D ops once the graph is specialised."""
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    from hwreg.compile.estimates import specialised_copy

    _, _, out = tiny_build
    part = board_info(Board.zcu104).part
    spec = specialised_copy(ModelWrapper(str(hw_graph_path(out))), part)
    cycles = exp_cycles_per_layer(spec)
    res = res_estimation(spec, part)
    swg = [n for n in cycles if n.startswith("ConvolutionInputGenerator3D_hwreg_rtl")]
    assert swg and all(cycles[n] > 0 and res[n]["LUT"] > 0 for n in swg)
    assert len(cycles) == len(spec.graph.node)


def test_float_model_refused(tmp_path) -> None:
    from hwreg.export import export_model
    from hwreg.model import ModelConfig, build_model

    with pytest.raises(UserError, match="float model"):
        export_model(build_model(ModelConfig(preset="tiny")), (8, 8, 8), tmp_path / "m.onnx")


def test_folding_meets_budget(tiny_build) -> None:
    _, _, out = tiny_build
    model = ModelWrapper(str(hw_graph_path(out)))
    budget = BuildConfig(target_fps=1000.0).target_cycles()
    cycles = [getCustomOp(n).get_exp_cycles() for n in model.graph.node]
    assert max(cycles) <= budget
    assert np.all(np.array(cycles) > 0)


def test_vivado_step_skips_without_vivado(tiny_build, tmp_path, monkeypatch, capsys) -> None:
    """Without vivado: one skip message. With a (fake) vivado on PATH the step goes to FINN's
    builder, which cannot be imported here (no XILINX_VIVADO, no mip): one clear error."""
    from hwreg.compile.steps import step_vivado_synthesis

    _, _, out = tiny_build
    model = ModelWrapper(str(hw_graph_path(out)))
    cfg = load_yaml(BuildConfig, out / "build_config.yaml")
    monkeypatch.setenv("PATH", str(tmp_path))
    step_vivado_synthesis(model, cfg, out)
    assert "vivado not on PATH" in capsys.readouterr().out
    fake = tmp_path / "vivado"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(UserError, match="FINN's builder cannot be imported"):
        step_vivado_synthesis(model, cfg, out)


def test_labelled_pairs_report_accuracy(tiny_build, ibsr_dataset, tmp_path) -> None:
    """Held-out data pairs: exact levels, Dice/TRE/folding of L3 next to a float model's (L0)."""
    from hwreg.config import DataConfig, Layout
    from hwreg.emulate import data_pairs
    from hwreg.model import ModelConfig, build_model

    model, grid, out = tiny_build
    root = ibsr_dataset(n=4, shape=(16, 12, 16))
    cfg = DataConfig(root=root, layout=Layout.ibsr, grid_shape=grid, grid_spacing=2.0,
                     n_train=2, n_test=2, label_ids=[2, 41])
    pairs = list(data_pairs(cfg, 2))
    assert len(pairs) == 2 and pairs[0].fixed_labels is not None
    float_model = build_model(ModelConfig(preset="tiny", head_level=model.cfg.head_level))
    result = emulate(model, out, pairs, tmp_path, float_model=float_model)
    assert result["exact"]
    for level in ("L3", "L0"):
        acc = result["accuracy"][level]
        assert 0.0 <= acc["dice"] <= 1.0 and acc["tre_mm"] >= 0.0
