"""The project's two error families.

``UserError`` is bad input or bad configuration: the CLI prints its message as one line
(``hwreg: error: ...``) and exits with status 2, without a traceback. Anything else that escapes is
an internal error (a bug) and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input or configuration; the message is one line that names the file and the fault."""


class DataError(UserError):
    """A data file is unreadable, malformed or inconsistent with its partner."""

    def __init__(self, path: str | Path, fault: str) -> None:
        self.path = Path(path)
        self.fault = fault
        super().__init__(f"{path}: {fault}")


class ConfigError(UserError):
    """A configuration file or value is invalid."""
