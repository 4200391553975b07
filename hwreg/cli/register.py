"""``hwreg register``: a thin shell over :func:`hwreg.runtime.register.register_files` (one pair)
and :func:`hwreg.runtime.batch.register_batch` (``--pairs PAIRS.csv``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwreg.errors import UserError


def _print_timings(info: dict[str, Any]) -> None:
    seconds = info["seconds"]
    parts = ", ".join(f"{k} {v * 1000:.0f}" for k, v in seconds.items() if k != "total")
    print(f"timings (ms): {parts}; total {seconds['total'] * 1000:.0f}; "
          f"peak memory {info['peak_rss_mb']:.0f} MB")


def _register(args: argparse.Namespace) -> int:
    from hwreg.runtime.board import PACKAGE_DEVICES
    from hwreg.runtime.register import keep_freed_memory

    # every output is written and closed when this returns; an accelerator package's
    # simulation or board link is left to the normal teardown
    args.exit_fast = args.device not in PACKAGE_DEVICES

    keep_freed_memory()  # large arrays reused, not page-faulted in again (its docstring)
    model: Any = args.model
    if args.flips is not None or args.cascade is not None:
        from hwreg.runtime.register import Registrar

        model = Registrar(args.model, args.device, args.package, args.flips, args.cascade)
    options = {"model": model, "device": args.device, "fmt": args.format,
               "compresslevel": args.compresslevel, "force": args.force,
               "timings": args.timings, "package": args.package}
    if args.pairs is not None:
        if args.fixed is not None or args.moving_label is not None:
            raise UserError("--pairs: give either --pairs or FIXED MOVING [--moving-label], "
                            "not both")
        from hwreg.runtime.batch import ERRORS, register_batch

        info = register_batch(args.pairs, args.out, **options)
        see = f" (see {args.out / ERRORS})" if info["failed"] else ""
        print(f"registered {info['registered']} pairs in {info['seconds']:.1f} s "
              f"({info['pairs_per_second']:.2f} pairs/s), skipped {info['skipped']} finished, "
              f"{info['failed']} failed{see}; peak memory {info['peak_rss_mb']:.0f} MB")
        return 1 if info["failed"] else 0
    if args.fixed is None or args.moving is None:
        raise UserError("register: give FIXED and MOVING, or --pairs PAIRS.csv")
    from hwreg.runtime.register import register_files

    result = register_files(args.fixed, args.moving, args.out, moving_label=args.moving_label,
                            **options)
    print(f"registered in {result['seconds_total']:.2f} s (network "
          f"{result['seconds_network'] * 1000:.0f} ms); wrote " + ", ".join(result["outputs"]))
    if args.timings:
        _print_timings(result)
    return 0


def add_commands(stages: Any) -> None:
    """Add ``register`` to the ``hwreg`` subparsers object."""
    reg = stages.add_parser(
        "register", help="register a NIfTI pair (or a CSV of pairs) with a trained model",
        description="Warp MOVING onto FIXED. Writes DIR/warped.nii.gz and DIR/ddf.nii.gz (an "
                    "ITK/ANTs displacement field in mm, LPS, on FIXED's grid) and, with "
                    "--moving-label, DIR/warped_label.nii.gz; all with FIXED's shape and affine. "
                    "With --pairs PAIRS.csv (columns fixed, moving, optional moving_label and "
                    "id), registers every row into DIR/<id>/ with the model loaded once; "
                    "finished rows are skipped, bad rows are listed in DIR/errors.csv.")
    reg.add_argument("fixed", type=Path, nargs="?", help="fixed image (NIfTI)")
    reg.add_argument("moving", type=Path, nargs="?", help="moving image (NIfTI)")
    reg.add_argument("--out", required=True, type=Path, help="output folder")
    reg.add_argument("--pairs", type=Path, default=None,
                     help="CSV of pairs (batch mode) instead of FIXED MOVING")
    reg.add_argument("--model", default="demo-w4a4",
                     help="model file, run folder or shipped name (default demo-w4a4)")
    reg.add_argument("--flips", type=int, default=None, metavar="0-3",
                     help="test-time flip averaging over the first N axes (2**N accelerator "
                          "passes; default: the model's model.flips)")
    reg.add_argument("--cascade", type=int, default=None, metavar="K",
                     help="passes of the cascade, the host warping in between (default: the "
                          "model's model.cascade)")
    reg.add_argument("--moving-label", type=Path, default=None,
                     help="label map of MOVING to warp (nearest neighbour, ids kept)")
    reg.add_argument("--format", choices=["nii.gz", "nii"], default="nii.gz",
                     help="output files gzip-compressed (default) or uncompressed .nii "
                          "(fastest to write, ~4x larger)")
    reg.add_argument("--compresslevel", type=int, choices=range(10), default=1, metavar="0-9",
                     help="gzip level of .nii.gz outputs (default 1, nibabel's: fast)")
    reg.add_argument("--timings", action="store_true",
                     help="print the time of each step and the peak memory; write "
                          "DIR/timings.json")
    reg.add_argument("--force", action="store_true", help="overwrite existing outputs")
    reg.add_argument("--device", choices=["auto", "cpu", "cuda", "verilator", "pynq"],
                     default="auto",
                     help="where the network runs: torch (auto, cpu, cuda) or the accelerator "
                          "of --package: verilator (its RTL under Verilator, the virtual board) "
                          "or pynq (on the board)")
    reg.add_argument("--package", type=Path, default=None,
                     help="accelerator package (hwreg package) for --device verilator|pynq")
    reg.set_defaults(handler=_register)
