"""Checks of a NIfTI file's header and values before hwreg uses (or loads) its data.

:func:`check_header` runs on the header alone, before any voxel is read: the data type (real
numbers only: no RGB, no complex), the voxel sizes as stored (nibabel silently "fixes" a zero
pixdim to 1), the affine (finite, full rank: a singular or zero-column sform has no orientation)
and the memory the data would need. :func:`check_label_values` refuses label maps that are not
label maps (non-integer values, NaN, negative ids, or so many distinct ids that the file is
surely an intensity image). Each fault is a :class:`~hwreg.errors.DataError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from hwreg.errors import DataError

#: Most distinct ids a label map may hold (FreeSurfer's aseg+aparc has about 110; a T1 image
#: given as a label map has thousands).
MAX_LABEL_IDS = 1000
#: Bytes of working memory per voxel on top of the stored type (float32 copy + float64 checks).
WORK_BYTES_PER_VOXEL = 12


def available_memory() -> int:
    """Bytes of memory available to this process now."""
    import psutil

    return int(psutil.virtual_memory().available)


def _raw_pixdim(path: Path, header: nib.Nifti1Header) -> np.ndarray:
    """The header's pixdim as stored in the file (nibabel's loader replaces zeros by 1)."""
    try:
        with nib.openers.ImageOpener(str(path)) as f:
            raw = type(header).from_fileobj(f, check=False)
        return np.asarray(raw["pixdim"], dtype=np.float64)
    except Exception:  # unreadable header copy: fall back to the loaded one
        return np.asarray(header["pixdim"], dtype=np.float64)


def check_dtype(dtype: np.dtype, path: Path) -> None:
    """Refuse data types that are not real numbers (RGB, complex, structured, bool)."""
    dtype = np.dtype(dtype)
    if dtype.fields is not None:
        raise DataError(path, f"data type {dtype} (RGB/structured) is not supported; "
                              "expected a real-valued scalar image")
    if dtype.kind == "c":
        raise DataError(path, f"complex data ({dtype}) is not supported; expected real values "
                              "(take the magnitude first)")
    if dtype.kind not in "iuf":
        raise DataError(path, f"data type {dtype} is not supported; expected real numbers")


def check_affine(affine: np.ndarray, path: Path) -> None:
    """Refuse an affine that is not finite or whose 3x3 part is singular (no orientation)."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise DataError(path, "the affine (sform/qform) has non-finite values")
    cols = np.linalg.norm(a[:3, :3], axis=0)
    if (cols <= 0).any():
        axis = int(np.argmin(cols))
        raise DataError(path, f"the affine (sform/qform) has a zero column (axis {axis}): "
                              "voxel size 0")
    if abs(np.linalg.det(a[:3, :3])) < 1e-6 * float(np.prod(cols)):
        raise DataError(path, "the affine (sform/qform) is singular (rank < 3): no orientation")


def check_header(img: nib.Nifti1Image, path: Path, memory: int | None = None) -> None:
    """Check a loaded-but-unread NIfTI image's header: dtype, pixdim, affine and the memory its
    data needs (``memory``: bytes available, default :func:`available_memory`)."""
    check_dtype(img.get_data_dtype(), path)
    shape = tuple(int(s) for s in img.shape[:3])
    pixdim = _raw_pixdim(path, img.header)[1:4]
    if not np.isfinite(pixdim).all() or (pixdim == 0).any():
        raise DataError(path, f"voxel sizes (pixdim) {pixdim.tolist()} must be finite and "
                              "non-zero")
    check_affine(img.affine, path)
    voxels = int(np.prod(shape, dtype=np.float64))
    need = voxels * (np.dtype(img.get_data_dtype()).itemsize + WORK_BYTES_PER_VOXEL)
    have = available_memory() if memory is None else memory
    if need > have:
        raise DataError(path, f"shape {shape} ({voxels:.3g} voxels) needs about "
                              f"{need / 2**30:.1f} GiB, only {have / 2**30:.1f} GiB available")


def check_label_values(data: np.ndarray, path: Path) -> np.ndarray:
    """The label map ``data`` as int32, or a DataError: NaN/Inf, non-integer values, negative
    ids, or more than :data:`MAX_LABEL_IDS` distinct ids (an intensity image?)."""
    if not np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float64, copy=False)
        if not np.isfinite(data).all():
            raise DataError(path, "label map contains NaN/Inf voxels")
        if not np.array_equal(data, np.round(data)):
            raise DataError(path, "label map has non-integer values")
    if data.size and data.min() < 0:
        raise DataError(path, f"label map has negative id {int(data.min())}")
    if data.size and data.max() > np.iinfo(np.int32).max:
        raise DataError(path, f"label map has id {int(data.max())}, beyond int32")
    ids = np.unique(data)
    if ids.size > MAX_LABEL_IDS:
        raise DataError(path, f"label map has {ids.size} distinct ids (at most {MAX_LABEL_IDS}): "
                              "is it an intensity image?")
    return data.astype(np.int32)
