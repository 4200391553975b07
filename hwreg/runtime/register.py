"""Label-free registration of any NIfTI pair: ``hwreg register FIXED MOVING --out DIR``.

Both images are resampled onto the model's grid (each centred on its own intensity centre of
mass, so a translation is removed before the network) and normalised; the network predicts the
DDF on the fixed model grid, which is then mapped back to FIXED's own voxel grid:

    x (world, a FIXED voxel) -> p = G_f^-1 x -> q = p + ddf(p) -> y = G_m q (world, in MOVING)

with ``G_f``, ``G_m`` the model grids' voxel->world affines and ``ddf`` trilinearly interpolated
(nearest value beyond the grid). Outputs, all on FIXED's grid (its shape and affine as stored):

- ``warped.nii.gz``: MOVING's original intensities sampled at ``y`` (trilinear, 0 outside);
- ``ddf.nii.gz``: the displacement ``y - x`` in mm as an ITK/ANTs displacement field: shape
  (X, Y, Z, 1, 3), intent ``vector``, components in ITK's LPS physical axes (RAS x and y
  negated), mapping a FIXED point to its MOVING point (the ``antsApplyTransforms`` convention);
- ``warped_label.nii.gz`` (with ``--moving-label``): nearest neighbour, original ids kept.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from hwreg.atomic import ensure_folder
from hwreg.checkpoint import load_model
from hwreg.data.datasets import to_model_grid
from hwreg.data.nifti import (
    Volume,
    check_pair,
    load_image,
    load_labels,
    require_absent,
    save_nifti,
)
from hwreg.errors import UserError
from hwreg.evaluate import predict_ddf
from hwreg.run import pick_device
from hwreg.runtime.board import PACKAGE_DEVICES, open_package

OUTPUTS = ("warped.nii.gz", "ddf.nii.gz", "warped_label.nii.gz")
_RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])


def _native_grid(path: Path) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of a 3D file as stored (not reoriented), 4th singleton dim dropped."""
    img = nib.load(str(path))
    return tuple(int(s) for s in img.shape[:3]), img.affine.astype(np.float64)  # type: ignore


def _sample(vol: Volume, world: np.ndarray, order: int) -> np.ndarray:
    """Values of ``vol`` at world points ``(3, ...)`` mm (0 outside)."""
    inv = np.linalg.inv(vol.affine)
    vox = np.tensordot(inv[:3, :3], world, axes=1) + inv[:3, 3].reshape(3, *[1] * (world.ndim - 1))
    return ndimage.map_coordinates(vol.data, vox, order=order, mode="constant", cval=0,
                                   prefilter=False)


def map_to_fixed(ddf: np.ndarray, grid_f: np.ndarray, grid_m: np.ndarray,
                 shape: tuple[int, int, int], affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points ``x`` of FIXED's voxels and their MOVING points ``y``, each (3, X, Y, Z) mm.

    ``ddf``: (3, D, H, W) voxels on the fixed model grid (affine ``grid_f``); ``grid_m``: the
    moving model grid's affine; ``shape``/``affine``: FIXED's stored grid.
    """
    idx = np.indices(shape, dtype=np.float64).reshape(3, -1)
    world = affine[:3, :3] @ idx + affine[:3, 3:4]  # (3, N)
    inv_f = np.linalg.inv(grid_f)
    p = inv_f[:3, :3] @ world + inv_f[:3, 3:4]  # model-grid positions of FIXED's voxels
    u = np.stack([ndimage.map_coordinates(ddf[k], p, order=1, mode="nearest", prefilter=False)
                  for k in range(3)])
    q = p + u
    y = grid_m[:3, :3] @ q + grid_m[:3, 3:4]
    return world.reshape(3, *shape), y.reshape(3, *shape)


def register_files(fixed: str | Path, moving: str | Path, out: str | Path,
                   model: str | Path = "demo-w4a4", moving_label: str | Path | None = None,
                   force: bool = False, device: str = "auto",
                   package: str | Path | None = None) -> dict[str, Any]:
    """Register MOVING to FIXED and write the outputs (module docstring) into ``out``.

    Every input is validated before anything is written; existing outputs in ``out`` are refused
    unless ``force``. ``device`` ``verilator`` or ``pynq`` runs the network on the accelerator
    ``package`` (``hwreg package``; :mod:`hwreg.runtime.board`). Returns timings and the written
    paths.
    """
    out = Path(out)
    fixed_vol, moving_vol = load_image(fixed), load_image(moving)
    label_vol = None
    if moving_label is not None:
        label_vol = load_labels(moving_label)
        check_pair(moving_vol, label_vol)
    net, cfg, _ = load_model(model)
    targets = [out / name for name in OUTPUTS[: 3 if label_vol is not None else 2]]
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    require_absent([out / name for name in OUTPUTS], force)
    on_package = None
    if package is not None and device not in PACKAGE_DEVICES:
        raise UserError(f"--package: only with --device {' or '.join(PACKAGE_DEVICES)}")
    if device in PACKAGE_DEVICES:
        on_package = open_package(package, device, net, tuple(cfg.data.grid_shape))
    else:
        torch_device = pick_device(device)
    t0 = time.perf_counter()
    img_f, grid_f = to_model_grid(fixed_vol, cfg.data)
    img_m, grid_m = to_model_grid(moving_vol, cfg.data)
    t1 = time.perf_counter()
    if on_package is not None:
        ddf = on_package(img_f, img_m)
    else:
        ddf = predict_ddf(net.to(torch_device), img_f, img_m, torch_device)
    t2 = time.perf_counter()
    shape, affine = _native_grid(Path(fixed))
    x, y = map_to_fixed(ddf, grid_f.affine, grid_m.affine, shape, affine)
    warped = _sample(moving_vol, y, order=1).astype(np.float32)
    disp = (y - x) * _RAS_TO_LPS.reshape(3, 1, 1, 1)  # RAS mm -> ITK's LPS mm
    disp = np.moveaxis(disp, 0, -1)[:, :, :, None, :].astype(np.float32)  # (X, Y, Z, 1, 3)
    warped_label = _sample(label_vol, y, order=0) if label_vol is not None else None
    t3 = time.perf_counter()
    ensure_folder(out)  # a UserError if it cannot be created
    save_nifti(warped, affine, targets[0])
    save_nifti(disp, affine, targets[1], intent="vector")
    if warped_label is not None:
        dtype = nib.load(str(moving_label)).get_data_dtype()
        save_nifti(warped_label, affine, targets[2], np.dtype(dtype) if
                   np.issubdtype(dtype, np.integer) else np.int32)
    return {"outputs": [str(p) for p in targets], "seconds_resample": t1 - t0,
            "seconds_network": t2 - t1, "seconds_map_back": t3 - t2,
            "seconds_total": time.perf_counter() - t0, "model": str(model)}
