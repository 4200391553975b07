"""Benchmark: `hwreg register` end to end against ANTs SyN on the same 1 mm brain pairs, one run.

    .venv/bin/python benchmarks/bench_register.py --out benchmarks/results/register_speed.json
    # --pairs-dir DIR: the MNI152 pairs of bench_realbrain.py (made by
    #   hwreg.data.realbrain.make_pairs when absent); --ants-from FILE reuses SyN rows of an
    #   earlier run of this script or of bench_realbrain.py; --syn-pairs N runs SyN on the
    #   first N pairs only; --no-ants skips SyN

Per pair (fixed/moving T1 and the moving 116-parcel map, 1 mm, 197x233x189):
- hwreg: the wall seconds of one `hwreg register FIXED MOVING --out DIR --moving-label L
  --timings` process (Python start, imports, model load, reading and writing included: what a user
  waits for), its CPU seconds, its in-process breakdown (`timings.json`) and the mean Dice of its
  warped parcels against FIXED's;
- ANTs SyN (antspyx default `SyN`, 2 threads, `benchmarks/ants_syn.py` in `.venv-ants`): the wall
  seconds of its process (reading, registration, warping the parcels, writing), the registration
  alone, and the Dice of its warped parcels;
- the ratio of the two wall times.
Then batch mode (`--pairs`, model loaded once; the model's passes and one pass) on the same
pairs, in pairs/s, and the host prologue/epilogue (:mod:`hwreg.runtime.host`) per pair at the
model grid and at 1 mm. The load
average is recorded: on a loaded machine wall times are longer than on an idle one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from hwreg.data.nifti import Volume, load_labels
from hwreg.data.realbrain import PairSpec, make_pairs
from hwreg.metrics import dice_per_label
from hwreg.runtime.host import ddf_from_codes, quantise_input
from hwreg.runtime.register import map_to_fixed

HWREG = [sys.executable, "-m", "hwreg.cli", "register"]


def mean_dice(fixed: Path | str, warped: Path | str) -> float:
    """Mean Dice over the labels of FIXED's label map."""
    f, w = load_labels(fixed).data, load_labels(warped).data
    ids = [int(i) for i in np.unique(f) if i != 0]
    return float(np.mean(list(dice_per_label(f, w, ids).values())))


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Run ``cmd`` (in ``cwd``); its wall seconds, CPU seconds (user + system) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, done.stdout


def bench_hwreg(row: dict[str, str], model: str, tmp: Path, reps: int = 1) -> dict:
    """`hwreg register` processes on a pair, ``reps`` times: the median run's numbers (wall
    times on a shared 2-core machine vary by a second between identical runs), all walls kept."""
    out = tmp / "hwreg"
    runs = []
    for _ in range(reps):
        wall, cpu, _ = timed([*HWREG, row["fixed_t1"], row["moving_t1"], "--out", str(out),
                              "--moving-label", row["moving_parcels"], "--model", model,
                              "--timings", "--force"])
        runs.append((wall, cpu, json.loads((out / "timings.json").read_text())))
    wall, cpu, info = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    return {"wall_s": wall, "cpu_s": cpu, "in_process_s": info["seconds"],
            "peak_rss_mb": info["peak_rss_mb"], "walls_s": [r[0] for r in runs],
            "dice": mean_dice(row["fixed_parcels"], out / "warped_label.nii.gz")}


def bench_syn(row: dict[str, str], threads: int, tmp: Path) -> dict:
    """ANTs SyN (default schedule) on a pair, in its own process and venv."""
    warped = tmp / "syn_parcels.nii.gz"
    wall, cpu, stdout = timed([".venv-ants/bin/python", "benchmarks/ants_syn.py",
                               row["fixed_t1"], row["moving_t1"], str(threads),
                               row["moving_parcels"], str(warped)])
    return {"wall_s": wall, "cpu_s": cpu,
            "registration_s": json.loads(stdout.strip().splitlines()[-1])["seconds"],
            "dice": mean_dice(row["fixed_parcels"], warped)}


def bench_batch(rows: list[dict[str, str]], model: str, tmp: Path,
                passes: tuple[str, ...] = ()) -> dict:
    """Batch mode on all pairs: one process, the model loaded once (``passes``: extra options,
    e.g. ``--flips 0 --cascade 1`` for one network pass per pair)."""
    pairs = tmp / "pairs.csv"
    with pairs.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fixed", "moving", "moving_label"])
        w.writerows([r["fixed_t1"], r["moving_t1"], r["moving_parcels"]] for r in rows)
    out = tmp / ("batch" + "".join(passes).replace("-", "_"))
    wall, cpu, _ = timed([*HWREG, "--pairs", str(pairs), "--out", str(out),
                          "--model", model, "--timings", *passes])
    info = json.loads((out / "timings.json").read_text())
    return {"pairs": len(rows), "process_wall_s": wall, "process_cpu_s": cpu,
            "loop_s": info["seconds"], "pairs_per_second": info["pairs_per_second"],
            "pairs_per_second_process": len(rows) / wall, "peak_rss_mb": info["peak_rss_mb"]}


def _median_ms(fn: Callable[[], object], reps: int,
               clock: Callable[[], float] = time.perf_counter) -> float:
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return 1000 * statistics.median(times)


def bench_host(native: Path, reps: int) -> dict:
    """Host prologue + epilogue per pair: at the model grid (48x64x48, DDF from 24x32x24 codes)
    and at 1 mm (plus the map of the DDF to FIXED's grid and the warp of MOVING and its labels)."""
    grid, half = (48, 64, 48), (24, 32, 24)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1, 2, *grid)).astype(np.float32)
    codes = rng.integers(-128, 128, (1, int(np.prod(half)), 3)).astype(np.int8)

    def model_grid() -> torch.Tensor:
        quantise_input(x)
        return ddf_from_codes(codes, half, 0.0625, grid)

    labels = load_labels(native)
    moving = Volume(labels.data.astype(np.float32), labels.affine)
    g_f = np.diag([3.0, 3.0, 3.0, 1.0])
    g_f[:3, 3] = labels.affine[:3, 3] + 3.0
    ddf = model_grid()[0]

    def one_mm() -> None:
        model_grid()
        map_to_fixed(ddf, g_f, g_f, labels.shape, labels.affine, moving, labels, np.dtype(np.int16))

    torch.set_num_threads(1)  # CPU time without spinning worker threads
    cpu = {"model_grid_cpu_ms": _median_ms(model_grid, 20, time.process_time),
           "one_mm_cpu_ms": _median_ms(one_mm, reps, time.process_time)}
    torch.set_num_threads(2)
    return {"model_grid_ms": _median_ms(model_grid, 20), "one_mm_ms": _median_ms(one_mm, reps),
            **cpu, "native_shape": list(labels.shape)}


def bench_imports(reps: int = 3) -> dict:
    """Fresh-process seconds (median wall, median CPU) of ``import torch`` and of ``import
    hwreg.runtime.register`` (what every ``hwreg register`` call pays before its first step)."""
    import hwreg

    root = Path(hwreg.__file__).parent.parent  # `python -c` imports from its cwd first
    out = {}
    for name, code in (("torch", "import torch"),
                       ("register_module", "import hwreg.runtime.register")):
        runs = [timed([sys.executable, "-c", code], root)[:2] for _ in range(reps)]
        out[f"import_{name}_wall_s"] = statistics.median(r[0] for r in runs)
        out[f"import_{name}_cpu_s"] = statistics.median(r[1] for r in runs)
    return out


def bench_stages_cpu(row: dict[str, str], model: str, reps: int = 2) -> dict:
    """CPU seconds (``time.process_time``, one torch thread, so no spinning thread is counted)
    of each step of one registration, in this process: a measure a loaded machine distorts
    far less than wall time. The imports are measured in fresh processes (:func:`bench_imports`);
    ``network_path`` says whether the network ran from its inference form (no Brevitas)."""
    from hwreg.data.datasets import to_model_grid
    from hwreg.evaluate import predict_ddf
    from hwreg.runtime.register import Registrar, read_inputs, write_result

    torch.set_num_threads(1)
    cpu: dict = bench_imports()
    for _ in range(reps):  # the last repetition is kept (warm caches, as in batch mode)
        c = time.process_time()
        reg = Registrar(model)
        cpu["load_model"] = time.process_time() - c
        c = time.process_time()
        inputs = read_inputs(row["fixed_t1"], row["moving_t1"], row["moving_parcels"])
        cpu["load"] = time.process_time() - c
        c = time.process_time()
        img_f, _ = to_model_grid(inputs.fixed, reg.cfg.data)
        img_m, _ = to_model_grid(inputs.moving, reg.cfg.data)
        cpu["resample_in"] = time.process_time() - c
        c = time.process_time()
        with torch.inference_mode():
            predict_ddf(reg.net, img_f, img_m)
        cpu["network"] = time.process_time() - c
        c = time.process_time()
        result = reg.compute(inputs)
        cpu["network_and_resample_out"] = time.process_time() - c - cpu["resample_in"]
        cpu["resample_out"] = cpu["network_and_resample_out"] - cpu["network"]
        with tempfile.TemporaryDirectory() as tmp:
            for fmt, level in (("nii.gz", 1), ("nii", 1)):
                c = time.process_time()
                write_result(result, Path(tmp), fmt, level)
                cpu[f"write_{fmt}"] = time.process_time() - c
    cpu["network_path"] = type(reg.net).__name__
    cpu["per_pair_batch"] = sum(cpu[k] for k in ("load", "resample_in",
                                                 "network_and_resample_out", "write_nii.gz"))
    torch.set_num_threads(2)
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    parser.add_argument("--model", default="demo-w4a4")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--pairs-dir", type=Path, default=Path("runs/realbrain-pairs"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3,
                        help="hwreg processes per pair (the median is reported)")
    parser.add_argument("--ants-from", type=Path, help="reuse the SyN rows of an earlier result")
    parser.add_argument("--syn-pairs", type=int, default=None,
                        help="run SyN on the first N pairs only (default: all)")
    parser.add_argument("--no-ants", action="store_true")
    parser.add_argument("--stages-only", action="store_true",
                        help="only the CPU seconds per step (added to an existing --out file)")
    parser.add_argument("--stages-key", default="cpu_seconds_per_step",
                        help="key of --stages-only's entry (e.g. a run of another checkout: "
                             "PYTHONPATH=OTHER ... --stages-key cpu_seconds_per_step_main)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = make_pairs(args.pairs_dir, PairSpec(pairs=args.pairs))[:args.pairs]
    result: dict = {"machine": {"cpus": os.cpu_count(), "threads": args.threads,
                                "loadavg_start": os.getloadavg()},
                    "model": args.model, "pairs_dir": str(args.pairs_dir)}

    def save() -> None:  # after every stage, so a long run leaves what it measured
        result["machine"]["loadavg_end"] = os.getloadavg()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    if args.stages_only:
        old = json.loads(args.out.read_text()) if args.out.exists() else {}
        old[args.stages_key] = bench_stages_cpu(rows[0], args.model)
        old[args.stages_key]["loadavg"] = os.getloadavg()
        old[args.stages_key]["hwreg"] = str(Path(sys.modules["hwreg"].__file__).parent)  # checkout
        if args.stages_key == "cpu_seconds_per_step":
            old["host"] = bench_host(Path(rows[0]["moving_parcels"]), reps=3)
        args.out.write_text(json.dumps(old, indent=2) + "\n")
        print(json.dumps(old[args.stages_key], indent=1))
        return
    result["host"] = bench_host(Path(rows[0]["moving_parcels"]), reps=3)
    print("host:", result["host"], flush=True)
    save()
    saved = read_syn_rows(args.ants_from) if args.ants_from else None
    n_syn = len(rows) if args.syn_pairs is None else args.syn_pairs
    run_syn = not args.no_ants and saved is None and Path(".venv-ants/bin/python").exists()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        result["batch"] = bench_batch(rows, args.model, tmp)
        print("batch:", result["batch"], flush=True)
        result["batch_one_pass"] = bench_batch(rows, args.model, tmp,
                                               ("--flips", "0", "--cascade", "1"))
        print("batch, one pass per pair:", result["batch_one_pass"], flush=True)
        save()
        result["pairs"] = []
        for i, row in enumerate(rows):
            entry = {"pair": i, "dice_before": mean_dice(row["fixed_parcels"],
                                                         row["moving_parcels"]),
                     "hwreg": bench_hwreg(row, args.model, tmp, args.reps)}
            if run_syn and i < n_syn:
                entry["syn"] = bench_syn(row, args.threads, tmp)
            elif saved is not None and i < len(saved) and "syn" in saved[i]:
                entry["syn"] = {**saved[i]["syn"], "from": str(args.ants_from)}
            syn = entry.get("syn")
            if syn:
                entry["ratio_wall"] = syn["wall_s"] / entry["hwreg"]["wall_s"]
                if syn.get("cpu_s"):
                    entry["ratio_cpu"] = syn["cpu_s"] / entry["hwreg"]["cpu_s"]
            result["pairs"].append(entry)
            result["summary"] = summarise(result["pairs"])
            save()
            print(f"pair {i}: hwreg {entry['hwreg']['wall_s']:.2f} s (in process "
                  f"{entry['hwreg']['in_process_s']['total']:.2f} s), Dice "
                  f"{entry['dice_before']:.3f} -> {entry['hwreg']['dice']:.3f}"
                  + (f"; SyN {syn['wall_s']:.1f} s, Dice {syn['dice']:.3f}; "
                     f"{entry['ratio_wall']:.0f}x" if syn else ""), flush=True)
    print(json.dumps(result["summary"], indent=1))


def read_syn_rows(path: Path) -> list[dict]:
    """SyN rows of an earlier run: this script's file, or ``bench_realbrain.py``'s (same pairs;
    it timed the registration alone, so its seconds stand in for the wall time: an
    underestimate of SyN's end-to-end time, which lowers the ratio)."""
    data = json.loads(path.read_text())
    if "pairs" in data:
        return data["pairs"]
    return [{"syn": {"wall_s": r["seconds"], "registration_s": r["seconds"], "cpu_s": None,
                     "dice": r["parcels_after"], "note": "registration seconds only"}}
            for r in data["ants"]["rows"]]


def summarise(pairs: list[dict]) -> dict:
    """Means over the pairs; the SyN means and ratios over the pairs SyN ran on."""
    summary = {f"hwreg_{k}": statistics.mean(r["hwreg"][k] for r in pairs)
               for k in ("wall_s", "cpu_s", "dice")}
    summary["dice_before"] = statistics.mean(r["dice_before"] for r in pairs)
    summary["hwreg_in_process_s"] = statistics.mean(r["hwreg"]["in_process_s"]["total"]
                                                    for r in pairs)
    with_syn = [r for r in pairs if "syn" in r]
    if with_syn:
        summary["syn_pairs"] = len(with_syn)
        for k in ("wall_s", "cpu_s", "registration_s", "dice"):
            if all(r["syn"].get(k) is not None for r in with_syn):
                summary[f"syn_{k}"] = statistics.mean(r["syn"][k] for r in with_syn)
        for k in ("wall", "cpu"):
            if all(f"ratio_{k}" in r for r in with_syn):
                summary[f"ratio_{k}"] = statistics.mean(r[f"ratio_{k}"] for r in with_syn)
        summary["hwreg_dice_on_syn_pairs"] = statistics.mean(r["hwreg"]["dice"]
                                                             for r in with_syn)
    return summary


if __name__ == "__main__":
    main()
