"""The atomic-output helper and the --force rule (hwreg.atomic)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hwreg.atomic import (
    TMP_PREFIX,
    atomic_path,
    require_absent,
    require_new_folder,
    staged_dir,
    write_json,
)
from hwreg.errors import UserError


def test_write_json_replaces_whole_file(tmp_path: Path) -> None:
    p = write_json(tmp_path / "sub" / "m.json", {"a": 1})
    assert json.loads(p.read_text()) == {"a": 1}
    write_json(p, {"b": 2})
    assert json.loads(p.read_text()) == {"b": 2}
    assert [q.name for q in p.parent.iterdir()] == ["m.json"]
    assert oct(p.stat().st_mode & 0o777) == "0o644"


def test_atomic_path_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["x.txt"]


def test_atomic_path_keeps_double_suffix(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.nii.gz") as tmp:
        assert tmp.name.startswith(TMP_PREFIX) and tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")


def test_require_absent(tmp_path: Path) -> None:
    p = tmp_path / "f"
    require_absent([p], force=False)
    p.write_text("x")
    with pytest.raises(UserError, match="pass --force"):
        require_absent([p], force=False)
    require_absent([p], force=True)


def test_staged_dir_refuses_then_replaces_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "build"
    with staged_dir(out) as stage:
        (stage / "a").write_text("1")
    assert (out / "a").read_text() == "1"
    with pytest.raises(UserError, match="pass --force"), staged_dir(out):
        pass
    with pytest.raises(RuntimeError), staged_dir(out, force=True) as stage:
        (stage / "b").write_text("partial")
        raise RuntimeError("bad input found late")
    assert sorted(q.name for q in out.iterdir()) == ["a"]  # old output untouched
    with staged_dir(out, force=True) as stage:
        (stage / "b").write_text("2")
    assert sorted(q.name for q in out.iterdir()) == ["b"]
    assert [q.name for q in tmp_path.iterdir()] == ["build"]  # no staging folder left


def test_require_new_folder_refuses_a_file_and_unwritable_parent(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        require_new_folder(f, force=True)
    with pytest.raises(UserError, match="not a folder"):
        require_new_folder(f / "sub", force=False)
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            with pytest.raises(UserError, match="not writable"):
                require_new_folder(ro / "out", force=False)
        finally:
            ro.chmod(0o755)
