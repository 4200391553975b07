"""Data layer: NIfTI I/O, dataset layouts, the model grid, the embedded default data, pairs.

See :mod:`hwreg.data.nifti` (loading contract), :mod:`hwreg.data.grid` (model grid),
:mod:`hwreg.data.datasets` (layouts, checks, pairs) and :mod:`hwreg.data.synth` (default data).
"""

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
from hwreg.data.synth import prepare_default

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
