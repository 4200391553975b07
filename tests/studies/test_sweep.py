"""A tiny 2 x 2 sweep (float, w4 x 0, 50 %): table, Table 1 rows, plots, re-run skips."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import yaml

from hwreg.config import to_dict
from hwreg.studies.sweep import run_sweep
from hwreg.studies.sweep_plan import SweepConfig, load_sweep_config, plan
from tests.train.test_train import tiny_run_config


def tiny_sweep(root: Path, folder: Path) -> Path:
    run = to_dict(tiny_run_config(root, steps=2))
    data = {"run": run, "bits": ["float", 4], "sparsities": [0, 0.5], "float_steps": 3,
            "quant_steps": 2, "finetune_steps": 2, "eval_pairs": 2, "table1_sparsity": 0.5,
            "table1_bits": 4}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_plan_shares_starting_points(tmp_path: Path) -> None:
    cfg = SweepConfig(bits=["float", 8, 2], sparsities=[0, 0.25, 0.5], table1_sparsity=0.25,
                      exclude=["head", "enc0"])
    points = {p.name: p for p in plan(cfg, tmp_path)}
    assert list(points) == ["float-s0", "w8-s0", "w2-s0", "float-s25", "float-s50", "w8-s25",
                            "w8-s50", "w2-s25", "w2-s50", "t1-pruned", "t1-quantized"]
    assert points["w8-s0"].depends == "float-s0" and points["w2-s50"].depends == "w2-s0"
    assert points["t1-quantized"].depends == "float-s25"
    assert {p.stage for p in points.values() if p.stage} == {
        "trained", "pruned", "pruned + re-trained", "quantized"}
    assert points["float-s0"].train == tmp_path / "points" / "float-s0.yaml"
    spec = points["t1-pruned"].prune
    assert spec is not None and spec.finetune_steps == 0  # pruned, not re-trained
    spec = points["t1-quantized"].prune
    assert spec is not None and spec.bits == 8
    assert spec.exclude == ("head", "enc0") and str(spec.source).endswith("points/float-s25")


def test_tiny_sweep_writes_table_and_plots(ibsr_dataset: Callable[..., Path],
                                           tmp_path: Path) -> None:
    cfg_path = tiny_sweep(ibsr_dataset(n=5), tmp_path)
    out = tmp_path / "sweep"
    lines: list[str] = []
    points = run_sweep(load_sweep_config(cfg_path), out, jobs=2, log=lines.append)
    assert len(points) == 6 and sum("done" in line for line in lines) == 6
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert [r["point"] for r in rows] == ["float-s0", "w4-s0", "float-s50", "w4-s50",
                                          "t1-pruned", "t1-quantized"]
    by = {r["point"]: r for r in rows}
    assert float(by["float-s50"]["sparsity"]) == 0.5 and float(by["w4-s50"]["sparsity"]) >= 0.5
    assert float(by["float-s0"]["compression"]) == 1.0
    assert float(by["float-s50"]["compression"]) == 2.0
    assert float(by["float-s0"]["dice_vs_float"]) == 0
    delta, half = float(by["w4-s0"]["dice_vs_float"]), float(by["w4-s0"]["dice_vs_float_ci95"])
    assert abs(delta - (float(by["w4-s0"]["dice_mean"]) - float(by["float-s0"]["dice_mean"]))) \
        < 1e-3  # every point has the same pairs: the mean difference is the difference of means
    assert half >= 0
    md = (out / "table.md").read_text()
    for stage in ("trained (float-s0)", "pruned (t1-pruned)",
                  "pruned + re-trained (float-s50)", "quantized (t1-quantized)"):
        assert f"| {stage} |" in md
    for png in ("dice_vs_bits.png", "dice_vs_model_bits.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a re-run skips every finished point
    again: list[str] = []
    run_sweep(load_sweep_config(cfg_path), out, jobs=2, log=again.append)
    assert sum(line.startswith("[skip]") for line in again) == 6


def test_finn_estimate_columns(ibsr_dataset: Callable[..., Path], tmp_path: Path) -> None:
    from hwreg.studies.sweep import estimate_point
    from hwreg.studies.sweep_plan import Point
    from hwreg.studies.sweep_report import hardware_columns, table_markdown
    from hwreg.train import train

    cfg = tiny_run_config(ibsr_dataset(n=5), steps=2, bits=4)
    folder = tmp_path / "points" / "w4-s0"
    train(cfg, folder, progress=False)
    assert hardware_columns(folder) == {"LUT": "", "BRAM_18K": "", "DSP": "", "pairs_per_s": ""}
    assert estimate_point(folder, "ZCU104").is_file()
    hw = hardware_columns(folder)
    assert isinstance(hw["LUT"], int) and hw["LUT"] > 0 and hw["pairs_per_s"] > 0
    row = {"point": "w4-s0", "stage": "", "bits": 4, "target_sparsity": 0.0, "sparsity": 0.0,
           "dice_mean": 0.5, "dice_sd": 0.1, "tre_mm": 1.0, "folding_percent": 0.0,
           "nonzero_weight_bits": 10, "compression": 3.2, "dice_vs_float": "",
           "dice_vs_float_ci95": "", **hw}
    md = table_markdown([row], {"w4-s0"}, 2)
    assert "| LUT | BRAM_18K | DSP | pairs/s |" in md
    assert f"| 3.2x | {hw['LUT']} | {hw['BRAM_18K']} | {hw['DSP']} | {hw['pairs_per_s']} |" in md
    assert Point("w4-s0", 4, 0.0, None).bits == 4


def test_shipped_sweep_configs(tmp_path: Path) -> None:
    demo = load_sweep_config(Path("configs") / "sweep_demo.yaml")
    full = load_sweep_config(Path("configs") / "sweep_full.yaml")
    assert [str(b) for b in full.bits] == ["float", "8", "6", "4", "3", "2"]
    assert full.sparsities == [0, 0.25, 0.5, 0.75]
    assert len(plan(full, tmp_path / "full")) == 6 * 4 + 2  # grid + t1-pruned, t1-quantized
    assert len(plan(demo, tmp_path / "demo")) == 4 * 2 + 2


def test_paired_difference_and_its_interval() -> None:
    from hwreg.studies.sweep_report import paired_difference

    ref = {("a", "b"): 0.5, ("b", "a"): 0.6, ("a", "c"): 0.7}
    same_shift = {k: v - 0.02 for k, v in ref.items()}
    mean, half, n = paired_difference(same_shift, ref)
    assert n == 3 and abs(mean + 0.02) < 1e-12 and half < 1e-9  # a constant cost: no spread
    noisy = {("a", "b"): 0.45, ("b", "a"): 0.62, ("a", "c"): 0.66, ("x", "y"): 0.1}
    mean, half, n = paired_difference(noisy, ref)
    diffs = [-0.05, 0.02, -0.04]
    sd = (sum((d - sum(diffs) / 3) ** 2 for d in diffs) / 2) ** 0.5
    assert n == 3 and abs(mean - sum(diffs) / 3) < 1e-12
    assert abs(half - 4.302652729911275 * sd / 3**0.5) < 1e-9  # t(0.975, 2) = 4.3027
