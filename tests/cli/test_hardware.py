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
    printed = capsys.readouterr()
    assert "fits Pynq-Z2: True" in printed.out
    # FINN's per-layer data-type notes go to the build's log, not the terminal
    assert "inputDataType changing" in (build / "build.log").read_text()
    assert "inputDataType" not in printed.err + printed.out
    assert "[torch.onnx]" not in printed.out and "torchvision" not in printed.err
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


@pytest.mark.slow
def test_build_for_several_boards(tmp_path, capsys) -> None:
    """``--board A B``: one build per board in OUT/<board>, by the local executor; a board whose
    build fails is reported while the other finishes."""
    out = tmp_path / "boards"
    assert _run(["build", "--model", "random:tiny:w4a4:h0", "--grid", "8", "8", "8", "--board",
                 "Pynq-Z2", "KV260", "--to-step", "step_tidy", "--jobs", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for board in ("Pynq-Z2", "KV260"):
        saved = (out / board / "build_config.yaml").read_text()
        assert f"board: {board}" in saved and f"[done] {board}: {out / board}" in printed
    # resuming both from a step whose input one of them lacks: that board fails, alone
    (out / "KV260" / "build_config.yaml").unlink()
    with pytest.raises(UserError, match="1 of 2 boards failed: KV260"):
        _run(["build", "--model", "random:tiny:w4a4:h0", "--board", "Pynq-Z2", "KV260",
              "--from-step", "step_tidy", "--to-step", "step_tidy", "--out", str(out)])
    assert "[done] Pynq-Z2" in capsys.readouterr().out
    assert "build_config.yaml: not found; cannot resume" in (out / "KV260.log").read_text()
