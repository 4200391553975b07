"""Makers of malformed inputs (NIfTI files, configs, model files, folding JSON) for the fuzz
tests: each writes one hostile file and returns its path. Tiny by design."""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (16, 12, 16)


def _img(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def _with_sform(path: Path, sform: np.ndarray) -> Path:
    img = nib.Nifti1Image(np.ones(SHAPE, np.float32), np.eye(4))
    img.set_sform(sform, code=1)
    img.set_qform(None, code=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def zero_pixdim(path: Path) -> Path:
    img = nib.Nifti1Image(np.ones(SHAPE, np.float32), None)
    img.header["pixdim"][1:4] = 0
    img.header.set_sform(None, code=0)
    img.header.set_qform(None, code=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def huge_header(path: Path) -> Path:
    """A header claiming 10000^3 float32 voxels, followed by a few bytes of data."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((10000, 10000, 10000))
    hdr.set_data_dtype(np.float32)
    hdr["vox_offset"] = 352
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = hdr.binaryblock + b"\0" * 4 + b"\0" * 64
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def _singular() -> np.ndarray:
    a = np.diag([2.0, 2.0, 2.0, 1.0])
    a[:3, 1] = a[:3, 0]  # two equal columns: rank 2
    return a


def _zero_column() -> np.ndarray:
    a = np.diag([2.0, 2.0, 2.0, 1.0])
    a[:3, 2] = 0
    return a


def _rgb(path: Path) -> Path:
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    return _img(path, rgb)


def _nan_affine(path: Path) -> Path:
    a = np.eye(4)
    a[0, 3] = np.nan
    return _with_sform(path, a)


def _dir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path
    return make


def _truncated(path: Path) -> Path:
    _img(path, np.random.default_rng(0).random(SHAPE).astype(np.float32))
    path.write_bytes(path.read_bytes()[:400])
    return path


def _values(data: np.ndarray) -> Callable[[Path], Path]:
    return lambda path: _img(path, data)


_rng = np.random.default_rng(0)
_nan = np.ones(SHAPE, np.float32)
_nan[1, 2, 3] = np.nan
_inf = np.ones(SHAPE, np.float32)
_inf[0, 0, 0] = np.inf

#: Malformed images: every one must be refused by ``load_image`` (and ``load_labels``).
BAD_IMAGES: dict[str, Callable[[Path], Path]] = {
    "garbage": _bytes(b"this is not a nifti file at all" * 20),
    "empty": _bytes(b""),
    "gzip-garbage": _bytes(gzip.compress(b"not a nifti header" * 40)),
    "truncated": _truncated,
    "2d": _values(np.ones((16, 12), np.float32)),
    "4d": _values(np.ones((*SHAPE[:2], 4, 2), np.float32)),
    "nan-voxels": _values(_nan),
    "inf-voxels": _values(_inf),
    "singular-sform": lambda p: _with_sform(p, _singular()),
    "zero-column-sform": lambda p: _with_sform(p, _zero_column()),
    "nan-affine": _nan_affine,
    "zero-pixdim": zero_pixdim,
    "rgb24": _rgb,
    "complex64": _values(np.ones(SHAPE, np.complex64)),
    "huge-dims": huge_header,
    "a-folder": _dir,
}

#: Images that load as images but are not label maps.
BAD_LABELS: dict[str, Callable[[Path], Path]] = {
    "non-integer": _values(np.full(SHAPE, 1.5, np.float32)),
    "negative-id": _values(np.full(SHAPE, -2, np.int16)),
    "nan-label": _values(_nan),
    "t1-as-labels": _values(_rng.integers(0, 3000, SHAPE).astype(np.int16)),
    "complex-labels": _values(np.ones(SHAPE, np.complex64)),
}


def pickle_payload(path: Path) -> Path:
    """A pickle that would run code if loaded without ``weights_only``."""
    path.parent.mkdir(parents=True, exist_ok=True)

    class Boom:
        def __reduce__(self):
            return (print, ("PAYLOAD EXECUTED",))

    path.write_bytes(pickle.dumps({"format": "hwreg-model-1", "x": Boom()}))
    return path
