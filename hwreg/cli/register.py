"""``hwreg register``: a thin shell over :func:`hwreg.runtime.register.register_files`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _register(args: argparse.Namespace) -> int:
    from hwreg.runtime.register import register_files

    result = register_files(args.fixed, args.moving, args.out, model=args.model,
                            moving_label=args.moving_label, force=args.force,
                            device=args.device, package=args.package)
    print(f"registered in {result['seconds_total']:.2f} s (network "
          f"{result['seconds_network'] * 1000:.0f} ms); wrote " + ", ".join(result["outputs"]))
    return 0


def add_commands(stages: Any) -> None:
    """Add ``register`` to the ``hwreg`` subparsers object."""
    reg = stages.add_parser(
        "register", help="register a NIfTI pair with a trained model (no labels needed)",
        description="Warp MOVING onto FIXED. Writes DIR/warped.nii.gz and DIR/ddf.nii.gz (an "
                    "ITK/ANTs displacement field in mm, LPS, on FIXED's grid) and, with "
                    "--moving-label, DIR/warped_label.nii.gz; all with FIXED's shape and affine.")
    reg.add_argument("fixed", type=Path, help="fixed image (NIfTI)")
    reg.add_argument("moving", type=Path, help="moving image (NIfTI)")
    reg.add_argument("--out", required=True, type=Path, help="output folder")
    reg.add_argument("--model", default="demo-w4a4",
                     help="model file, run folder or shipped name (default demo-w4a4)")
    reg.add_argument("--moving-label", type=Path, default=None,
                     help="label map of MOVING to warp (nearest neighbour, ids kept)")
    reg.add_argument("--force", action="store_true", help="overwrite existing outputs")
    reg.add_argument("--device", choices=["auto", "cpu", "cuda", "verilator", "pynq"],
                     default="auto",
                     help="where the network runs: torch (auto, cpu, cuda) or the accelerator "
                          "of --package: verilator (its RTL under Verilator, the virtual board) "
                          "or pynq (on the board)")
    reg.add_argument("--package", type=Path, default=None,
                     help="accelerator package (hwreg package) for --device verilator|pynq")
    reg.set_defaults(handler=_register)
