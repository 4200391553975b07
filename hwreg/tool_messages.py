"""The tools' own chatter (FINN, qonnx, the torch ONNX exporter, Brevitas) off the terminal.

FINN and qonnx log a warning per layer whose data type they narrow ("inputDataType changing
for ..."), the torch ONNX exporter logs that torchvision is missing and prints its progress, and
Brevitas warns once that an optional kernel package it never uses here is absent. None of it is
about the user's input, so :func:`tool_messages` sends those loggers' records to a log file
(a build's ``build.log``) or drops them, and :func:`ignore_known_warnings` drops the Brevitas
warning; hwreg's own messages and every error are unaffected.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

#: Loggers whose records :func:`tool_messages` takes off the terminal.
TOOL_LOGGERS = ("finn", "finn_logger", "qonnx", "torch.onnx")


def ignore_known_warnings() -> None:
    """Drop the warnings known to say nothing about hwreg's work (process-wide; the CLI and the
    demo's worker processes call it)."""
    warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")


@contextlib.contextmanager
def tool_messages(log_file: Path | None = None) -> Iterator[None]:
    """While inside, the :data:`TOOL_LOGGERS` write to ``log_file`` (appended) or nowhere."""
    handler: logging.Handler = (logging.FileHandler(log_file) if log_file is not None
                                else logging.NullHandler())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = []
    for name in TOOL_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.handlers[:]))
        logger.propagate = False
        logger.handlers = [handler]
    try:
        yield
    finally:
        for logger, propagate, handlers in saved:
            logger.propagate, logger.handlers = propagate, handlers
        handler.close()
