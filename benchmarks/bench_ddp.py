"""Benchmark: data-parallel CPU training throughput, 1 process vs 2 (the README's "scaling out").

    .venv/bin/python benchmarks/bench_ddp.py --data data/default --out benchmarks/results/ddp.json

Trains ``configs/demo_float.yaml`` (atlas pairs on the 48 x 64 x 48 grid, 1 thread per process,
global batch 2) for ``--steps`` steps with ``hwreg train --nproc N`` for each N (gloo, this
machine's CPUs) and reports the training pairs per second of the steps alone (``step_seconds``
of ``train_time.json``: no evaluation, no checkpoints, no start-up).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from hwreg.config import dump_yaml
from hwreg.run import load_run_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/default"))
    parser.add_argument("--config", type=Path, default=Path("configs/demo_float.yaml"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ddp.json"))
    args = parser.parse_args()
    cfg = load_run_config(args.config)
    cfg.data.root = args.data.resolve()
    cfg.train.steps, cfg.train.eval_every, cfg.train.eval_pairs = args.steps, 10**9, 1
    cfg.train.checkpoint_every, cfg.train.device, cfg.train.threads = 10**9, "cpu", 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "run.yaml"
        dump_yaml(cfg, config)
        for n in args.nproc:
            run = Path(tmp) / f"n{n}"
            subprocess.run([sys.executable, "-m", "hwreg", "train", "--nproc", str(n), "--quiet",
                            "--config", str(config), "--out", str(run)], check=True)
            t = json.loads((run / "train_time.json").read_text())
            rows.append({"processes": n, "steps": t["steps"], "global_batch":
                         cfg.train.batch_size, "step_seconds": round(t["step_seconds"], 2),
                         "pairs_per_s": round(t["pairs_per_s"], 3)})
            print(rows[-1])
    base = rows[0]["pairs_per_s"]
    for row in rows:
        row["speedup"] = round(row["pairs_per_s"] / base, 2)
    args.out.write_text(json.dumps({"config": str(args.config), "grid": list(
        cfg.data.grid_shape), "threads_per_process": 1, "rows": rows}, indent=2) + "\n")
    print(yaml.safe_dump(rows, sort_keys=False))


if __name__ == "__main__":
    main()
