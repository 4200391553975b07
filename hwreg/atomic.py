"""Atomic outputs and the one ``--force`` rule: every file or folder hwreg writes goes through here.

- A **file** is written to a temporary file in the same folder (``.tmp-*``), then renamed onto
  its name (:func:`atomic_path`, :func:`write_text`, :func:`write_json`): a reader, or a run
  killed at any moment, sees the old file or the complete new one, never half of one.
- A **folder** output (a build, an emulation) is staged in a temporary sibling folder
  (``.<name>.tmp-*``) and renamed onto its name only when complete (:func:`staged_dir`); an
  existing folder it replaces (``--force``) is removed only then.
- **``--force``**: an existing output is refused (:func:`require_absent`) unless ``force``; with
  ``force`` the old output is removed only when the new one is complete (the rename above).

Nothing here imports torch or numpy (the CLI uses it before anything heavy is loaded).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hwreg.errors import UserError

#: Prefix of every temporary file or folder (never a finished output).
TMP_PREFIX = ".tmp-"


def _suffix(path: Path) -> str:
    """The file type suffix kept on a temp file (``.nii.gz``, ``.onnx``: writers look at it)."""
    name = path.name
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix


def ensure_folder(folder: str | Path, what: str | Path | None = None) -> Path:
    """Create ``folder`` (and its parents) or raise a UserError naming ``what`` (default: the
    folder) when it cannot be: an existing file in the way, no permission."""
    folder = Path(folder)
    where = what if what is not None else folder
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{where}: {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{where}: a file is in the way of the folder {folder}") from None
    except OSError as exc:
        raise UserError(f"{where}: cannot create the folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{where}: the folder {folder} is not writable")
    return folder


@contextmanager
def atomic_path(path: str | Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); when the block ends without an
    exception it is renamed onto ``path``, else deleted. The folder is created if needed."""
    path = Path(path)
    ensure_folder(path.parent, path)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=_suffix(path), dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, mode)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (newline-terminated) to ``path`` atomically; returns the path."""
    return write_text(path, json.dumps(obj, indent=indent) + "\n")


def require_absent(paths: list[Path], force: bool) -> None:
    """Refuse to overwrite existing user outputs unless ``force`` (the ``--force`` flag)."""
    if force:
        return
    existing = [p for p in paths if Path(p).exists()]
    if existing:
        raise UserError(f"{existing[0]}: exists; pass --force to overwrite")


def require_new_folder(out: str | Path, force: bool) -> Path:
    """Refuse a folder output ``out`` that exists (unless ``force``) or cannot be created
    (a file in the way, no permission); nothing is written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"{out}: exists; pass --force to overwrite")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{out}: cannot create it, {parent} is not writable")
    return out


@contextmanager
def staged_dir(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Stage the folder output ``out``: yield a fresh temporary sibling folder to write into;
    when the block ends without an exception it becomes ``out`` (an existing ``out``, allowed
    only with ``force``, is removed then, not before); on an exception it is deleted and ``out``
    is left as it was."""
    out = require_new_folder(out, force)
    ensure_folder(out.parent, out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}{TMP_PREFIX}", dir=out.parent))
    try:
        yield stage
        os.chmod(stage, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


__all__ = ["TMP_PREFIX", "atomic_path", "ensure_folder", "require_absent", "require_new_folder",
           "staged_dir", "write_bytes", "write_json", "write_text"]
