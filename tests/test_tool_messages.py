"""hwreg.tool_messages: the tools' log records go to a file (or nowhere), then come back."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from hwreg.tool_messages import TOOL_LOGGERS, ignore_known_warnings, tool_messages


def test_tool_records_go_to_the_file_and_the_loggers_are_restored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "build.log"
    before = {n: (logging.getLogger(n).propagate, logging.getLogger(n).handlers[:])
              for n in TOOL_LOGGERS}
    with caplog.at_level(logging.INFO):
        with tool_messages(log):
            logging.getLogger("finn_logger").warning("inputDataType changing for X")
            logging.getLogger("torch.onnx._internal.exporter").warning("torchvision is missing")
            logging.getLogger("hwreg").warning("hwreg's own")  # never taken
        with tool_messages():
            logging.getLogger("qonnx.core").warning("dropped")
        assert [r.getMessage() for r in caplog.records] == ["hwreg's own"]
        logging.getLogger("finn_logger").warning("back to the usual handlers")
        assert caplog.records[-1].getMessage() == "back to the usual handlers"
    text = log.read_text()
    assert "finn_logger WARNING inputDataType changing for X" in text
    assert "torchvision is missing" in text and "dropped" not in text and "own" not in text
    after = {n: (logging.getLogger(n).propagate, logging.getLogger(n).handlers[:])
             for n in TOOL_LOGGERS}
    assert after == before


def test_only_the_known_warning_is_dropped() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ignore_known_warnings()
        warnings.warn("fast_hadamard_transform package not found, using standard pytorch "
                      "kernels", UserWarning, stacklevel=1)
        warnings.warn("something else", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else"]
