"""Names of the IBSR/CMA label ids, from the atlas's ``ibsr.csv`` in the deepmriprep wheel
(``ROIid;ROIabbr;ROIname;...``, the 32 ids of the embedded default data)."""

from __future__ import annotations

import csv
import functools
import importlib.util
from pathlib import Path


def ibsr_csv() -> Path | None:
    """Path of ``ibsr.csv`` beside the atlas in the installed deepmriprep wheel (None if the
    wheel or the file is missing)."""
    spec = importlib.util.find_spec("deepmriprep")  # no import: it would need torch and more
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "templates" / "ibsr.csv"
    return path if path.is_file() else None


def read_label_names(path: Path) -> dict[int, str]:
    """``{id: name}`` from an atlas CSV with ``ROIid`` and ``ROIname`` columns (``;`` or ``,``
    separated)."""
    text = path.read_text()
    dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=";,")
    rows = csv.DictReader(text.splitlines(), dialect=dialect)
    return {int(r["ROIid"]): r["ROIname"].strip() for r in rows if r.get("ROIid", "").isdigit()}


@functools.lru_cache(maxsize=1)
def ibsr_label_names() -> dict[int, str]:
    """``{id: structure name}`` of the IBSR atlas (``{}`` when its CSV is not installed)."""
    path = ibsr_csv()
    return read_label_names(path) if path is not None else {}


def label_name(label_id: int | str, names: dict[int, str] | None = None) -> str:
    """The structure name of ``label_id`` (``"label 99"`` for an id the atlas does not name)."""
    names = ibsr_label_names() if names is None else names
    return names.get(int(label_id), f"label {label_id}")
