"""``hwreg synth``: Yosys synthesis of a build's layers, the unrolled constant-weight MVAU (checked
bit for bit against the layer's integers under Verilator) and the pruning payoff."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hwreg.errors import UserError
from hwreg.synth import mvau_const
from hwreg.synth.synth import synth_build, verify_mvau
from hwreg.synth.yosys import resources, synthesize

pytestmark = pytest.mark.synth


def test_resources_counts_xilinx_cells() -> None:
    cells = {"LUT2": 3, "LUT6": 2, "INV": 1, "RAM64M": 2, "SRLC32E": 1, "FDRE": 7, "FDSE": 1,
             "RAMB18E2": 1, "RAMB36E2": 2, "DSP48E2": 4, "CARRY8": 5, "MUXF7": 9}
    r = resources(cells)
    assert (r["LUT_logic"], r["LUT_memory"], r["LUT"]) == (6, 9, 15)
    assert (r["FF"], r["BRAM_18K"], r["DSP"], r["CARRY"]) == (8, 5, 4, 5)
    assert r["cells"]["MUXF7"] == 9


def test_synthesize_stops_at_the_timeout(tmp_path) -> None:
    src = mvau_const.write_verilog(tmp_path / "m.v", "m_const", np.ones((4, 2), int), 4, False, 8)
    with pytest.raises(RuntimeError, match="not done after"):
        synthesize([src], "m_const", tmp_path / "y", timeout_s=0.01)


def test_magnitude_prune_is_exact_and_keeps_the_largest() -> None:
    w = np.array([[3, -1, 0], [2, -4, 1]])
    p = mvau_const.magnitude_prune(w, 0.5)
    assert np.array_equal(p, [[3, 0, 0], [2, -4, 0]])  # zero and both |1| go (ties by position)
    assert np.array_equal(w, [[3, -1, 0], [2, -4, 1]])  # input untouched


@pytest.mark.parametrize(("in_bits", "in_signed", "acc_bits"), [(4, False, 12), (3, True, 11)])
def test_unrolled_mvau_rtl_matches_reference(tmp_path, rtl_cache, in_bits, in_signed,
                                             acc_bits) -> None:
    rng = np.random.default_rng(in_bits)
    w = rng.integers(-8, 8, size=(27, 5))
    w[:, 0] = 0  # an all-zero output column
    src = mvau_const.write_verilog(tmp_path / "m.v", "m_const", w, in_bits, in_signed, acc_bits)
    assert verify_mvau(src, "m_const", w, in_bits, in_signed, acc_bits, tmp_path / "run",
                       rtl_cache)
    wrong = w.copy()
    wrong[3, 2] += 1  # the check notices a single changed weight
    assert not verify_mvau(src, "m_const", wrong, in_bits, in_signed, acc_bits,
                           tmp_path / "run2", rtl_cache)


def _tiny_rtl_build(tiny_build, head0_only: bool = False):
    from hwreg.compile.config import BuildConfig, MvauStyle
    from hwreg.config import load_yaml

    model, grid, out = tiny_build
    if load_yaml(BuildConfig, out / "build_config.yaml").mvau_style is MvauStyle.hls:
        pytest.skip("synth takes the thresholds-separate (rtl) builds")
    if head0_only and model.cfg.head_level != 0:
        pytest.skip("one build is enough here (Yosys takes about a minute)")
    return model, grid, out


def test_unrolled_mvau_equals_l3_of_the_layer(tiny_build, rtl_cache, tmp_path) -> None:
    """The netlist that is synthesised computes the build's MVAU exactly: the layer's L3 input
    streamed through it gives the layer's L3 output."""
    from qonnx.custom_op.registry import getCustomOp

    from hwreg.emulate import Levels, random_pairs
    from hwreg.rtl import harness
    from hwreg.rtl.harness import pack, unpack
    from hwreg.rtl.tops import padded

    _, grid, out = _tiny_rtl_build(tiny_build)
    levels = Levels(out)
    _, ctx = levels.l3(next(random_pairs(grid, 1, seed=3)).x)
    node = min((n for n in levels.hw.graph.node if n.op_type == "MVAU"),
               key=lambda n: levels.hw.get_initializer(n.input[1]).size)
    inst = getCustomOp(node)
    w = levels.hw.get_initializer(node.input[1]).astype(np.int64)
    ib, acc = inst.get_input_datatype(0).bitwidth(), inst.get_output_datatype(0).bitwidth()
    src = mvau_const.write_verilog(tmp_path / "l.v", "l_const", w, ib,
                                   inst.get_input_datatype(0).signed(), acc)
    x = ctx[node.input[0]].reshape(-1, w.shape[0])
    ref = ctx[node.output[0]].reshape(-1, w.shape[1]).astype(np.int64)
    ins = [harness.Port("in0_V", padded(w.shape[0] * ib))]
    outs = [harness.Port("out0_V", padded(w.shape[1] * acc))]
    exe = harness.build([src], "l_const", ins, outs, rtl_cache)
    got, cycles = harness.run(exe, [pack(x, ib, ins[0].width)], [len(ref)], [outs[0].width],
                              tmp_path / "run")
    assert np.array_equal(unpack(got[0], w.shape[1], acc, True), ref)
    assert cycles <= len(ref) + 4  # one input vector per cycle


def test_synth_build_layers_estimates_and_payoff(tiny_build, rtl_cache, tmp_path) -> None:
    from qonnx.core.modelwrapper import ModelWrapper

    _, _, out = _tiny_rtl_build(tiny_build, head0_only=True)
    hw = ModelWrapper(str(out / "intermediate_models" / "step_set_folding.onnx"))
    names = [n.name for n in hw.graph.node]
    mvaus = [n for n in names if n.startswith("MVAU")]
    pick = [n for n in names if n.startswith(("ConvolutionInputGenerator3D", "Upsample",
                                              "ElementwiseAdd", "DuplicateStreams"))][:3]
    pick += [n for n in names if n.startswith("Thresholding")][:1]
    result = synth_build(out, tmp_path / "syn", max_macs=500, layers=[*pick, *mvaus],
                         jobs=2, cache_dir=rtl_cache)
    rows = {r["layer"]: r for r in result["layers"]}
    assert set(rows) == set(pick) | set(mvaus)
    for name in pick:
        r = rows[name]
        if r["impl"] == "Thresholding_rtl":  # FINN's thresholding: Yosys may refuse it
            assert "yosys" in r or "yosys" in r["why"]
            continue
        y = r["yosys"]
        assert y["LUT"] > 0 and y["FF"] > 0, r
        if r["impl"].startswith(("ElementwiseAdd", "DuplicateStreams")):
            assert y["DSP"] == y["BRAM_18K"] == 0, r
        if r["impl"].startswith("ConvolutionInputGenerator3D"):
            # the window buffer is inferred as RAM, not built from flip-flops
            assert y["BRAM_18K"] + y["LUT_memory"] > 0, y
    unrolled = [rows[n] for n in mvaus if "yosys" in rows[n]]
    skipped = [rows[n] for n in mvaus if "yosys" not in rows[n]]
    assert unrolled and all(r["verified_vs_reference"] for r in unrolled)
    assert all(r["macs"] <= 500 and r["yosys"]["DSP"] == 0 for r in unrolled)
    assert all(r["macs"] > 500 and "max-macs" in r["why"] for r in skipped)
    assert all(r["finn_unrolled"]["LUT"] > 0 for r in unrolled)
    p = result["payoff"]
    assert p["layer"] == max(unrolled, key=lambda r: r["macs"])["layer"]
    assert p["pruned"]["zeros"] == pytest.approx(0.5, abs=1e-9)
    assert p["pruned"]["LUT"] < p["deployed"]["LUT"]  # zero weights cost no logic
    assert p["lut_reduction"] == pytest.approx(1 - p["pruned"]["LUT"] / p["deployed"]["LUT"])
    saved = json.loads((tmp_path / "syn" / "synth.json").read_text())
    assert saved["payoff"]["pruned"]["LUT"] == p["pruned"]["LUT"]
    assert "Pruning payoff" in (tmp_path / "syn" / "synth.md").read_text()
    with pytest.raises(UserError, match="not empty"):
        synth_build(out, tmp_path / "syn", layers=pick[:1])


def test_synth_cli_bad_input(tiny_build, tmp_path) -> None:
    _, _, out = _tiny_rtl_build(tiny_build, head0_only=True)
    cmd = [sys.executable, "-m", "hwreg.cli", "synth", "--build", str(out), "--out",
           str(tmp_path / "o"), "--layers", "NoSuchLayer"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "NoSuchLayer" in res.stderr
    assert not (tmp_path / "o").exists()
    res = subprocess.run([*cmd[:5], "/nonexistent/build", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 2 and "build_config.yaml: not found" in res.stderr
