"""``hwreg package``: a thin shell over :func:`hwreg.package.package.package_build`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _package(args: argparse.Namespace) -> int:
    from hwreg.package.package import package_build

    m = package_build(args.build, args.out, board=args.board, force=args.force,
                      verify=not args.no_verify)
    s, checked = m["stream"], m["verified"]
    print(f"wrote {args.out}: {len(m['rtl']['sources'])} RTL sources + "
          f"{len(m['rtl']['memory_files'])} memory files, top {m['rtl']['top']} "
          f"({s['beats_in']} beats in, {s['beats_out']} out per pair), {m['board']} at "
          f"{m['clock_MHz']:g} MHz; FIFO depths from {m['fifo_depths_from']}")
    if checked is not None:
        print(f"virtual board (Verilator, PKG/rtl): exact vs L3 on one random pair, "
              f"{checked['cycles']} cycles")
    if m["vivado"]["supported"]:
        print(f"bitstream: make -C {args.out} bitstream (needs vivado on PATH)")
    else:
        print(f"no Vivado flow for {m['board']}: {m['vivado']['why_not']}")
    return 0


def add_commands(stages: Any) -> None:
    """Add ``package`` to the ``hwreg`` subparsers object."""
    from hwreg.compile.boards import Board

    pkg = stages.add_parser(
        "package", help="a build as a board package: RTL, Vivado Tcl, driver, manifest",
        description="Write PKG/rtl (the stitched accelerator that L5 verifies, memory files, an "
                    "AXI-stream top for the DMA), PKG/vivado (Tcl: processing system + AXI DMA "
                    "+ the accelerator as an RTL module reference, synthesis, implementation, "
                    ".bit/.hwh, reports), PKG/driver (host driver: pynq or verilator transport), "
                    "PKG/manifest.json and PKG/README.md. No HLS and no Vivado needed to write "
                    "it; FIFO depths from BUILD/fifo_depths.json, else sized by simulation as "
                    "L5 does; the package's own Verilator model is checked exact vs L3 on one "
                    "random pair before it is written.")
    pkg.add_argument("--build", required=True, type=Path, help="build folder (hwreg build)")
    pkg.add_argument("--out", required=True, type=Path, help="package folder to write")
    pkg.add_argument("--board", choices=[b.value for b in Board], default=None,
                     help="target board (default: the build's)")
    pkg.add_argument("--force", action="store_true", help="replace an existing package")
    pkg.add_argument("--no-verify", action="store_true",
                     help="skip the Verilator check of the package (its build takes minutes "
                          "on large nets)")
    pkg.set_defaults(handler=_package)
