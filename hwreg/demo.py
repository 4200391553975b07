"""The main job, ``hwreg demo`` (``make demo``): every stage on the embedded default data.

prepare data -> train float from scratch and W4A4 from a trained float network (CPU-short
schedules, W4A4 from the shipped demo-float; ``--full`` uses the configs' own schedules, the ones
the shipped models were trained with, and the float model trained here) -> prune 50 % +
fine-tune -> a small sweep -> evaluate (demo-trained and shipped models) -> export + FINN build
per board (estimates) -> bit-exact emulation -> label-free registration of one NIfTI pair -> report.

Each stage is one ``hwreg`` command run in-process (the CLI holds no logic), writing into
``OUT/<stage>``; the report (:mod:`hwreg.report`) reads what the stages wrote. Training stages
resume, so an interrupted demo continues where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hwreg.errors import UserError

BOARDS = ("ZCU104", "Pynq-Z2", "KV260", "U250")
#: Overrides that make the demo trainings fit 2 CPU cores in minutes.
CPU_OVERRIDES: dict[str, dict[str, Any]] = {
    "train": {"steps": 80, "labels_per_pair": 2, "eval_every": 80, "eval_pairs": 6,
              "checkpoint_every": 20},
    "loss": {"pyramid": True},
}


def _demo_config(source: Path, out: Path, data: Path, full: bool,
                 extra: dict[str, dict[str, Any]] | None = None) -> Path:
    """A run config derived from ``source`` (demo overrides, data root), written to ``out``."""
    cfg = yaml.safe_load(source.read_text())
    cfg["data"]["root"] = str(data.resolve())
    for section, values in ({} if full else CPU_OVERRIDES).items():
        cfg.setdefault(section, {}).update(values)
    for section, values in (extra or {}).items():
        cfg.setdefault(section, {}).update(values)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def plan(out: Path, data: Path, configs: Path, full: bool) -> list[tuple[str, list[str]]]:
    """The demo's stages as (name, hwreg argv) in order."""
    cfg_dir = out / "configs"
    float_cfg = _demo_config(configs / "demo_float.yaml", cfg_dir / "float.yaml", data, full)
    float_model = out / "models" / "float" / "model.pt"
    # W4A4 is quantization-aware training from a trained float network: with --full the float
    # model trained above; on CPU the shipped demo-float (80 CPU steps from scratch are too few
    # to learn registration, and the report says so)
    init = str(float_model.resolve()) if full else "demo-float"
    w4a4_cfg = _demo_config(configs / "demo_w4a4.yaml", cfg_dir / "w4a4.yaml", data, full,
                            {"train": {"init_from": init}})
    stages: list[tuple[str, list[str]]] = [
        ("train float", ["train", "--config", str(float_cfg), "--out",
                         str(out / "models" / "float"), "--quiet"]),
        ("train w4a4", ["train", "--config", str(w4a4_cfg), "--out",
                        str(out / "models" / "w4a4"), "--quiet"]),
    ]
    pruned = out / "models" / "w4a4-p50"
    stages.append(("prune w4a4 50%", ["prune", "--model", str(out / "models" / "w4a4"),
                                       "--sparsity", "0.5", "--finetune-steps",
                                       "200" if full else "30", "--exclude", "head",
                                       "--out", str(pruned), "--quiet"]))
    sweep_cfg = _sweep_config(configs / ("sweep_full.yaml" if full else "sweep_demo.yaml"),
                              cfg_dir / "sweep.yaml", data, full)
    stages.append(("sweep", ["sweep", "--config", str(sweep_cfg), "--out", str(out / "sweep"),
                             "--jobs", "2"]))
    models = {"demo-float (shipped)": "demo-float", "demo-w4a4 (shipped)": "demo-w4a4",
              "float (this demo)": str(out / "models" / "float"),
              "w4a4 (this demo)": str(out / "models" / "w4a4"),
              "w4a4 50% pruned (this demo)": str(pruned)}
    for label, ref in models.items():
        stages.append((f"evaluate {label}", ["evaluate", "--model", ref, "--data", str(data),
                                              "--out", str(out / "eval" / _slug(label)),
                                              "--quiet"]))
    for board in BOARDS:
        stages.append((f"build {board}", ["build", "--model", "demo-w4a4", "--board", board,
                                          "--out", str(out / "build" / board)]))
    stages.append(("emulate", ["emulate", "--model", "demo-w4a4", "--build",
                               str(out / "build" / "ZCU104"), "--pairs", "2", "--data",
                               str(data), "--float-model", "demo-float", "--level", "rtl",
                               "--out", str(out / "emulation")]))
    fixed, moving = data / "IBSR_01" / "IBSR_01_ana_strip.nii.gz", data / "IBSR_02"
    stages.append(("register", ["register", str(fixed),
                                str(moving / "IBSR_02_ana_strip.nii.gz"), "--out",
                                str(out / "register"), "--moving-label",
                                str(moving / "IBSR_02_seg_ana.nii.gz"), "--force"]))
    return stages


#: Sweep overrides for 2 CPU cores (the configs' own values are kept with ``--full``).
SWEEP_CPU_OVERRIDES: dict[str, Any] = {"float_steps": 10, "quant_steps": 20,
                                       "finetune_steps": 15, "eval_pairs": 6}


def _sweep_config(source: Path, out: Path, data: Path, full: bool) -> Path:
    """The demo's sweep config: ``source`` with the data root and CPU-sized schedules."""
    cfg = yaml.safe_load(source.read_text())
    cfg["run"]["data"]["root"] = str(data.resolve())
    if not full:
        cfg.update(SWEEP_CPU_OVERRIDES)
        cfg["run"]["loss"]["pyramid"] = True
        cfg["run"]["train"]["labels_per_pair"] = 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c == "-" else "_" for c in label).strip("_")


def run_demo(out: str | Path, data: str | Path = "data/default", configs: str | Path = "configs",
             full: bool = False, log: Callable[[str], None] = print) -> Path:
    """Run every stage into ``out`` and write the report; returns ``out/report.md``."""
    from hwreg.cli import main
    from hwreg.data.synth import prepare_default
    from hwreg.report import write_report

    out, data, configs = Path(out), Path(data), Path(configs)
    if not (configs / "demo_float.yaml").is_file():
        raise UserError(f"{configs}: no demo_float.yaml (run from the repository root)")
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    if not (data / "hwreg_dataset.json").is_file():
        t0 = time.perf_counter()
        log(f"== data: writing the default dataset to {data}")
        prepare_default(data, subjects=18, spacing=1.5, force=True)
        timings["data"] = time.perf_counter() - t0
    for name, argv in plan(out, data, configs, full):
        log(f"== {name}: hwreg {' '.join(argv)}")
        t0 = time.perf_counter()
        code = main(argv)
        timings[name] = time.perf_counter() - t0
        if code != 0:
            raise UserError(f"demo stage '{name}' failed (exit {code})")
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    report = write_report(out, data, full=full)
    log(f"== report: {report} and {report.with_suffix('.html')}")
    return report
