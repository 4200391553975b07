"""Dataset layouts, validation, preparation onto the model grid and pair sampling.

Layouts (``DataConfig.layout``):

- ``ibsr``: IBSR_18 as distributed, ``IBSR_XX/IBSR_XX_ana_strip.nii.gz`` (or ``IBSR_XX_ana``) with
  ``IBSR_XX_seg_ana.nii.gz``. ``hwreg data prepare`` writes the embedded default data in this
  layout too, so this loader is the one path every dataset goes through.
- ``glob``: image/label pairs matched by two glob patterns whose ``*`` parts name the subject
  (e.g. ``*/aligned_norm.nii.gz`` with ``*/aligned_seg35.nii.gz`` for Neurite-OASIS).

A prepared subject is the image on the model grid, normalised to [0, 1], shape (D, H, W), and its
label map remapped to indices 0..K (``label_ids[k]`` -> k + 1), same shape, plus the grid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwreg.config import DataConfig, Layout
from hwreg.data.grid import (
    Grid,
    centre_of,
    model_grid,
    normalise_intensity,
    remap_labels,
    resample,
)
from hwreg.data.nifti import Volume, check_pair, load_image, load_labels
from hwreg.errors import DataError, UserError

_NII = (".nii.gz", ".nii")


@dataclass(frozen=True)
class Subject:
    """One subject on disk: an id, its image file and its label-map file."""

    id: str
    image: Path
    labels: Path


def _first_existing(folder: Path, stems: Sequence[str]) -> Path | None:
    for stem in stems:
        for ext in _NII:
            path = folder / f"{stem}{ext}"
            if path.exists():
                return path
    return None


def find_ibsr(root: Path) -> list[Subject]:
    """Subjects of an IBSR_18-layout folder, sorted by id."""
    folders = sorted(p for p in root.glob("IBSR_*") if p.is_dir())
    if not folders:
        raise DataError(root, "no IBSR_XX subject folders (expected the IBSR_18 layout)")
    subjects = []
    for folder in folders:
        sid = folder.name
        image = _first_existing(folder, [f"{sid}_ana_strip", f"{sid}_ana"])
        if image is None:
            raise DataError(folder / f"{sid}_ana_strip.nii.gz", "image file missing")
        labels = _first_existing(folder, [f"{sid}_seg_ana"])
        if labels is None:
            raise DataError(folder / f"{sid}_seg_ana.nii.gz", "label file missing")
        subjects.append(Subject(sid, image, labels))
    return subjects


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob pattern in which every ``*`` is a capture group."""
    parts = [re.escape(p) for p in pattern.split("*")]
    body = "([^/]*)".join(parts)
    return re.compile(body + r"\Z")


def find_glob(root: Path, image_glob: str, label_glob: str) -> list[Subject]:
    """Image/label pairs under ``root`` matched by the ``*`` parts of two glob patterns."""
    img_re, lab_re = _glob_regex(image_glob), _glob_regex(label_glob)

    def keyed(pattern: str, regex: re.Pattern[str]) -> dict[tuple[str, ...], Path]:
        out = {}
        for path in sorted(root.glob(pattern)):
            m = regex.match(path.relative_to(root).as_posix())
            if m:
                out[m.groups()] = path
        return out

    images, labels = keyed(image_glob, img_re), keyed(label_glob, lab_re)
    if not images:
        raise DataError(root, f"no image matches '{image_glob}'")
    subjects = []
    for key, image in images.items():
        if key not in labels:
            raise DataError(image, f"no label map matching '{label_glob}' for this image")
        subjects.append(Subject("_".join(key) or image.stem, image, labels[key]))
    return subjects


def find_subjects(cfg: DataConfig) -> list[Subject]:
    """The subjects of the configured dataset (layout ``ibsr`` or ``glob``)."""
    if cfg.root is None:
        raise UserError("data.root is not set (run 'hwreg data prepare --out DIR' for the default)")
    root = Path(cfg.root)
    if not root.is_dir():
        raise DataError(root, "dataset folder not found")
    if cfg.layout == Layout.glob:
        return find_glob(root, cfg.image_glob, cfg.label_glob)
    return find_ibsr(root)


def load_subject(subject: Subject) -> tuple[Volume, Volume]:
    """Load and cross-check a subject's image and label map (RAS+)."""
    image = load_image(subject.image)
    labels = load_labels(subject.labels)
    check_pair(image, labels)
    return image, labels


@dataclass(frozen=True)
class SubjectSummary:
    """What ``hwreg data check`` reports for one subject."""

    id: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    label_ids: tuple[int, ...]


def check_dataset(cfg: DataConfig) -> list[SubjectSummary]:
    """Validate every subject (raises DataError at the first bad file) and summarise them."""
    summaries = []
    for subject in find_subjects(cfg):
        image, labels = load_subject(subject)
        ids = tuple(int(i) for i in np.unique(labels.data) if i != 0)
        if not ids:
            raise DataError(subject.labels, "label map is empty (only background)")
        spacing = tuple(round(s, 3) for s in image.spacing)
        summaries.append(SubjectSummary(subject.id, image.shape, spacing, ids))  # type: ignore[arg-type]
    return summaries


@dataclass(frozen=True)
class Prepared:
    """A subject on the model grid: ``image`` (D, H, W) float32 in [0, 1], ``labels`` (D, H, W)
    label indices 0..K, and the ``grid`` they live on."""

    id: str
    image: np.ndarray
    labels: np.ndarray
    grid: Grid


def to_model_grid(image: Volume, cfg: DataConfig) -> tuple[np.ndarray, Grid]:
    """Resample and normalise an image onto its model grid (the label-free inference path)."""
    grid = model_grid(cfg.grid_shape, cfg.grid_spacing, centre_of(image, cfg.grid_centre))
    data = normalise_intensity(resample(image, None, grid, order=1))
    return data, grid


def prepare_subject(subject: Subject, cfg: DataConfig) -> Prepared:
    """Load a subject and put its image and labels on the model grid."""
    image, labels = load_subject(subject)
    data, grid = to_model_grid(image, cfg)
    lab = remap_labels(resample(labels, None, grid, order=0), cfg.resolved_label_ids())
    return Prepared(subject.id, data, lab, grid)


def split(subjects: Sequence[Subject], cfg: DataConfig) -> tuple[list[Subject], list[Subject]]:
    """Seeded train/test split: ``n_train`` subjects for training, up to ``n_test`` held out."""
    if len(subjects) < 2:
        raise UserError(f"need at least 2 subjects, found {len(subjects)}")
    if cfg.n_train + 2 > len(subjects):  # fewer than 2 held out: no held-out pair to evaluate
        raise UserError(f"{cfg.root}: data.n_train {cfg.n_train} leaves fewer than 2 of its "
                        f"{len(subjects)} subjects held out (n_train <= {len(subjects) - 2})")
    order = np.random.default_rng(cfg.seed).permutation(len(subjects))
    n_train = cfg.n_train
    train = [subjects[i] for i in sorted(order[:n_train])]
    test = [subjects[i] for i in sorted(order[n_train:n_train + cfg.n_test])]
    return train, test


def all_pairs(n: int) -> list[tuple[int, int]]:
    """Every ordered (fixed, moving) pair of ``n`` subjects, fixed != moving."""
    return [(f, m) for f in range(n) for m in range(n) if f != m]


@dataclass(frozen=True)
class Batch:
    """A minibatch of pairs, numpy float32: images (B, 1, D, H, W); binary label masks
    (B, L, D, H, W), channel l the label index ``label_index[b, l]`` (1..K) of pair b."""

    fixed_image: np.ndarray
    moving_image: np.ndarray
    fixed_label: np.ndarray
    moving_label: np.ndarray
    label_index: np.ndarray


def sample_batches(subjects: Sequence[Prepared], batch_size: int, rng: np.random.Generator,
                   labels_per_pair: int = 1) -> Iterator[Batch]:
    """Endless random minibatches: random (fixed, moving) pairs with ``labels_per_pair`` random
    labels present in both (the seed used one; fewer when fewer are shared, padded by repeats)."""
    if len(subjects) < 2:
        raise UserError(f"need at least 2 training subjects, found {len(subjects)}")
    present = [set(np.unique(s.labels).tolist()) - {0} for s in subjects]
    while True:
        fixed, moving, fl, ml, idx = [], [], [], [], []
        for _ in range(batch_size):
            f, m = rng.choice(len(subjects), size=2, replace=False)
            shared = sorted(present[f] & present[m])
            if not shared:
                continue
            labs = rng.choice(shared, size=labels_per_pair, replace=len(shared) < labels_per_pair)
            fixed.append(subjects[f].image[None])
            moving.append(subjects[m].image[None])
            fl.append(np.stack([subjects[f].labels == lab for lab in labs]))
            ml.append(np.stack([subjects[m].labels == lab for lab in labs]))
            idx.append(labs)
        if not fixed:
            raise UserError("no label is shared by any sampled pair of training subjects")

        def stack(arrays: list[np.ndarray]) -> np.ndarray:
            return np.stack(arrays).astype(np.float32)  # (B, C, D, H, W)

        yield Batch(stack(fixed), stack(moving), stack(fl), stack(ml), np.array(idx))
