"""Demo plan and report rendering (the full demo runs in `make demo`, not in the tests)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hwreg.studies.demo import plan
from hwreg.studies.demo_layout import BOARDS
from hwreg.studies.report import write_report

ROOT = Path(__file__).resolve().parents[2]


def test_plan_derives_cpu_configs_and_covers_every_stage(tmp_path: Path) -> None:
    stages = plan(tmp_path / "demo", tmp_path / "data", ROOT / "configs", full=False)
    names = [s.name for s in stages]
    after = {s.name: s.after for s in stages}
    # the longest chain first: ZCU104's build, then the emulation of that build
    assert names[:2] == ["build ZCU104", "emulate"] and after["emulate"] == ("build ZCU104",)
    assert sorted(f"build {b}" for b in BOARDS) == sorted(n for n in names if n.startswith("build"))
    assert after["prune w4a4 50%"] == ("train w4a4",) and after["train w4a4"] == ()
    assert after["evaluate w4a4 50% pruned (this demo)"] == ("prune w4a4 50%",)
    assert after["evaluate demo-w4a4 (shipped)"] == ()
    assert names[-1] == "sweep" and stages[-1].cpus == 2  # it runs its own two processes
    assert {"train float", "register"} <= set(names)
    cfg = yaml.safe_load((tmp_path / "demo" / "configs" / "w4a4.yaml").read_text())
    assert cfg["train"]["steps"] == 80 and cfg["loss"]["pyramid"] is True
    assert cfg["train"]["init_from"] == "demo-float"  # QAT from the shipped float model
    assert cfg["data"]["root"] == str((tmp_path / "data").resolve())
    full = plan(tmp_path / "full", tmp_path / "data", ROOT / "configs", full=True)
    full_cfg = yaml.safe_load((tmp_path / "full" / "configs" / "float.yaml").read_text())
    shipped = yaml.safe_load((ROOT / "configs" / "demo_float.yaml").read_text())
    assert full_cfg["train"]["steps"] == shipped["train"]["steps"] and len(full) == len(stages)
    # the demo's float run fine-tunes what configs/demo_float.yaml starts from (demo-float-v2)
    float_cfg = yaml.safe_load((tmp_path / "demo" / "configs" / "float.yaml").read_text())
    assert float_cfg["train"]["init_from"] == shipped["train"]["init_from"] == "demo-float-v2"
    # on a CPU the demo trains and evaluates its own models in single passes
    assert cfg["train"]["cascade"] == 1
    assert (cfg["model"]["flips"], cfg["model"]["cascade"]) == (0, 1)
    full_w4a4 = yaml.safe_load((tmp_path / "full" / "configs" / "w4a4.yaml").read_text())
    assert full_w4a4["train"]["init_from"].endswith("models/float/model.pt")
    assert {s.name: s.after for s in full}["train w4a4"] == ("train float",)  # its init


def test_report_from_stage_outputs(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    summary = {"dice_mean": 0.4, "dice_sd": 0.1, "tre_mm": 5.0, "tre_sd": 1.0,
               "folding_percent": 0.0, "dice_per_label": {"2": 0.5, "41": 0.3}}
    ident = {**summary, "dice_mean": 0.3, "tre_mm": 6.0}
    (out / "eval" / "demo-w4a4__shipped").mkdir(parents=True)
    (out / "eval" / "demo-w4a4__shipped" / "metrics.json").write_text(json.dumps(
        {"pairs": 2, "identity": ident, "registered": summary, "model": "demo-w4a4",
         "passes": 24}))
    (out / "emulation").mkdir()
    (out / "emulation" / "emulation.json").write_text(json.dumps(
        {"pairs": 2, "exact": True, "levels": {"L1": {"max_abs_diff_vs_L1": 0,
                                                      "time_s_per_pair": 0.5}},
         "accuracy": {"L3": {"dice": 0.4, "tre_mm": 5.0, "folding_percent": 0.0}},
         "L4": {"layers": 12, "layers_exact": 12, "sim_cycles": 900, "time_s": 3.0,
                "pair": "random_0"},
         "L5": {"exact": True, "cycles_one_volume": 300, "interval_cycles": 220,
                "finn_max_layer_cycles": 200, "sim_cycles_per_s": 1.5e6,
                "fifo_sizing": "simulation", "fifo_bits": 4096}}))
    report = write_report(out, tmp_path / "no-data")
    text = report.read_text()
    assert "| demo-w4a4 (shipped) | 24 | 2 | 0.300 | 0.400 ± 0.100 |" in text
    assert "| 0.100 | - | - |" in text  # no oracle or SyN in that metrics.json: said as "-"
    assert "registration figure not drawn" in text  # no data folder: said, not hidden
    assert "| L4: every layer's RTL vs L3 | 12/12 layers exact |" in text
    assert "interval 220 cycles vs FINN's slowest layer 200 (+10.0 %)" in text
    assert "FIFOs simulation (4 kbit)" in text
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    results = json.loads((out / "results.json").read_text())
    assert results["models"] == {"demo-w4a4 (shipped)": "demo-w4a4"}
    assert results["emulation"]["exact"] is True
    assert (out / "fig_dice_per_label.png").stat().st_size > 0


def test_board_table_counts_fifos_and_says_what_does_not_fit(tmp_path: Path) -> None:
    """The board table shows totals with FIFOs; a board over capacity reads 'does not fit
    (needs N BRAM_18K of C)' and shows no pairs/s."""
    out = tmp_path / "demo"
    util = {"LUT": 0.1, "BRAM_18K": 0.5, "URAM": 0.0, "DSP": 0.1}
    fits = {"estimated_pairs_per_s": 100.5, "fits": True, "pipeline_balance_mvau": 0.9,
            "totals": {"LUT": 9000, "BRAM_18K": 300, "URAM": 0, "DSP": 142},
            "capacity": {"LUT": 230400, "BRAM_18K": 624, "URAM": 96, "DSP": 1728},
            "utilisation": util, "fifo_bits": 2048 * 1024, "over_capacity": {}}
    over = {**fits, "fits": False, "totals": {**fits["totals"], "BRAM_18K": 406},
            "capacity": {"LUT": 53200, "BRAM_18K": 280, "URAM": 0, "DSP": 220},
            "utilisation": {**util, "BRAM_18K": 406 / 280}, "over_capacity": {"BRAM_18K": 126}}
    for board, perf in (("ZCU104", fits), ("Pynq-Z2", over)):
        (out / "build" / board / "report").mkdir(parents=True)
        (out / "build" / board / "report" / "estimate_network_performance.json").write_text(
            json.dumps(perf))
    text = write_report(out, tmp_path / "no-data").read_text()
    assert "| ZCU104 | 100 | 9000 (10.0%) | 300 (50.0%) | 0 (0.0%) | 142 (10.0%) | 2048 | yes |" \
        in text
    assert "| Pynq-Z2 | - |" in text
    assert "does not fit (needs 406 BRAM_18K of 280) |" in text
    results = json.loads((out / "results.json").read_text())
    assert results["hardware"]["Pynq-Z2"]["over_capacity"] == {"BRAM_18K": 126}
