"""Atomic file writes: a temporary file in the target's folder, then a rename, so no reader ever
sees a half-written file (a killed writer leaves the old file or none).

Used by the report and figure writers (:mod:`hwreg.studies.report`,
:mod:`hwreg.compile.dataflow`); model files use :func:`hwreg.checkpoint.atomic_save`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; returns ``path``."""
    raw = data.encode() if isinstance(data, str) else data
    return write_with(path, lambda f: f.write(raw))


def write_with(path: str | Path, writer: Callable[[IO[bytes]], object]) -> Path:
    """Call ``writer`` on a binary temporary file beside ``path``, then rename it to ``path``
    (e.g. ``write_with(p, lambda f: fig.savefig(f, format="svg"))``); returns ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
