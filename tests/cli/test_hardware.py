"""``hwreg export/build/emulate`` through argparse, as ``hwreg.cli`` wires them."""

from __future__ import annotations

import argparse
import json

import pytest

from hwreg.checkpoint import load_model_spec
from hwreg.cli.hardware import add_commands
from hwreg.errors import UserError


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hwreg")
    add_commands(parser.add_subparsers(dest="stage", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_export_build_emulate_cli(tmp_path, capsys) -> None:
    model = "random:tiny:w4a4:h1"
    grid = ["8", "8", "8"]
    assert _run(["export", "--model", model, "--grid", *grid, "--out",
                 str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").is_file()
    build = tmp_path / "build"
    assert _run(["build", "--model", model, "--grid", *grid, "--board", "Pynq-Z2",
                 "--target-fps", "500", "--out", str(build)]) == 0
    assert "fits Pynq-Z2: True" in capsys.readouterr().out
    assert _run(["build", "--model", model, "--board", "KV260", "--from-step",
                 "step_set_folding", "--to-step", "step_estimates", "--out", str(build)]) == 0
    perf = json.loads((build / "report" / "estimate_network_performance.json").read_text())
    assert perf["part"].startswith("xck26")
    assert _run(["emulate", "--model", model, "--build", str(build), "--pairs", "2",
                 "--out", str(tmp_path / "emu")]) == 0
    result = json.loads((tmp_path / "emu" / "emulation.json").read_text())
    assert result["exact"] and result["pairs"] == 2
    # a different model against this build: the emulation must fail loudly (hwreg exits 2)
    with pytest.raises(UserError, match=r"do not belong together|L1 shape"):
        _run(["emulate", "--model", "random:tiny:w4a4:h0", "--build", str(build), "--pairs",
              "1", "--out", str(tmp_path / "emu2")])


def test_bad_model_spec_is_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="no such model file or shipped model name"):
        load_model_spec(str(tmp_path / "missing.pt"))
