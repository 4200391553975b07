"""``hwreg package`` on the tiny builds: a self-contained RTL folder (Verilator lint of the
package alone), Tcl that is complete and names only files that exist, a manifest that matches
the build, ``make bitstream`` without Vivado, HLS-only layers refused, and the virtual board
(``hwreg register --device verilator --package``) bit for bit equal to the Brevitas model.

The package fixture runs L5's FIFO sizing (its Verilator build cached in ``rtl_cache``) and
builds the package's own Verilator model (in ``PKG/verilator``, reused by the virtual-board
tests); each build takes one to a few minutes on a busy 2-core machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import tkinter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hwreg.cli import main
from hwreg.compile.boards import Board, board_info
from hwreg.compile.config import BuildConfig, MvauStyle
from hwreg.config import load_yaml
from hwreg.errors import UserError
from hwreg.package import flow
from hwreg.package.package import package_build, write_flow
from hwreg.rtl.harness import verilator_cli
from tests.conftest import write_nifti

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


def _style(build: Path) -> MvauStyle:
    return load_yaml(BuildConfig, build / "build_config.yaml").mvau_style


@pytest.fixture(scope="session")
def package(tiny_build, tmp_path_factory, rtl_cache):
    """(model, grid, build, PKG) for the tiny builds in RTL style."""
    model, grid, build = tiny_build
    if _style(build) is MvauStyle.hls:
        pytest.skip("MVAU_hls has only HLS: refused (test_hls_only_layers_refused)")
    pkg = tmp_path_factory.mktemp("pkg") / "PKG"
    package_build(build, pkg, cache_dir=rtl_cache)
    return model, grid, build, pkg


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_manifest_matches_build(package) -> None:
    from qonnx.core.modelwrapper import ModelWrapper

    from hwreg.compile.lower import META_OUT_GRID, META_OUT_SCALE
    from hwreg.compile.steps import hw_graph_path

    _, grid, build, pkg = package
    m = json.loads((pkg / "manifest.json").read_text())
    cfg = load_yaml(BuildConfig, build / "build_config.yaml")
    hw = ModelWrapper(str(hw_graph_path(build)))
    low = ModelWrapper(str(build / "intermediate_models" / "step_lower_to_integer.onnx"))
    for key, tensor in (("input", hw.graph.input[0].name), ("output", hw.graph.output[0].name)):
        assert m[key]["shape"] == list(hw.get_tensor_shape(tensor)), key
        assert m[key]["datatype"] == hw.get_tensor_datatype(tensor).name, key
    assert m["input"]["datatype"] == "UINT8" and m["input"]["grid"] == list(grid)
    assert m["output"]["grid"] == [int(v) for v in low.get_metadata_prop(META_OUT_GRID).split(",")]
    assert m["output"]["scale"] == float(low.get_metadata_prop(META_OUT_SCALE))
    assert (m["board"], m["clock_ns"]) == (cfg.board.value, cfg.clock_ns)
    s = m["stream"]  # every element of the tensors travels once
    assert s["beats_in"] * s["simd"] == int(np.prod(m["input"]["shape"]))
    assert s["beats_out"] * s["pe"] == int(np.prod(m["output"]["shape"]))
    assert m["verified"]["exact"] and m["fifos"]


def test_rtl_lints_alone(package, tmp_path) -> None:
    """``make lint`` (Verilator --lint-only) on a moved copy of PKG: nothing from outside the
    package is needed."""
    pkg = shutil.copytree(package[3], tmp_path / "moved",
                          ignore=shutil.ignore_patterns("verilator"))
    for f in (pkg / "rtl").iterdir():
        assert not re.search(r'"/[^"\n]*"', f.read_text(errors="replace")), f.name
    if shutil.which("make") is None:
        pytest.skip("no make")
    res = subprocess.run(["make", "-s", "-C", str(pkg), "lint", f"VERILATOR={verilator_cli()}"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "%Error" not in res.stderr, res.stderr[-2000:]


def _tcl_files(pkg: Path) -> tuple[list[str], list[str]]:
    """The RTL and memory files ``vivado/sources.tcl`` names (evaluated by Tcl itself)."""
    tcl = tkinter.Tcl()
    tcl.eval(f"source {{{pkg / 'vivado' / 'sources.tcl'}}}")
    return (list(tcl.splitlist(tcl.getvar("hwreg_rtl_files"))),
            list(tcl.splitlist(tcl.getvar("hwreg_mem_files"))))


def test_tcl_complete_and_names_existing_files(package) -> None:
    pkg = package[3]
    scripts = sorted((pkg / "vivado").glob("*.tcl"))
    assert {p.name for p in scripts} == {"sources.tcl", "block_design.tcl", "build.tcl"}
    tcl = tkinter.Tcl()
    for script in scripts:
        text = script.read_text()
        assert tcl.call("info", "complete", text) == 1, script.name
        assert tcl.call("info", "complete", text + "\n{") == 0  # the check can fail
        for sub in re.findall(r"file join \$pkg vivado (\S+\.tcl)", text):
            assert (pkg / "vivado" / sub).is_file(), sub
    rtl, mem = _tcl_files(pkg)
    assert rtl and mem and all((pkg / f).is_file() for f in rtl + mem)
    on_disk = {f"rtl/{f.name}" for f in (pkg / "rtl").iterdir() if f.suffix in (".v", ".sv")}
    assert set(rtl) == on_disk  # and every source in the package is named
    assert {f"rtl/{f.name}" for f in (pkg / "rtl").glob("*.dat")} == set(mem)
    sources_f = (pkg / "rtl" / "sources.f").read_text().split()
    assert [f"rtl/{f}" for f in sources_f] == rtl == json.loads(
        (pkg / "manifest.json").read_text())["rtl"]["sources"]


@pytest.mark.parametrize("board", list(Board))
def test_flow_for_every_board(package, tmp_path, board) -> None:
    m = json.loads((package[3] / "manifest.json").read_text())
    shutil.copytree(package[3] / "rtl", tmp_path / "rtl")
    m["part"] = board_info(board).part
    write_flow(tmp_path, board, m["clock_ns"], {**m, "vivado": {
        "supported": board not in flow.UNSUPPORTED}})
    scripts = sorted((tmp_path / "vivado").glob("*.tcl"))
    tcl = tkinter.Tcl()
    assert all(tcl.call("info", "complete", p.read_text()) == 1 for p in scripts)
    rtl, mem = _tcl_files(tmp_path)
    assert all((tmp_path / f).is_file() for f in rtl + mem)
    if board in flow.UNSUPPORTED:  # U250 (Alveo), the ECP5 boards (hwreg bitstream)
        assert [p.name for p in scripts] == ["sources.tcl"]
    else:
        bd = (tmp_path / "vivado" / "block_design.tcl").read_text()
        ps = "processing_system7" if board is Board.pynq_z2 else "zynq_ultra_ps_e"
        assert f"xilinx.com:ip:{ps}" in bd and "xilinx.com:ip:axi_dma" in bd
        assert "create_bd_cell -type module -reference $hwreg_top" in bd


def test_bitstream_without_vivado_says_so(package) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    if shutil.which("vivado") is not None:
        pytest.skip("vivado is installed here")
    res = subprocess.run(["make", "-s", "-C", str(package[3]), "bitstream"], capture_output=True,
                         text=True, check=False)
    lines = (res.stdout + res.stderr).strip().splitlines()
    assert res.returncode != 0
    assert "vivado is not on PATH" in lines[0] and not (package[3] / "vivado" / "out").exists()


def test_hls_only_layers_refused(tiny_build, tmp_path) -> None:
    _, _, build = tiny_build
    if _style(build) is not MvauStyle.hls:
        pytest.skip("RTL style: packaged (the other tests)")
    code, _, err = _cli("package", "--build", str(build), "--out", str(tmp_path / "PKG"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "MVAU_hls" in err and "HLS" in err and not (tmp_path / "PKG").exists()
    assert not list(tmp_path.iterdir())  # no staging folder left either


def test_fifo_depths_file_and_force(package, tmp_path) -> None:
    """BUILD/fifo_depths.json sets the depths (no simulation); an existing PKG needs --force."""
    _, _, build, pkg = package
    m = json.loads((pkg / "manifest.json").read_text())
    copy = shutil.copytree(build, tmp_path / "build")
    table = json.loads((copy / "fifo_depths.json").read_text())
    for k, v in m["fifos"].items():
        table["fifos"][k]["depth"] = v["depth"]
    (copy / "fifo_depths.json").write_text(json.dumps(table))
    out = tmp_path / "PKG"
    out.mkdir()
    (out / "keep").write_text("user file")
    with pytest.raises(UserError, match="--force"):
        package_build(copy, out)
    assert (out / "keep").is_file()
    m2 = package_build(copy, out, force=True, verify=False)
    assert not (out / "keep").exists() and m2["verified"] is None
    assert m2["fifo_depths_from"].endswith("fifo_depths.json") and m2["fifos"] == m["fifos"]
    top = "rtl/hwreg_accel.sv"
    assert (out / top).read_text() == (pkg / top).read_text()
    table["fifos"]["fifo_nope"] = table["fifos"].pop(next(iter(table["fifos"])))
    (copy / "fifo_depths.json").write_text(json.dumps(table))
    with pytest.raises(UserError, match="fifo_nope"):
        package_build(copy, tmp_path / "PKG2", verify=False)
    assert {p.name for p in tmp_path.iterdir()} == {"build", "PKG"}  # nothing staged left


def test_virtual_board_registration_is_exact(package, tmp_path) -> None:
    """DDF codes of the RTL (with back-pressure) = Brevitas; ``hwreg register --device
    verilator`` writes the very files ``--device cpu`` writes (which runs the model file's
    Brevitas-free inference form)."""
    from hwreg.checkpoint import atomic_save, with_inference_form
    from hwreg.config import DataConfig
    from hwreg.export import brevitas_codes, random_codes
    from hwreg.run import RunConfig
    from hwreg.runtime.driver import Accelerator, VerilatorTransport, load_manifest
    from hwreg.train import model_dict

    model, grid, _, pkg = package
    x = random_codes(grid, 1, seed=3)
    transport = VerilatorTransport(pkg, load_manifest(pkg), stall_percent=30)  # PKG/verilator
    codes = Accelerator(pkg, transport).codes(x[0])
    ref = brevitas_codes(model, x)[0]
    assert np.array_equal(codes, ref) and np.abs(ref).max() > 0
    model_file = tmp_path / "model.pt"
    atomic_save(with_inference_form(model_dict(
        RunConfig(data=DataConfig(grid_shape=grid, grid_spacing=4.0), model=model.cfg),
        model, 0, {})), model_file)
    rng = np.random.default_rng(0)
    fixed = write_nifti(tmp_path / "f.nii.gz", rng.uniform(0, 100, (21, 30, 17))
                        .astype(np.float32), np.diag([1.5, 1.2, 2.0, 1.0]))
    moving = write_nifti(tmp_path / "m.nii.gz", rng.uniform(0, 100, (19, 27, 15))
                         .astype(np.float32), np.diag([-1.6, 1.3, 2.0, 1.0]))
    outs = {}
    for device in ("cpu", "verilator"):
        extra = ["--package", str(pkg)] if device == "verilator" else []
        code, _, err = _cli("register", str(fixed), str(moving), "--out", str(tmp_path / device),
                            "--model", str(model_file), "--device", device, *extra)
        assert code == 0, err
        outs[device] = [np.asarray(nib.load(tmp_path / device / n).dataobj)
                        for n in ("ddf.nii.gz", "warped.nii.gz")]
    assert np.abs(outs["cpu"][0]).max() > 0
    for a, b in zip(outs["cpu"], outs["verilator"], strict=True):
        assert np.array_equal(a, b)
    code, _, err = _cli("register", str(fixed), str(moving), "--out", str(tmp_path / "pynq"),
                        "--model", str(model_file), "--device", "pynq", "--package", str(pkg))
    assert code == 2 and "PYNQ board" in err and not (tmp_path / "pynq").exists()


def test_register_package_mismatch_and_missing(package, tmp_path) -> None:
    fixed = write_nifti(tmp_path / "f.nii.gz", np.ones((9, 9, 9), np.float32))
    code, _, err = _cli("register", str(fixed), str(fixed), "--out", str(tmp_path / "o"),
                        "--model", "demo-w4a4", "--device", "verilator")
    assert code == 2 and "--package" in err
    code, _, err = _cli("register", str(fixed), str(fixed), "--out", str(tmp_path / "o"),
                        "--model", "demo-w4a4", "--device", "verilator", "--package",
                        str(package[3]))
    assert code == 2 and "do not belong together" in err and not (tmp_path / "o").exists()
