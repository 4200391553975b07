"""Data layer: NIfTI I/O, dataset layouts, the model grid, the embedded default data, pairs.

See :mod:`hwreg.data.nifti` (loading contract), :mod:`hwreg.data.grid` (model grid),
:mod:`hwreg.data.datasets` (layouts, checks, pairs) and :mod:`hwreg.data.synth` (default data).

``prepare_default`` is imported on first use (:mod:`hwreg.data.synth` needs scipy, which the
registration path does not).
"""

from typing import Any

from hwreg.data.datasets import (
    Batch,
    Prepared,
    Subject,
    SubjectSummary,
    all_pairs,
    check_dataset,
    find_subjects,
    load_subject,
    prepare_subject,
    sample_batches,
    split,
    to_model_grid,
)
from hwreg.data.grid import Grid, model_grid, normalise_intensity, remap_labels, resample
from hwreg.data.nifti import Volume, load_image, load_labels, save_nifti

__all__ = [
    "Batch",
    "Grid",
    "Prepared",
    "Subject",
    "SubjectSummary",
    "Volume",
    "all_pairs",
    "check_dataset",
    "find_subjects",
    "load_image",
    "load_labels",
    "load_subject",
    "model_grid",
    "normalise_intensity",
    "prepare_default",
    "prepare_subject",
    "remap_labels",
    "resample",
    "sample_batches",
    "save_nifti",
    "split",
    "to_model_grid",
]


def __getattr__(name: str) -> Any:
    """``prepare_default`` on first use (PEP 562), so importing the data layer skips scipy."""
    if name == "prepare_default":
        from hwreg.data.synth import prepare_default

        return prepare_default
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
