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

``fmt="nii"`` writes the same files uncompressed (``.nii``), ``compresslevel`` sets gzip's level.

Speed (the host path around a fast network): the three inputs are read in parallel threads, all
resampling is torch (:mod:`hwreg.data.sampling`) in slabs of FIXED's grid (no full-volume float64
coordinate arrays), the outputs are computed in NIfTI's voxel order (Fortran order, so writing
them is a plain copy) and compressed in parallel threads (ISA-L and zlib release the GIL), and
:func:`keep_freed_memory` lets large temporaries be reused instead of page-faulted in again.
:class:`Registrar` holds the loaded model, so batch mode (:mod:`.batch`) loads it once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from torch.nn import functional

from hwreg.atomic import ensure_folder
from hwreg.checkpoint import load_for_inference, load_model
from hwreg.data.datasets import to_model_grid
from hwreg.data.nifti import (
    Volume,
    check_pair,
    load_image,
    load_labels,
    require_absent,
    save_nifti,
)
from hwreg.data.sampling import (
    affine_planes,
    affine_slab,
    grid_sample_points,
    lerp_axis,
    lerp_planes,
    normaliser,
    separable_plan,
    slabs,
)
from hwreg.errors import UserError
from hwreg.inference import predict_ddf
from hwreg.run import pick_device
from hwreg.runtime.board import PACKAGE_DEVICES, open_package

#: output formats: ``nii.gz`` (gzip, the default) or ``nii`` (uncompressed, fastest to write)
FORMATS = ("nii.gz", "nii")
STEPS = ("load", "load_model", "resample_in", "network", "resample_out", "write")
_RAS_TO_LPS = (-1.0, -1.0, 1.0)


def output_names(with_label: bool, fmt: str = "nii.gz") -> list[str]:
    """File names of one registration's outputs, in writing order."""
    if fmt not in FORMATS:
        raise UserError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    names = ["warped", "ddf", "warped_label"] if with_label else ["warped", "ddf"]
    return [f"{n}.{fmt}" for n in names]


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Let glibc's allocator keep freed blocks of up to ``limit`` bytes for reuse (process-wide).

    By default glibc serves large blocks from fresh pages (``mmap``) and hands them back on
    ``free``, so each slab's temporaries, each step's arrays and, in batch mode, each pair's
    arrays are page-faulted in again (a first-touch cost per 4 KB page). With both thresholds at
    ``limit`` freed memory is reused instead: measured on a 1 mm MNI152 pair, the in-process time
    of one registration went from 2.69 to 2.14 s (median of 6 alternating runs, demo-w4a4, 24
    passes) at the same peak memory. ``hwreg register`` calls it; a library user may. Returns
    False (and changes nothing) where the C library has no ``mallopt`` (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) & bool(mallopt(_M_TRIM_THRESHOLD, limit))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Inputs:
    """One pair, read and validated: volumes in RAS+ plus FIXED's stored grid (the output grid)."""

    fixed: Volume
    moving: Volume
    label: Volume | None
    shape: tuple[int, int, int]
    affine: np.ndarray
    label_dtype: np.dtype = field(default_factory=lambda: np.dtype(np.int32))


@dataclass
class Result:
    """The outputs in memory, on FIXED's stored grid, with the seconds of each step."""

    warped: np.ndarray  # (X, Y, Z) float32 (Fortran order, as all three)
    ddf: np.ndarray  # (X, Y, Z, 1, 3) float32, LPS mm, FIXED -> MOVING
    warped_label: np.ndarray | None  # (X, Y, Z) in the label file's integer dtype
    affine: np.ndarray
    seconds: dict[str, float]


def _native_grid(path: Path) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of a 3D file as stored (not reoriented), 4th singleton dim dropped."""
    img = nib.load(str(path))
    return tuple(int(s) for s in img.shape[:3]), img.affine.astype(np.float64)  # type: ignore


def _label_dtype(path: Path) -> np.dtype:
    dtype = np.dtype(nib.load(str(path)).get_data_dtype())
    return dtype if np.issubdtype(dtype, np.integer) else np.dtype(np.int32)


def read_inputs(fixed: str | Path, moving: str | Path,
                moving_label: str | Path | None = None) -> Inputs:
    """Read and validate a pair (and MOVING's label map) with one thread per file."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = [pool.submit(load_image, fixed), pool.submit(load_image, moving)]
        if moving_label is not None:
            jobs.append(pool.submit(load_labels, moving_label))
        vols = [j.result() for j in jobs]  # the first fault (in argument order) is raised
    label = vols[2] if moving_label is not None else None
    if label is not None:
        check_pair(vols[1], label)
    shape, affine = _native_grid(Path(fixed))
    dtype = _label_dtype(Path(moving_label)) if moving_label is not None else np.dtype(np.int32)
    return Inputs(vols[0], vols[1], label, shape, affine, dtype)


def map_to_fixed(ddf: torch.Tensor, grid_f: np.ndarray, grid_m: np.ndarray,
                 shape: tuple[int, int, int], affine: np.ndarray, moving: Volume,
                 label: Volume | None = None,
                 label_dtype: np.dtype | None = None) -> tuple[np.ndarray, ...]:
    """Map the model-grid DDF back to FIXED's stored grid and warp MOVING there.

    Args:
        ddf: ``(3, D, H, W)`` voxels on the fixed model grid (affine ``grid_f``), fixed -> moving.
        grid_m: the moving model grid's affine.
        shape, affine: FIXED's stored grid (the output grid).
        moving, label: MOVING and its label map (RAS+ volumes, their own affines).

    Returns:
        ``(disp, warped, warped_label)``: disp ``(X, Y, Z, 1, 3)`` float32 LPS mm (``y - x``),
        warped ``(X, Y, Z)`` float32 (trilinear, 0 outside), warped_label ``(X, Y, Z)`` in
        ``label_dtype`` (nearest, ids kept) or ``None``. All are Fortran-ordered (NIfTI's voxel
        order, so writing them is a plain copy): the work runs on the reversed grid
        ``(Z, Y, X)`` in C order, in slabs of Z, with each component of disp a block of its own.
    """
    rev = np.eye(4)[[2, 1, 0, 3]]  # reversed-grid voxel (k, j, i) -> FIXED voxel (i, j, k)
    pf = np.linalg.solve(grid_f, affine) @ rev  # -> fixed model-grid voxel p
    grid = (shape[2], shape[1], shape[0])
    to_moving = np.linalg.solve(moving.affine, grid_m)  # moving model-grid voxel q -> MOVING voxel
    model_shape = tuple(int(n) for n in ddf.shape[1:])
    norm_m = normaliser(moving.shape)
    lps = np.diag([*_RAS_TO_LPS, 1.0])
    # every output is affine in the output voxel plus linear in u = ddf(p):
    #   ddf grid position  N_model p
    #   disp (LPS mm)      y - x = G_m (p + u) - G_f p  ->  LPS ((G_m - G_f) pf) + LPS G_m u
    #   MOVING position    N_mov to_moving (p + u)
    at_ddf = normaliser(model_shape) @ pf
    at_disp = lps @ np.block([[(grid_m - grid_f)[:3] @ pf], [np.eye(4)[3:]]])
    at_mov = norm_m @ to_moving @ pf
    u_disp = torch.from_numpy(lps[:3, :3] @ grid_m[:3, :3]).float()
    u_mov = torch.from_numpy((norm_m[:3, :3] @ to_moving[:3, :3]).T.copy()).float()
    src_ddf = ddf.float().contiguous()[None]  # (1, 3, D, H, W)
    src_img = torch.from_numpy(np.ascontiguousarray(moving.data, np.float32))[None, None]
    src_lab = _label_source(label.data) if label else None
    disp = np.empty((3, 1, *grid), np.float32)  # its transpose is (X, Y, Z, 1, 3), F order
    warped = np.empty(grid, np.float32)
    warped_label = np.empty(grid, label_dtype or np.int32) if label else None
    plan = separable_plan(pf, model_shape, grid)
    if plan is not None:  # axis-aligned grids (the usual case): separable, axes 2 and 1 once
        # model axes -> the output grid's axes order, then interpolate along its axes 2 and 1
        pre = src_ddf[0].permute(0, *(1 + step.axis for step in plan))
        pre = lerp_axis(lerp_axis(pre, 3, plan[2]), 2, plan[1])  # (3, D', Y, X)
    disp_t = torch.from_numpy(disp)
    for a, b in slabs(grid):
        if plan is not None:
            u = lerp_planes(pre, plan[0], a, b)  # (3, d, Y, X) model voxels
        else:
            g = affine_slab(at_ddf, grid, a, b)[None]  # (1, d, Y, X, 3)
            u = functional.grid_sample(src_ddf, g, mode="bilinear", padding_mode="border",
                                       align_corners=True)[0]  # (3, d, Y, X) model voxels
        u = u.reshape(3, -1)  # (3, n), (D, H, W) axis order
        out = affine_planes(at_disp, grid, a, b, disp_t[:, 0, a:b])  # in place, in disp
        out.view(3, -1).addmm_(u_disp, u)
        g = affine_slab(at_mov, grid, a, b).reshape(-1, 3).addmm_(u.T, u_mov)  # (n, 3) (z, y, x)
        g.masked_fill_((g.abs() > 1).any(-1, keepdim=True), 3.0)  # outside [0, n-1] -> 0
        if warped_label is not None and src_lab is not None:
            warped_label[a:b] = _nearest(src_lab, g, moving.shape).reshape(b - a, *grid[1:])
        warped[a:b] = grid_sample_points(src_img, g, "bilinear", "zeros").view(
            b - a, *grid[1:]).numpy()
    return disp.T, warped.T, None if warped_label is None else warped_label.T


def _label_source(data: np.ndarray) -> torch.Tensor:
    """Label ids as ``grid_sample`` input ``(1, 1, X, Y, Z)`` float32 when every id is exact in
    float32 (below 2**24, the usual case), else flat int64 for :func:`_nearest`'s gather."""
    if data.size and int(data.max()) < 2**24:
        return torch.from_numpy(np.ascontiguousarray(data, np.float32))[None, None]
    return torch.from_numpy(data.astype(np.int64)).reshape(-1)


def _nearest(src: torch.Tensor, g: torch.Tensor, shape: tuple[int, int, int]) -> np.ndarray:
    """Nearest voxel of ``src`` (:func:`_label_source`) at normalised positions ``g`` (n, 3) in
    (z, y, x) order, outside positions set beyond [-1, 1]; ids exact, 0 outside."""
    if src.dim() == 5:  # float32 ids: grid_sample nearest (ties to even, as rounding in warp)
        return grid_sample_points(src, g, "nearest", "zeros").reshape(-1).numpy()
    outside = (g.abs() > 1).any(-1)
    flat = torch.zeros(g.shape[0], dtype=torch.long)
    for k, n in enumerate(shape):
        i = torch.round((g[:, 2 - k] + 1) * ((n - 1) / 2)).long().clamp_(0, n - 1)
        flat.mul_(n).add_(i)
    return src[flat].masked_fill_(outside, 0).numpy()


class Registrar:
    """A trained model loaded once, registering pairs (one call of ``hwreg register``, or many
    in batch mode). ``model``: a model file, run folder or shipped name; ``device`` ``verilator``
    or ``pynq`` runs its network on the accelerator ``package`` (:mod:`hwreg.runtime.board`).
    ``flips``/``cascade`` override the model's inference settings (``model.flips``,
    ``model.cascade``: accelerator passes per pair; ``None`` keeps the model's)."""

    def __init__(self, model: str | Path = "demo-w4a4", device: str = "auto",
                 package: str | Path | None = None, flips: int | None = None,
                 cascade: int | None = None) -> None:
        self.model = str(model)
        if package is not None and device not in PACKAGE_DEVICES:
            raise UserError(f"--package: only with --device {' or '.join(PACKAGE_DEVICES)}")
        self.on_package = None
        if device in PACKAGE_DEVICES:  # the Brevitas network: its host epilogue and DDF scale
            net, cfg, _ = load_model(model)
            self.device = torch.device("cpu")  # the host side; the network runs on the package
            self.on_package = open_package(package, device, net, tuple(cfg.data.grid_shape))
        else:  # a quantized model runs from its inference form (no Brevitas), bit for bit
            net, cfg, _ = load_for_inference(model)
            self.device = pick_device(device)
        self.cfg = cfg
        self.net = net.to(self.device).eval()
        for key, value in (("flips", flips), ("cascade", cascade)):
            if value is not None:
                setattr(net.cfg, key, value)
        try:
            net.cfg.validate()
        except UserError as exc:
            raise UserError(f"--{str(exc).removeprefix('model.')}") from None

    def compute(self, inputs: Inputs) -> Result:
        """Register a read pair: model grid, network, map back (module docstring)."""
        t0 = time.perf_counter()
        img_f, grid_f = to_model_grid(inputs.fixed, self.cfg.data)
        img_m, grid_m = to_model_grid(inputs.moving, self.cfg.data)
        t1 = time.perf_counter()
        if self.on_package is not None:
            codes = self.on_package(img_f, img_m)
        else:
            with torch.inference_mode():  # predict_ddf refuses a non-finite DDF
                codes = predict_ddf(self.net, img_f, img_m, self.device)
        ddf = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.float32))  # (3, D, H, W)
        t2 = time.perf_counter()
        disp, warped, warped_label = map_to_fixed(
            ddf, grid_f.affine, grid_m.affine, inputs.shape, inputs.affine, inputs.moving,
            inputs.label, inputs.label_dtype)
        t3 = time.perf_counter()
        return Result(warped, disp, warped_label, inputs.affine,
                      {"resample_in": t1 - t0, "network": t2 - t1, "resample_out": t3 - t2})


def write_result(result: Result, out: Path, fmt: str = "nii.gz",
                 compresslevel: int = 1) -> list[Path]:
    """Write a result's files into the existing folder ``out``, one thread per file."""
    targets = [out / n for n in output_names(result.warped_label is not None, fmt)]
    arrays: list[tuple[np.ndarray, str | None]] = [(result.warped, None), (result.ddf, "vector")]
    if result.warped_label is not None:
        arrays.append((result.warped_label, None))
    with ThreadPoolExecutor(max_workers=len(arrays)) as pool:
        jobs = [pool.submit(save_nifti, arr, result.affine, path, intent=intent,
                            compresslevel=compresslevel)
                for (arr, intent), path in zip(arrays, targets, strict=True)]
        for job in jobs:
            job.result()
    return targets


def check_out(out: Path, names: list[str], force: bool) -> None:
    """Refuse a non-folder ``out`` or existing outputs (unless ``force``)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    require_absent([out / name for name in names], force)


def summary(seconds: dict[str, float], model: str, outputs: list[Path]) -> dict[str, Any]:
    """The dict :func:`register_files` returns (and ``timings.json`` holds)."""
    return {"outputs": [str(p) for p in outputs], "model": model,
            "seconds": {k: seconds[k] for k in (*STEPS, "total")},
            "seconds_total": seconds["total"], "seconds_network": seconds["network"],
            "peak_rss_mb": peak_rss_mb()}


def write_timings(info: dict[str, Any], out: Path) -> Path:
    """``out/timings.json``: the seconds of each step and the peak memory."""
    path = out / "timings.json"
    keep = {k: info[k] for k in ("model", "seconds", "peak_rss_mb")}
    path.write_text(json.dumps(keep, indent=2) + "\n")
    return path


def register_files(fixed: str | Path, moving: str | Path, out: str | Path,
                   model: str | Path | Registrar = "demo-w4a4",
                   moving_label: str | Path | None = None, force: bool = False,
                   device: str = "auto", fmt: str = "nii.gz", compresslevel: int = 1,
                   timings: bool = False, package: str | Path | None = None) -> dict[str, Any]:
    """Register MOVING to FIXED and write the outputs (module docstring) into ``out``.

    Every input is validated before anything is written; existing outputs in ``out`` are refused
    unless ``force``. ``model`` may be a loaded :class:`Registrar` (reused across calls).
    ``device`` ``verilator`` or ``pynq`` runs the network on the accelerator ``package``
    (``hwreg package``; :mod:`hwreg.runtime.board`). With ``timings``, also writes
    ``out/timings.json``. Returns the seconds of each step
    (``load``, ``load_model``, ``resample_in``, ``network``, ``resample_out``, ``write``,
    ``total``), the peak memory and the written paths.
    """
    t0 = time.perf_counter()
    out = Path(out)
    names = output_names(moving_label is not None, fmt)
    if not 0 <= compresslevel <= 9:
        raise UserError(f"--compresslevel: expected 0..9, got {compresslevel}")
    inputs = read_inputs(fixed, moving, moving_label)
    t_read = time.perf_counter()
    reg = model if isinstance(model, Registrar) else Registrar(model, device, package)
    check_out(out, names, force)
    t1 = time.perf_counter()
    result = reg.compute(inputs)
    del inputs  # the input volumes are no longer needed while writing
    t2 = time.perf_counter()
    ensure_folder(out)  # a UserError if it cannot be created
    targets = write_result(result, out, fmt, compresslevel)
    t3 = time.perf_counter()
    seconds = {"load": t_read - t0, "load_model": t1 - t_read, **result.seconds,
               "write": t3 - t2, "total": t3 - t0}
    info = summary(seconds, reg.model, targets)
    if timings:
        write_timings(info, out)
    return info
