"""The README's end-to-end registration claims ("End to end on 1 mm brains") for
``check_readme_numbers.py``: ``results/register_speed_idle.json`` (the latest
``bench_register.py`` run) and the two earlier runs it is compared with."""

from __future__ import annotations

from typing import Any

from readme_claims import S24, SPEED, Claim, R, _get, _span

IDLE = R + "register_speed_idle.json"
WALL = "| wall seconds, whole process | 3.96 | 97.3 | 24.7x |"
CPU = "| CPU seconds | 5.35 | 165.6 | 31.1x |"
DICE = "| parcel Dice (116 parcels; 0.734 before) | 0.856 | 0.907 | |"
PAIR0 = ("load 0.19, resample in 0.15, network 0.63 (all 24 passes), resample out 0.89, write "
         "0.44 s (total 2.32 s)")
BATCH = "Batch mode: 0.47 pairs/s with the 24 passes and 0.62 with one pass per pair"
STEPS = (
    ("`import torch` / `import hwreg.runtime.register` | 1.96 / 2.05 |",
     ("import_torch_cpu_s", "import_register_module_cpu_s")),
    ("(gzip through ISA-L, 3 threads) | 0.27 |", ("load",)),
    ("to the 48x64x48 model grid | 0.12 |", ("resample_in",)),
    ("| network, 24 passes (inference form, no Brevitas) | 1.16 |", ("network",)),
    ("+ warp image and labels | 1.19 |", ("resample_out",)),
    ("(`.nii.gz` ISA-L level 1 / `.nii`) | 0.43 / 0.09 |", ("write_nii.gz", "write_nii")),
    ("| per pair in batch mode (read to write) | 3.16 |", ("per_pair_batch",)),
)


def _pairs_span(key: str, fmt: str) -> Any:
    """``fmt`` of the smallest and largest per-pair value at ``key`` (e.g. ``syn/wall_s``)."""
    return lambda d: fmt.format(*_span(_get(p, key) for p in d["pairs"]))


REGISTER_CLAIMS: tuple[Claim, ...] = (
    Claim("load average 0.8 at the start", IDLE, "machine/loadavg_start/0", "{:.1f}"),
    *(Claim(row, IDLE, f"summary/{key}", fmt) for row, key, fmt in (
        (WALL, "hwreg_wall_s", "{:.2f}"), (WALL, "syn_wall_s", "{:.1f}"),
        (WALL, "ratio_wall", "{:.1f}x"), (CPU, "hwreg_cpu_s", "{:.2f}"),
        (CPU, "syn_cpu_s", "{:.1f}"), (CPU, "ratio_cpu", "{:.1f}x"),
        (DICE, "dice_before", "{:.3f}"), (DICE, "hwreg_dice", "{:.3f}"),
        (DICE, "syn_dice", "{:.3f}"))),
    Claim("Per pair the ratio was 20-28x", IDLE, _pairs_span("ratio_wall", "{:.0f}-{:.0f}x"),
          "{}"),
    Claim("(SyN itself took 87-109 s)", IDLE, _pairs_span("syn/wall_s", "{:.0f}-{:.0f} s"), "{}"),
    *(Claim(PAIR0, IDLE, f"pairs/0/hwreg/in_process_s/{k}", "{:.2f}")
      for k in ("load", "resample_in", "network", "resample_out", "write", "total")),
    Claim("the other 1.6 s of the call", IDLE, lambda d: _get(d, "pairs/0/hwreg/wall_s")
          - _get(d, "pairs/0/hwreg/in_process_s/total"), "{:.1f} s"),
    Claim(BATCH, IDLE, "batch/pairs_per_second", "{:.2f}"),
    Claim(BATCH, IDLE, "batch_one_pass/pairs_per_second", "{:.2f}"),
    Claim("3.4 ms wall (7.0 ms CPU) per pair", IDLE, "host/model_grid_ms", "{:.1f} ms"),
    Claim("3.4 ms wall (7.0 ms CPU) per pair", IDLE, "host/model_grid_cpu_ms", "{:.1f} ms"),
    Claim("at 1 mm 1.1 s.", IDLE, lambda d: _get(d, "host/one_mm_ms") / 1000, "{:.1f} s"),
    *(Claim(row, IDLE, f"cpu_seconds_per_step/{k}", "{:.2f}") for row, keys in STEPS
      for k in keys),
    # against the targets
    Claim("A single call takes 3.96 s", IDLE, "summary/hwreg_wall_s", "{:.2f} s"),
    Claim("the work (3.2 CPU s per pair, the network 1.16 of it)", IDLE,
          "cpu_seconds_per_step/per_pair_batch", "{:.1f} CPU"),
    Claim("the work (3.2 CPU s per pair, the network 1.16 of it)", IDLE,
          "cpu_seconds_per_step/network", "{:.2f} of"),
    Claim("Batch mode reaches 0.47-0.62 pairs/s", IDLE, lambda d: "{:.2f}-{:.2f}".format(
        _get(d, "batch/pairs_per_second"), _get(d, "batch_one_pass/pairs_per_second")), "{}"),
    Claim("its 3.16 CPU s per pair allow at most 0.63 pairs/s", IDLE,
          "cpu_seconds_per_step/per_pair_batch", "{:.2f} CPU"),
    Claim("its 3.16 CPU s per pair allow at most 0.63 pairs/s", IDLE,
          lambda d: 2 / _get(d, "cpu_seconds_per_step/per_pair_batch"), "{:.2f} pairs"),
    Claim("Against SyN: 24.7x end to end", IDLE, "summary/ratio_wall", "{:.1f}x"),
    Claim("at the model grid (3.4 ms per pair)", IDLE, "host/model_grid_ms", "{:.1f} ms"),
    # the runs before
    *(Claim("6.1 s per call, 3.4 s in the process, 0.27 pairs/s", S24, key, fmt)
      for key, fmt in (("summary/hwreg_wall_s", "{:.1f} s per"),
                       ("summary/hwreg_in_process_s", "{:.1f} s in"),
                       ("batch/pairs_per_second", "{:.2f} pairs"))),
    Claim("`import hwreg.runtime.register` from 5.63 to 2.36 CPU s", SPEED,
          "cpu_seconds_per_step_main/import_register_module_cpu_s", "{:.2f} to"),
    Claim("`import hwreg.runtime.register` from 5.63 to 2.36 CPU s", SPEED,
          "cpu_seconds_per_step/import_register_module_cpu_s", "{:.2f} CPU"),
)
