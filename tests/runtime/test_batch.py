"""Batch mode (``hwreg register --pairs``): same files as single calls, resume, bad rows,
timings and output formats."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np

from hwreg.cli import main
from tests.runtime.conftest import make_pair


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``hwreg register ...`` in-process; stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(["register", *args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_batch_files_equal_single_calls(tmp_path: Path, tiny_model: Path) -> None:
    make_pair(tmp_path / "a", seed=0)
    make_pair(tmp_path / "b", seed=1)
    pairs = _csv(tmp_path, ["fixed,moving,moving_label",
                            "a/fixed.nii.gz,a/moving.nii.gz,a/label.nii.gz",
                            "b/fixed.nii.gz,a/moving.nii.gz,"])  # relative to the CSV
    result = run_cli("--pairs", str(pairs), "--out", str(tmp_path / "batch"), "--model",
                     str(tiny_model), "--timings")
    assert result.returncode == 0, result.stderr
    assert "registered 2 pairs" in result.stdout
    singles = [("a", "a", ["--moving-label", str(tmp_path / "a/label.nii.gz")]), ("b", "a", [])]
    for row, (f, m, extra) in enumerate(singles, start=1):
        single = tmp_path / f"single{row}"
        assert run_cli(str(tmp_path / f / "fixed.nii.gz"), str(tmp_path / m / "moving.nii.gz"),
                       "--out", str(single), "--model", str(tiny_model), *extra).returncode == 0
        names = sorted(p.name for p in single.iterdir())
        assert names == (["ddf.nii.gz", "warped.nii.gz", "warped_label.nii.gz"] if extra
                         else ["ddf.nii.gz", "warped.nii.gz"])
        for name in names:  # byte for byte (gzip without time stamp)
            assert (tmp_path / "batch" / f"{row:04d}" / name).read_bytes() == \
                (single / name).read_bytes(), name
        info = json.loads((tmp_path / "batch" / f"{row:04d}" / "timings.json").read_text())
        assert set(info["seconds"]) >= {"load", "resample_in", "network", "resample_out",
                                        "write", "total"}
    summary = json.loads((tmp_path / "batch" / "timings.json").read_text())
    assert summary["registered"] == 2 and summary["pairs_per_second"] > 0
    assert not (tmp_path / "batch" / "errors.csv").exists()


def test_batch_resumes_and_logs_bad_rows(tmp_path: Path, tiny_model: Path) -> None:
    make_pair(tmp_path)
    pairs = _csv(tmp_path, ["id,fixed,moving",
                            "good,fixed.nii.gz,moving.nii.gz",
                            "bad,fixed.nii.gz,missing.nii.gz",
                            "again,moving.nii.gz,fixed.nii.gz"])
    out = tmp_path / "out"
    first = run_cli("--pairs", str(pairs), "--out", str(out), "--model", str(tiny_model))
    assert first.returncode == 1 and "1 failed" in first.stdout
    errors = (out / "errors.csv").read_text().splitlines()
    assert errors[0] == "row,id,error" and len(errors) == 2
    assert errors[1].startswith("2,bad,") and "missing.nii.gz: file not found" in errors[1]
    assert not (out / "bad").exists()
    assert (out / "good" / "ddf.nii.gz").exists() and (out / "again" / "ddf.nii.gz").exists()
    stamp = (out / "good" / "ddf.nii.gz").stat().st_mtime_ns
    (out / "again" / "warped.nii.gz").unlink()  # an interrupted row: redone
    second = run_cli("--pairs", str(pairs), "--out", str(out), "--model", str(tiny_model))
    assert "registered 1 pairs" in second.stdout and "skipped 1 finished" in second.stdout
    assert (out / "good" / "ddf.nii.gz").stat().st_mtime_ns == stamp
    assert (out / "again" / "warped.nii.gz").exists()
    forced = run_cli("--pairs", str(pairs), "--out", str(out), "--model", str(tiny_model),
                     "--force")
    assert "registered 2 pairs" in forced.stdout


def test_bad_pairs_csv_is_one_line_error(tmp_path: Path, tiny_model: Path) -> None:
    pairs = _csv(tmp_path, ["fixed,moving_image", "a,b"])
    result = run_cli("--pairs", str(pairs), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "pairs.csv: no column 'moving'" in result.stderr
    assert not (tmp_path / "o").exists()
    both = run_cli(str(pairs), str(pairs), "--pairs", str(pairs), "--out", str(tmp_path / "o"))
    assert both.returncode == 2 and "not both" in both.stderr


def test_formats_compresslevel_and_timings(tmp_path: Path, tiny_model: Path) -> None:
    fixed, moving, _, _ = make_pair(tmp_path)
    runs = {"nii": ["--format", "nii"], "gz0": ["--compresslevel", "0"],
            "gz9": ["--compresslevel", "9", "--timings"]}
    for name, extra in runs.items():
        result = run_cli(str(fixed), str(moving), "--out", str(tmp_path / name), "--model",
                         str(tiny_model), *extra)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "nii").iterdir()) == ["ddf.nii", "warped.nii"]
    ref = np.asarray(nib.load(tmp_path / "nii" / "ddf.nii").dataobj)
    for name in ("gz0", "gz9"):
        np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / name / "ddf.nii.gz").dataobj),
                                      ref)
    sizes = {name: (tmp_path / name / "ddf.nii.gz").stat().st_size for name in ("gz0", "gz9")}
    assert sizes["gz9"] < sizes["gz0"]
    timings = json.loads((tmp_path / "gz9" / "timings.json").read_text())
    assert timings["peak_rss_mb"] > 10 and timings["seconds"]["total"] > 0
    assert not (tmp_path / "nii" / "timings.json").exists()
