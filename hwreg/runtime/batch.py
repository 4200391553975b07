"""Batch registration: ``hwreg register --pairs PAIRS.csv --out DIR``.

``PAIRS.csv`` has a header with columns ``fixed`` and ``moving`` and optionally ``moving_label``
and ``id``; relative paths are resolved against the CSV's folder. Row k (1-based, header not
counted) writes the files of one ``hwreg register`` call into ``DIR/<id>`` (default: ``k``
zero-padded to 4 digits), byte for byte the files a single call writes.

- The model is loaded once (:class:`~hwreg.runtime.register.Registrar`); the next pair is read
  and the previous pair's files are written in background threads while a pair is registered.
- Resumable: a row whose folder already holds all its outputs is skipped (``force`` redoes it); a
  row with some outputs (an interrupted run) is redone.
- A bad row (a missing or corrupt file, mismatched label map: any user error) is skipped with one
  line in ``DIR/errors.csv`` (row, id, error); the others go on. Rows that succeed leave no line,
  so after a clean run ``errors.csv`` does not exist.
"""

from __future__ import annotations

import csv
import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hwreg.errors import UserError
from hwreg.runtime.register import (
    Inputs,
    Registrar,
    output_names,
    peak_rss_mb,
    read_inputs,
    summary,
    write_result,
    write_timings,
)

ERRORS = "errors.csv"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class PairRow:
    """One row of a pairs CSV: its 1-based number, output folder name and input paths."""

    row: int
    id: str
    fixed: Path
    moving: Path
    moving_label: Path | None


def read_pairs(path: str | Path) -> list[PairRow]:
    """Parse a pairs CSV (module docstring); a malformed file is a :class:`UserError`."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            fields = [c.strip() for c in reader.fieldnames or []]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read the pairs CSV ({exc})") from None
    for column in ("fixed", "moving"):
        if column not in fields:
            raise UserError(f"{path}: no column {column!r} (header: {', '.join(fields)})")
    if not rows:
        raise UserError(f"{path}: no pairs (only a header)")
    width = max(4, len(str(len(rows))))
    pairs, seen = [], set()
    for k, r in enumerate(rows, start=1):
        if not r.get("fixed") or not r.get("moving"):
            raise UserError(f"{path}: row {k}: fixed and moving must both be given")
        name = r.get("id") or f"{k:0{width}d}"
        if not _SAFE_ID.match(name) or name in seen:
            raise UserError(f"{path}: row {k}: id {name!r} must be unique and a plain folder name")
        seen.add(name)
        label = r.get("moving_label")
        pairs.append(PairRow(k, name, path.parent / r["fixed"], path.parent / r["moving"],
                             path.parent / label if label else None))
    return pairs


def _write_errors(out: Path, errors: list[tuple[PairRow, str]]) -> None:
    """Rewrite ``out/errors.csv`` (atomically) with one line per failed row."""
    tmp = out / f".{ERRORS}.tmp"
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "id", "error"])
        for pair, message in errors:
            w.writerow([pair.row, pair.id, message])
    tmp.replace(out / ERRORS)


def _read(pair: PairRow) -> Inputs | UserError:
    """Read a row's inputs; a user error is returned (recorded), not raised."""
    try:
        return read_inputs(pair.fixed, pair.moving, pair.moving_label)
    except UserError as exc:
        return exc


def register_batch(pairs_csv: str | Path, out: str | Path, model: str | Path = "demo-w4a4",
                   device: str = "auto", fmt: str = "nii.gz", compresslevel: int = 1,
                   force: bool = False, timings: bool = False,
                   progress: bool = True, package: str | Path | None = None) -> dict[str, Any]:
    """Register every row of ``pairs_csv`` into ``out/<id>/`` (module docstring).

    Returns counts (``registered``, ``skipped``, ``failed``), the wall seconds, pairs per
    second of the registered rows and the peak memory; with ``timings`` also writes
    ``out/timings.json`` (this summary) and each row's ``timings.json``.
    """
    out = Path(out)
    pairs = read_pairs(pairs_csv)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    todo = [p for p in pairs if force or not all(
        (out / p.id / n).exists() for n in output_names(p.moving_label is not None, fmt))]
    t0 = time.perf_counter()
    reg = model if isinstance(model, Registrar) else Registrar(model, device, package)
    out.mkdir(parents=True, exist_ok=True)
    (out / ERRORS).unlink(missing_ok=True)  # this run's errors only
    errors: list[tuple[PairRow, str]] = []
    registered = 0
    with ThreadPoolExecutor(max_workers=2) as pool, tqdm(
            total=len(pairs), initial=len(pairs) - len(todo), unit="pair", disable=not progress,
            desc="register") as bar:
        ahead: Future | None = pool.submit(_read, todo[0]) if todo else None
        writing: Future | None = None
        for k, pair in enumerate(todo):
            t_read = time.perf_counter()
            inputs = ahead.result() if ahead is not None else _read(pair)
            ahead = pool.submit(_read, todo[k + 1]) if k + 1 < len(todo) else None
            t1 = time.perf_counter()
            if isinstance(inputs, UserError):
                errors.append((pair, str(inputs)))
                _write_errors(out, errors)
                bar.update()
                continue
            result = reg.compute(inputs)
            del inputs
            if writing is not None:
                writing.result()  # at most one pair's outputs held in memory while writing
            folder = out / pair.id
            folder.mkdir(exist_ok=True)
            seconds = {"load": t1 - t_read, "load_model": 0.0, **result.seconds}
            writing = pool.submit(_write_row, result, folder, fmt, compresslevel, seconds,
                                  reg.model, timings)
            registered += 1
            bar.update()
        if writing is not None:
            writing.result()
    wall = time.perf_counter() - t0
    info = {"pairs": len(pairs), "registered": registered, "skipped": len(pairs) - len(todo),
            "failed": len(errors), "seconds": wall,
            "pairs_per_second": registered / wall if registered else 0.0,
            "peak_rss_mb": peak_rss_mb(), "model": reg.model}
    if timings:
        (out / "timings.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _write_row(result: Any, folder: Path, fmt: str, compresslevel: int,
               seconds: dict[str, float], model: str, timings: bool) -> None:
    """Write one row's outputs (and its ``timings.json``); runs in a background thread."""
    t0 = time.perf_counter()
    targets = write_result(result, folder, fmt, compresslevel)
    seconds = {**seconds, "write": time.perf_counter() - t0}
    seconds["total"] = sum(seconds.values())
    if timings:
        write_timings(summary(seconds, model, targets), folder)
