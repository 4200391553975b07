"""A real-brain benchmark the project can have: the MNI152 2009a T1 shipped in nilearn's wheel.

The brain is not the training template (that is the deepmriprep IBSR template), so registering
random warps of it tests generalisation to another brain, scanner and contrast. Files (nilearn's
PyPI wheel, data only; installed by ``make`` with ``--no-deps`` and never imported):
``nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz`` (1 mm,
197x233x189).

Labels, both made from the tissue probability maps:

- ``tissue``: 1 = grey matter, 2 = white matter (the larger probability where it is >= 0.5);
- ``parcels``: the grey matter cut into ``n_parcels`` (default 116, as many as the AAL atlas)
  Voronoi cells around seeds drawn from its voxels (fixed by the seed): a label set that no
  training label resembles, whose Dice measures the displacement everywhere in the cortex.

A pair is two independent random smooth warps of the brain (:func:`random_warp`: a displacement
drawn on a lattice ``control_mm`` apart, cubic-spline interpolated, scaled so that its largest
magnitude is ``max_mm``), the image trilinear, the labels nearest neighbour, written at 1 mm on the
brain's own grid. Registration is scored on that grid.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from hwreg.atomic import write_json
from hwreg.data.nifti import load_image, save_nifti
from hwreg.errors import UserError

_PREFIX = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"


def nilearn_files() -> dict[str, Path]:
    """Paths of the MNI152 T1 and its GM/WM maps inside the installed nilearn wheel."""
    spec = importlib.util.find_spec("nilearn")  # no import: it would need scikit-learn and more
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the real-brain benchmark needs the 'nilearn' wheel (make install)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    files = {kind: folder / _PREFIX.format(kind) for kind in ("t1", "gm", "wm")}
    for path in files.values():
        if not path.exists():
            raise UserError(f"{path}: missing from the nilearn wheel (reinstall it)")
    return files


def tissue_labels(gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """1 = GM, 2 = WM where the larger of the two probabilities is >= 0.5, else 0 (int16)."""
    labels = np.zeros(gm.shape, dtype=np.int16)
    labels[(gm >= wm) & (gm >= 0.5)] = 1
    labels[(wm > gm) & (wm >= 0.5)] = 2
    return labels


def parcel_labels(mask: np.ndarray, n_parcels: int, seed: int) -> np.ndarray:
    """Voronoi cells (ids 1..n) of ``mask`` around ``n_parcels`` seeds drawn from its voxels."""
    from scipy.spatial import cKDTree

    points = np.argwhere(mask)
    if len(points) < n_parcels:
        raise ValueError(f"mask has {len(points)} voxels, fewer than {n_parcels} parcels")
    rng = np.random.default_rng(seed)
    seeds = points[rng.choice(len(points), n_parcels, replace=False)]
    _, nearest = cKDTree(seeds).query(points)
    labels = np.zeros(mask.shape, dtype=np.int16)
    labels[tuple(points.T)] = nearest + 1
    return labels


def random_warp(shape: tuple[int, int, int], rng: np.random.Generator, max_mm: float,
                control_mm: float, spacing: float = 1.0) -> np.ndarray:
    """A smooth random displacement ``(3, *shape)`` in voxels whose largest magnitude is
    ``max_mm``: Gaussian values on a lattice ``control_mm`` apart, cubic-spline zoomed."""
    ctrl = tuple(max(4, round(n * spacing / control_mm) + 1) for n in shape)
    disp = np.empty((3, *shape), dtype=np.float32)
    for k in range(3):
        coarse = rng.normal(0.0, 1.0, ctrl)
        zoom = [s / c for s, c in zip(shape, ctrl, strict=True)]
        disp[k] = ndimage.zoom(coarse, zoom, order=3, mode="nearest", grid_mode=True)[
            tuple(slice(0, s) for s in shape)]
    peak = float(np.sqrt((disp**2).sum(axis=0)).max())
    return disp * np.float32(max_mm / spacing / max(peak, 1e-6))


def apply_warp(data: np.ndarray, disp: np.ndarray, order: int) -> np.ndarray:
    """``out(p) = data(p + disp(p))`` (voxels), trilinear (order 1) or nearest (order 0)."""
    coords = np.indices(data.shape, dtype=np.float32) + disp
    out = ndimage.map_coordinates(data, coords, order=order, mode="constant", cval=0,
                                  prefilter=False)
    return out.astype(data.dtype, copy=False)


@dataclass(frozen=True)
class PairSpec:
    """How the benchmark pairs are made."""

    pairs: int = 5  #: number of (fixed, moving) pairs
    max_mm: float = 7.0  #: largest displacement of each warp (mm)
    control_mm: float = 32.0  #: lattice spacing of the random displacement (mm)
    n_parcels: int = 116  #: grey-matter parcels
    seed: int = 0


def make_pairs(out: str | Path, spec: PairSpec = PairSpec()) -> list[dict[str, str]]:
    """Write ``spec.pairs`` warped pairs (images and both label maps) under ``out``; returns the
    rows (file paths per pair) and writes ``out/pairs.json``. Existing pairs are reused when the
    spec matches."""
    out = Path(out)
    manifest = out / "pairs.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved.get("spec") == asdict(spec):
            return saved["rows"]
    files = nilearn_files()
    t1 = load_image(files["t1"])
    gm, wm = load_image(files["gm"]).data, load_image(files["wm"]).data
    tissue = tissue_labels(gm, wm)
    parcels = parcel_labels(tissue == 1, spec.n_parcels, spec.seed)
    spacing = float(np.mean(t1.spacing))
    rng = np.random.default_rng(spec.seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(spec.pairs):
        row = {}
        for role in ("fixed", "moving"):
            disp = random_warp(t1.shape, rng, spec.max_mm, spec.control_mm, spacing)
            stem = out / f"pair{i:02d}_{role}"
            save_nifti(apply_warp(t1.data, disp, 1), t1.affine, Path(f"{stem}_t1.nii.gz"))
            save_nifti(apply_warp(tissue, disp, 0), t1.affine, Path(f"{stem}_tissue.nii.gz"),
                       np.int16)
            save_nifti(apply_warp(parcels, disp, 0), t1.affine, Path(f"{stem}_parcels.nii.gz"),
                       np.int16)
            for kind in ("t1", "tissue", "parcels"):
                row[f"{role}_{kind}"] = str(Path(f"{stem}_{kind}.nii.gz"))
        rows.append(row)
    write_json(manifest, {"spec": asdict(spec), "rows": rows})
    return rows

