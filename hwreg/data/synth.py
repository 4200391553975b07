"""The embedded default data: synthetic subjects made from the IBSR atlas in the deepmriprep wheel.

Source files (shipped in the PyPI wheel ``deepmriprep==0.3.0``, installed by ``make``):
``data/templates/ibsr.nii.gz``, the maximum-probability atlas of the 18 IBSR subjects (161x197x161,
1 mm, the 32 IBSR/CMA ids), and ``Template_05mm_bet.nii.gz``, a skull-stripped T1 template
(0.5 mm), resampled onto the atlas grid. Data: IBSR, MGH Center for Morphometric Analysis.

Each synthetic subject is the template/atlas pair pushed through a random smooth deformation
(a small random affine composed with a cubic-B-spline-smoothed random displacement; labels by
nearest neighbour, image trilinear) plus intensity augmentation (multiplicative smooth bias field,
gamma, Gaussian noise). Everything is deterministic from ``(seed, subject index)``.
:func:`prepare_default` writes them as real NIfTI files in the IBSR_18 layout.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from tqdm import tqdm

from hwreg.data.grid import Grid, model_grid, resample
from hwreg.data.nifti import Volume, load_image, load_labels, save_nifti
from hwreg.errors import UserError


@dataclass(frozen=True)
class SynthParams:
    """Strength of the random deformation and intensity augmentation."""

    rotation_deg: float = 4.0  #: sd of each rotation angle
    scale: float = 0.04  #: sd of each axis' log-scale
    translation_mm: float = 4.0  #: sd of each translation component
    warp_mm: float = 3.5  #: sd of the smooth displacement at the control points
    control_spacing_mm: float = 24.0  #: spacing of the random displacement's control points
    bias: float = 0.25  #: sd of the log bias field at its control points
    gamma: float = 0.2  #: sd of the log gamma exponent
    noise: float = 0.02  #: noise sd, relative to the 99.5th intensity percentile


def default_data_files() -> tuple[Path, Path]:
    """Paths of the atlas labels and the T1 template inside the installed deepmriprep wheel."""
    spec = importlib.util.find_spec("deepmriprep")  # no import: it would need torch and more
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded default data needs the 'deepmriprep' wheel (make install)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "templates"
    atlas, template = folder / "ibsr.nii.gz", folder / "Template_05mm_bet.nii.gz"
    for path in (atlas, template):
        if not path.exists():
            raise UserError(f"{path}: missing from the deepmriprep wheel (reinstall it)")
    return atlas, template


@functools.lru_cache(maxsize=1)
def load_atlas() -> tuple[Volume, Volume]:
    """(T1 template on the atlas grid, atlas labels), both RAS+, 1 mm (loaded once a process;
    treat the arrays as read-only)."""
    atlas_path, template_path = default_data_files()
    labels = load_labels(atlas_path)
    template = load_image(template_path)
    image = resample(template, None, Grid(labels.shape, labels.affine), order=1)
    return Volume(image, labels.affine, template_path), labels


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], spacing_mm: float,
                  control_mm: float, sd: float, n: int) -> np.ndarray:
    """``n`` smooth random fields of ``shape``: Gaussian control values, cubic-spline zoomed."""
    ctrl = tuple(max(3, round(s * spacing_mm / control_mm) + 1) for s in shape)
    out = np.empty((n, *shape), dtype=np.float32)
    for k in range(n):
        coarse = rng.normal(0.0, sd, size=ctrl)
        zoom = [s / c for s, c in zip(shape, ctrl, strict=True)]
        out[k] = ndimage.zoom(coarse, zoom, order=3, mode="nearest", grid_mode=True)[
            tuple(slice(0, s) for s in shape)
        ]
    return out


def rotation_matrix(angles_rad: np.ndarray) -> np.ndarray:
    """Rotation about x, then y, then z by the three angles (radians), as a 3x3 matrix."""
    a, b, c = angles_rad
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class SubjectTransform:
    """A synthetic subject's map from its own world space to the atlas's (mm):
    ``T(x) = lin (x - centre) + centre + shift + disp(x)``, ``disp`` given at the voxels of
    ``grid`` (trilinear in between, nearest value beyond)."""

    lin: np.ndarray  # (3, 3)
    centre: np.ndarray  # (3, 1)
    shift: np.ndarray  # (3, 1)
    disp: np.ndarray  # (3, X, Y, Z) mm on ``grid``
    grid: Grid

    def displacement(self, world: np.ndarray) -> np.ndarray:
        """``disp`` at world points ``(3, N)`` -> ``(3, N)``."""
        inv = np.linalg.inv(self.grid.affine)
        vox = inv[:3, :3] @ world + inv[:3, 3:4]
        return np.stack([ndimage.map_coordinates(self.disp[k], vox, order=1, mode="nearest",
                                                 prefilter=False) for k in range(3)])

    def apply_at_voxels(self, world: np.ndarray) -> np.ndarray:
        """``T`` at the grid's own voxel centres ``world`` ``(3, N)`` (exact, no interpolation)."""
        return self.lin @ (world - self.centre) + self.centre + self.shift + \
            self.disp.reshape(3, -1)

    def apply(self, world: np.ndarray) -> np.ndarray:
        """``T`` at any world points ``(3, N)``."""
        return self.lin @ (world - self.centre) + self.centre + self.shift + \
            self.displacement(world)

    def inverse(self, atlas: np.ndarray, iterations: int = 100, tol: float = 1e-4) -> np.ndarray:
        """World points ``y`` with ``T(y) = atlas`` ``(3, N)``, by fixed-point iteration (the
        displacement is smooth, so it converges; points stop once they move less than ``tol``
        mm, at most ``iterations`` times)."""
        lin_inv = np.linalg.inv(self.lin)
        base = atlas - self.centre - self.shift
        y = lin_inv @ base + self.centre
        active = np.arange(y.shape[1])
        for _ in range(iterations):
            y_next = lin_inv @ (base[:, active] - self.displacement(y[:, active])) + self.centre
            moved = np.abs(y_next - y[:, active]).max(axis=0)
            y[:, active] = y_next
            active = active[moved >= tol]
            if active.size == 0:
                break
        return y


def _draw_transform(rng: np.random.Generator, grid: Grid, params: SynthParams
                    ) -> SubjectTransform:
    spacing = grid.spacing[0]
    centre = grid.world_coords().reshape(3, -1).mean(axis=1, keepdims=True)
    rot = rotation_matrix(np.deg2rad(rng.normal(0, params.rotation_deg, 3)))
    lin = rot @ np.diag(np.exp(rng.normal(0, params.scale, 3)))
    shift = rng.normal(0, params.translation_mm, (3, 1))
    disp = _smooth_field(rng, grid.shape, spacing, params.control_spacing_mm, params.warp_mm, 3)
    return SubjectTransform(lin, centre, shift, disp, grid)


@functools.lru_cache(maxsize=32)
def _cached_transform(root: str, index: int, stamp: float) -> SubjectTransform:
    return _subject_transform(Path(root), index)


def subject_transform(root: str | Path, index: int) -> SubjectTransform:
    """The true transform of subject ``index`` (0-based; folder ``IBSR_{index+1:02d}``) of a
    dataset written by :func:`prepare_default` into ``root`` (read from its manifest; cached
    per process while the manifest is unchanged)."""
    manifest = Path(root) / "hwreg_dataset.json"
    return _cached_transform(str(Path(root).resolve()), index, manifest.stat().st_mtime)


def _subject_transform(root: Path, index: int) -> SubjectTransform:
    manifest = Path(root) / "hwreg_dataset.json"
    info = json.loads(manifest.read_text())
    params = SynthParams(**info["params"])
    image = Path(root) / f"IBSR_{index + 1:02d}" / f"IBSR_{index + 1:02d}_ana_strip.nii.gz"
    grid = Grid(tuple(info["shape"]), nib.load(str(image)).affine.astype(np.float64))
    return _draw_transform(np.random.default_rng([info["seed"], index]), grid, params)


def synth_subject(image: Volume, labels: Volume, out_grid: Grid, seed: int, index: int,
                  params: SynthParams = SynthParams()) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic subject on ``out_grid``: (image float32 (X, Y, Z) >= 0, labels int32)."""
    rng = np.random.default_rng([seed, index])
    spacing = out_grid.spacing[0]
    world = out_grid.world_coords().reshape(3, -1)  # (3, N) mm
    transform = _draw_transform(rng, out_grid, params)
    src_world = transform.apply_at_voxels(world)
    src_vox = np.linalg.solve(labels.affine, np.vstack([src_world, np.ones_like(src_world[:1])]))
    coords = src_vox[:3].reshape(3, *out_grid.shape)
    lab = ndimage.map_coordinates(labels.data, coords, order=0, mode="constant", cval=0)
    img = ndimage.map_coordinates(image.data, coords, order=1, mode="constant", cval=0.0)
    top = float(np.percentile(img[img > 0], 99.5)) if (img > 0).any() else 1.0
    img = np.clip(img / top, 0, None)
    bias = _smooth_field(rng, out_grid.shape, spacing, 48.0, params.bias, 1)[0]
    img = img ** np.exp(rng.normal(0, params.gamma)) * np.exp(bias)
    img = img + rng.normal(0, params.noise, img.shape) * (img > 0)
    return np.clip(img, 0, None).astype(np.float32) * 1000.0, lab.astype(np.int32)


def prepare_default(out: str | Path, subjects: int = 18, seed: int = 0, spacing: float = 1.0,
                    force: bool = False, progress: bool = True,
                    params: SynthParams = SynthParams()) -> list[Path]:
    """Write ``subjects`` synthetic subjects in the IBSR_18 layout under ``out``.

    ``spacing`` (mm, isotropic) sets the written resolution (1 mm = the atlas's; coarser is
    faster). The folder is built next to ``out`` and moved into place at the end, so an
    interrupted run leaves no half-written dataset. An existing non-empty ``out`` is refused unless
    ``force``. Returns the subject folders.
    """
    out = Path(out)
    if subjects < 2 or subjects > 99:
        raise UserError(f"--subjects must be between 2 and 99, got {subjects}")
    if spacing <= 0:
        raise UserError(f"--spacing must be positive, got {spacing}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise UserError(f"{out}: exists and is not empty; pass --force to overwrite")
    image, labels = load_atlas()
    extent = np.array(labels.shape) * np.array(labels.spacing)
    shape = tuple(round(float(e) / spacing) for e in extent)
    centre = labels.affine[:3, :3] @ ((np.array(labels.shape) - 1) / 2) + labels.affine[:3, 3]
    grid = model_grid(shape, spacing, centre)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        folders = []
        for i in tqdm(range(subjects), desc="synthetic subjects", disable=not progress):
            img, lab = synth_subject(image, labels, grid, seed, i, params)
            sid = f"IBSR_{i + 1:02d}"
            folder = tmp / sid
            folder.mkdir()
            save_nifti(np.round(img), grid.affine, folder / f"{sid}_ana_strip.nii.gz", np.int16)
            save_nifti(lab, grid.affine, folder / f"{sid}_seg_ana.nii.gz", np.uint8)
            folders.append(out / sid)
        manifest = {"source": "deepmriprep 0.3.0 IBSR atlas + T1 template (MGH CMA, IBSR)",
                    "subjects": subjects, "seed": seed, "spacing_mm": spacing,
                    "shape": list(shape), "params": asdict(params)}
        (tmp / "hwreg_dataset.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folders


def subject_index(subject_id: str) -> int:
    """0-based index of a default-data subject id ``IBSR_XX``."""
    try:
        return int(subject_id.rsplit("_", 1)[1]) - 1
    except (IndexError, ValueError):
        raise UserError(f"{subject_id}: not a synthetic subject id (IBSR_XX)") from None


def is_synthetic(root: str | Path) -> bool:
    """True for a dataset written by :func:`prepare_default` (its true transforms are known)."""
    return (Path(root) / "hwreg_dataset.json").exists()


def oracle_ddf(root: str | Path, fixed_id: str, fixed_grid: Grid, moving_id: str,
               moving_grid: Grid) -> np.ndarray:
    """The true fixed -> moving DDF ``(3, D, H, W)`` between two synthetic subjects, in voxels of
    their model grids (index space, as every DDF of :mod:`hwreg.warp`): a fixed model-grid voxel
    ``p`` at world ``x`` corresponds to the moving world point ``T_m^-1(T_f(x))``."""
    t_f = subject_transform(root, subject_index(fixed_id))
    t_m = subject_transform(root, subject_index(moving_id))
    world = fixed_grid.world_coords().reshape(3, -1)
    y = t_m.inverse(t_f.apply(world))
    inv = np.linalg.inv(moving_grid.affine)
    q = inv[:3, :3] @ y + inv[:3, 3:4]
    p = np.indices(fixed_grid.shape, dtype=np.float64).reshape(3, -1)
    return (q - p).reshape(3, *fixed_grid.shape).astype(np.float32)
