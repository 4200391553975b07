"""Benchmark: `make demo` on a fresh clone, as a new user runs it (the 15-minute goal of #11).

    python3 benchmarks/bench_demo.py --out benchmarks/results/demo_time.json

Clones the repository's committed HEAD into a temporary folder and runs `make demo` there with
an empty HOME (no pip cache, no Verilator cache: every simulator is compiled) and no venv or
data, so the time includes the install, the data preparation and every stage. Run it on an idle
machine: it measures wall time. Writes the wall time, the demo's own stage seconds
(`runs/demo/timings.json`), whether every emulation level was exact, the commit, the machine's
cores and its load average at the start. Needs only the Python that `make` uses (no venv).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_fresh_demo(repo: Path, work: Path) -> dict[str, object]:
    """Clone ``repo`` into ``work/clone``, run `make demo` with HOME ``work/home``; the result."""
    clone, home = work / "clone", work / "home"
    home.mkdir(parents=True)
    subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True)
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PIP_"))}
    env["HOME"] = str(home)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with (work / "make_demo.log").open("w") as log:
        proc = subprocess.run(["make", "demo"], cwd=clone, env=env, stdout=log,
                              stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode:
        tail = (work / "make_demo.log").read_text().splitlines()[-20:]
        raise SystemExit("make demo failed:\n" + "\n".join(tail))
    demo = clone / "runs" / "demo"
    stages = json.loads((demo / "timings.json").read_text())
    emulation = json.loads((demo / "emulation" / "emulation.json").read_text())
    return {
        "commit": commit, "cores": os.cpu_count(), "machine": platform.machine(),
        "load_average_at_start": round(load, 2),
        "make_demo_wall_s": round(wall, 1),
        "install_data_and_report_s": round(wall - stages["wall"], 1),
        "stages_wall_s": round(stages["wall"], 1),
        "stage_s": {k: round(v, 1) for k, v in stages.items() if k != "wall"},
        "every_level_exact": bool(emulation["exact"]),
        "L4_layers_exact": f"{emulation['L4']['layers_exact']}/{emulation['L4']['layers']}",
        "L5_exact": bool(emulation["L5"]["exact"]),
        "goal_s": 15 * 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="repository to clone (its committed HEAD; default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hwreg-bench-demo-") as tmp:
        result = run_fresh_demo(args.repo, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"make demo on a fresh clone: {result['make_demo_wall_s']:.0f} s "
          f"(install, data, report {result['install_data_and_report_s']:.0f} s, stages "
          f"{result['stages_wall_s']:.0f} s), every level exact: {result['every_level_exact']}")


if __name__ == "__main__":
    main()
