"""Label-free registration of NIfTI pairs: outputs in FIXED's space, bad inputs, --force."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hwreg.cli import main
from tests.conftest import write_nifti
from tests.runtime.conftest import make_pair


def _pair(tmp_path: Path) -> tuple[Path, Path, Path, np.ndarray]:
    return make_pair(tmp_path)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``hwreg register ...`` in-process (fast); stderr captured as a user sees it."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["register", *args])
    return subprocess.CompletedProcess(args, code, "", err.getvalue())


def test_register_subprocess_bad_input_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hwreg.cli", "register", str(tmp_path / "a"),
                             str(tmp_path / "b"), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"hwreg: error: {tmp_path / 'a'}: file not found"


EXIT_PROBE = """
import atexit, sys
atexit.register(lambda: print("teardown ran", flush=True))
from hwreg.cli import run
sys.argv = ["hwreg", *sys.argv[1:]]
code = run()
print("run returned", code, flush=True)
sys.exit(code)
"""


def test_console_register_ends_without_teardown(tmp_path: Path, tiny_model: Path) -> None:
    """The console script ends `hwreg register` at once (no interpreter teardown: no atexit
    handler, nothing after run()), with its output flushed and every file complete; other
    commands return normally."""
    fixed, moving, label, _ = _pair(tmp_path)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, "register", str(fixed), str(moving),
                           "--out", str(out), "--model", str(tiny_model), "--moving-label",
                           str(label)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("registered in") and "teardown ran" not in done.stdout
    assert "run returned" not in done.stdout
    for name in ("warped.nii.gz", "ddf.nii.gz", "warped_label.nii.gz"):
        assert np.isfinite(nib.load(out / name).get_fdata()).all(), name
    bad = subprocess.run([sys.executable, "-c", EXIT_PROBE, "register", str(fixed),
                          str(tmp_path / "missing.nii.gz"), "--out", str(out)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == f"hwreg: error: {tmp_path / 'missing.nii.gz'}: file not found"
    other = subprocess.run([sys.executable, "-c", EXIT_PROBE, "data", "check",
                            str(tmp_path / "nothing")], capture_output=True, text=True,
                           check=False)
    assert other.stdout.splitlines()[-2:] == [f"run returned {other.returncode}", "teardown ran"]


def test_outputs_in_fixed_space(tmp_path: Path, tiny_model: Path) -> None:
    fixed, moving, label, fixed_affine = _pair(tmp_path)
    out = tmp_path / "out"
    result = run_cli(str(fixed), str(moving), "--out", str(out), "--model", str(tiny_model),
                     "--moving-label", str(label))
    assert result.returncode == 0, result.stderr
    for name in ("warped.nii.gz", "ddf.nii.gz", "warped_label.nii.gz"):
        img = nib.load(out / name)
        assert img.shape[:3] == (13, 17, 11), name
        assert np.allclose(img.affine, fixed_affine), name
    ddf = nib.load(out / "ddf.nii.gz")
    assert ddf.shape == (13, 17, 11, 1, 3) and ddf.header.get_intent()[0] == "vector"
    assert np.isfinite(ddf.get_fdata()).all()
    warped_label = np.asarray(nib.load(out / "warped_label.nii.gz").dataobj)
    assert set(np.unique(warped_label).tolist()) <= {0, 17, 1000}  # ids kept, no blending
    assert warped_label.dtype == np.int16


def test_existing_outputs_need_force(tmp_path: Path, tiny_model: Path) -> None:
    fixed, moving, _, _ = _pair(tmp_path)
    out = tmp_path / "out"
    assert run_cli(str(fixed), str(moving), "--out", str(out), "--model",
                   str(tiny_model)).returncode == 0
    before = (out / "warped.nii.gz").stat().st_mtime_ns
    again = run_cli(str(fixed), str(moving), "--out", str(out), "--model", str(tiny_model))
    assert again.returncode == 2 and "--force" in again.stderr
    assert (out / "warped.nii.gz").stat().st_mtime_ns == before
    forced = run_cli(str(fixed), str(moving), "--out", str(out), "--model", str(tiny_model),
                     "--force")
    assert forced.returncode == 0


@pytest.mark.parametrize("fault", ["missing", "corrupt", "2d", "4d", "nan", "label_shape"])
def test_bad_inputs_write_nothing(tmp_path: Path, tiny_model: Path, fault: str) -> None:
    fixed, moving, label, _ = _pair(tmp_path)
    bad, args = moving, [str(fixed), str(moving)]
    if fault == "missing":
        bad = tmp_path / "nope.nii.gz"
        args = [str(fixed), str(bad)]
    elif fault == "corrupt":
        moving.write_bytes(moving.read_bytes()[:100])
    elif fault == "2d":
        write_nifti(moving, np.ones((5, 5), np.float32))
    elif fault == "4d":
        write_nifti(moving, np.ones((5, 5, 5, 3), np.float32))
    elif fault == "nan":
        write_nifti(moving, np.full((5, 5, 5), np.nan, np.float32))
    elif fault == "label_shape":
        bad = label
        write_nifti(label, np.ones((4, 4, 4), np.int16))
    out = tmp_path / "out"
    result = run_cli(*args, "--out", str(out), "--model", str(tiny_model),
                     "--moving-label", str(label))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert bad.name in result.stderr
    assert not out.exists()


def test_unknown_model_name(tmp_path: Path) -> None:
    fixed, moving, _, _ = _pair(tmp_path)
    result = run_cli(str(fixed), str(moving), "--out", str(tmp_path / "o"), "--model", "nope")
    assert result.returncode == 2 and "demo-w4a4" in result.stderr


def test_flips_and_cascade_override_the_models_passes(tmp_path: Path, tiny_model: Path) -> None:
    from hwreg.errors import UserError
    from hwreg.runtime.register import Registrar

    assert Registrar("demo-w4a4", "cpu").net.passes == 24  # the shipped model's settings
    assert Registrar("demo-w4a4", "cpu", flips=0, cascade=1).net.passes == 1
    with pytest.raises(UserError, match=r"^--flips: expected 0\.\.3"):
        Registrar(tiny_model, "cpu", flips=4)
    fixed, moving, _, _ = _pair(tmp_path)
    outs = {}
    for flips in ("0", "1"):
        out = tmp_path / f"out{flips}"
        result = run_cli(str(fixed), str(moving), "--out", str(out), "--model", str(tiny_model),
                         "--flips", flips, "--cascade", "2")
        assert result.returncode == 0, result.stderr
        outs[flips] = nib.load(out / "ddf.nii.gz").get_fdata()
    assert not np.array_equal(outs["0"], outs["1"])  # the mirrored passes change the DDF
    bad = run_cli(str(fixed), str(moving), "--out", str(tmp_path / "bad"), "--model",
                  str(tiny_model), "--cascade", "0")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "hwreg: error: --cascade: expected 1..8 passes, got 0")
    assert not (tmp_path / "bad").exists()
