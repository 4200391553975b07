"""The folder layout of a demo run: what :mod:`.demo` writes where and :mod:`.report` reads.

``OUT/models/<name>`` run folders, ``OUT/eval/<slug(label)>`` evaluations, ``OUT/build/<board>``
FINN builds, ``OUT/sweep``, ``OUT/emulation``, ``OUT/register``, ``OUT/configs`` (the derived run
configs) and ``OUT/timings.json``.
"""

from __future__ import annotations

from pathlib import Path

from hwreg.compile.boards import Board

#: Boards the demo builds the shipped W4A4 model for, in the report's order.
BOARDS: tuple[Board, ...] = (Board.zcu104, Board.pynq_z2, Board.kv260, Board.u250)
#: The model the demo builds, emulates and registers with, and its float counterpart (L0).
HW_MODEL, FLOAT_MODEL = "demo-w4a4", "demo-float"
#: Run folder of the pruned W4A4 model (under ``OUT/models``).
PRUNED = "w4a4-p50"
#: ANTs SyN on held-out default pairs (``make bench``): the baseline the demo quotes (when
#: present), relative to the repository root the demo runs from.
SYN_BASELINE = Path("benchmarks/results/register.json")


def evaluated_models(out: Path) -> dict[str, str]:
    """The models the demo evaluates, by report label: a shipped name or a run folder."""
    models = out / "models"
    return {"demo-float (shipped)": "demo-float", "demo-w4a4 (shipped)": "demo-w4a4",
            "demo-w4a4-p50 (shipped)": "demo-w4a4-p50",
            "float (this demo)": str(models / "float"),
            "w4a4 (this demo)": str(models / "w4a4"),
            "w4a4 50% pruned (this demo)": str(models / PRUNED)}


def slug(label: str) -> str:
    """A folder name for a report label (``demo-w4a4 (shipped)`` -> ``demo-w4a4__shipped``)."""
    return "".join(c if c.isalnum() or c == "-" else "_" for c in label).strip("_")
