"""The hwreg command: data prepare/check end to end, and one-line user errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hwreg.cli import main
from hwreg.data import load_image, load_labels


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``hwreg`` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "hwreg.cli", *args], capture_output=True,
                          text=True, check=False)


@pytest.mark.slow
def test_prepare_then_check(tmp_path: Path) -> None:
    out = tmp_path / "default"
    assert main(["data", "prepare", "--out", str(out), "--subjects", "2", "--spacing", "4",
                 "--quiet"]) == 0
    image = load_image(out / "IBSR_01" / "IBSR_01_ana_strip.nii.gz")
    labels = load_labels(out / "IBSR_01" / "IBSR_01_seg_ana.nii.gz")
    assert image.shape == labels.shape == (40, 49, 40)  # 161x197x161 mm at 4 mm
    assert image.spacing == (4.0, 4.0, 4.0)
    assert len(np.unique(labels.data)) > 20
    second = load_image(out / "IBSR_02" / "IBSR_02_ana_strip.nii.gz")
    assert not np.array_equal(image.data, second.data)  # subjects differ
    # deterministic from the seed
    again = tmp_path / "again"
    main(["data", "prepare", "--out", str(again), "--subjects", "2", "--spacing", "4", "--quiet"])
    assert np.array_equal(load_image(again / "IBSR_02" / "IBSR_02_ana_strip.nii.gz").data,
                          second.data)
    result = run_cli("data", "check", str(out))
    assert result.returncode == 0, result.stderr
    assert "2 subjects" in result.stdout and "IBSR_02" in result.stdout
    # an existing dataset is not overwritten without --force
    refused = run_cli("data", "prepare", "--out", str(out), "--subjects", "2", "--spacing", "4")
    assert refused.returncode == 2 and "--force" in refused.stderr


def test_check_bad_file_is_one_line_without_traceback(
        ibsr_dataset: Callable[..., Path]) -> None:
    root = ibsr_dataset(n=2)
    (root / "IBSR_01" / "IBSR_01_seg_ana.nii.gz").write_bytes(b"\x1f\x8bcorrupt")
    result = run_cli("data", "check", str(root))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("hwreg: error: ") and "IBSR_01_seg_ana.nii.gz" in lines[0]


def test_every_command_has_help() -> None:
    for args in (["--help"], ["data", "--help"], ["data", "prepare", "--help"],
                 ["data", "check", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0 and "usage: hwreg" in result.stdout
