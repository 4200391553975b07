"""The real-brain benchmark's pieces: labels from tissue maps, parcels, warps."""

from __future__ import annotations

import numpy as np

from hwreg.data.realbrain import (
    apply_warp,
    nilearn_files,
    parcel_labels,
    random_warp,
    tissue_labels,
)


def test_tissue_labels_take_the_larger_probability_above_one_half() -> None:
    gm = np.array([0.9, 0.4, 0.5, 0.3, 0.6])
    wm = np.array([0.1, 0.6, 0.5, 0.3, 0.4])
    assert tissue_labels(gm, wm).tolist() == [1, 2, 1, 0, 1]


def test_parcels_cover_the_mask_with_n_cells() -> None:
    mask = np.zeros((20, 20, 20), bool)
    mask[4:16, 4:16, 4:16] = True
    parcels = parcel_labels(mask, 7, seed=0)
    assert set(np.unique(parcels[mask])) == set(range(1, 8))
    assert (parcels[~mask] == 0).all()
    assert np.array_equal(parcels, parcel_labels(mask, 7, seed=0))


def test_random_warp_peak_and_apply() -> None:
    disp = random_warp((30, 32, 28), np.random.default_rng(1), max_mm=6.0, control_mm=12.0,
                       spacing=2.0)
    assert abs(float(np.sqrt((disp**2).sum(axis=0)).max()) - 3.0) < 1e-4  # 6 mm = 3 voxels
    vol = np.zeros((6, 6, 6), np.int16)
    vol[3, 2, 1] = 5
    shift = np.zeros((3, 6, 6, 6), np.float32)
    shift[0] = 1.0  # out(p) = vol(p + e0)
    out = apply_warp(vol, shift, order=0)
    assert out[2, 2, 1] == 5 and out.sum() == 5


def test_nilearn_brain_is_installed() -> None:
    files = nilearn_files()  # installed by make (data files only)
    assert all(path.stat().st_size > 1_000_000 for path in files.values())
