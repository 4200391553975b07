"""The true correspondence of the synthetic default data (the oracle ceiling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from hwreg.config import DataConfig
from hwreg.data.datasets import find_subjects, prepare_subject
from hwreg.data.nifti import load_labels
from hwreg.data.synth import load_atlas, oracle_ddf, prepare_default, subject_transform
from hwreg.evaluate import pair_metrics


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "data"
    prepare_default(root, subjects=3, seed=5, spacing=4.0, progress=False)
    return root


def test_transform_reproduces_the_written_labels_exactly(dataset: Path) -> None:
    t = subject_transform(dataset, 1)
    labels = load_labels(dataset / "IBSR_02" / "IBSR_02_seg_ana.nii.gz")
    _, atlas = load_atlas()
    world = t.grid.world_coords().reshape(3, -1)
    vox = np.linalg.solve(atlas.affine, np.vstack([t.apply(world), np.ones((1, world.shape[1]))]))
    again = ndimage.map_coordinates(atlas.data, vox[:3], order=0, mode="constant")
    assert np.array_equal(again.reshape(labels.shape), labels.data)


def test_inverse_undoes_the_transform(dataset: Path) -> None:
    t = subject_transform(dataset, 2)
    shape = np.array(t.grid.shape)
    idx = np.indices(t.grid.shape).reshape(3, -1)
    interior = np.all((idx >= shape[:, None] // 4) & (idx < 3 * shape[:, None] // 4), axis=0)
    world = t.grid.world_coords().reshape(3, -1)[:, interior]
    back = t.inverse(t.apply(world))
    assert np.abs(back - world).max() < 1e-3


def test_oracle_beats_identity_and_self_pair_is_near_zero(dataset: Path) -> None:
    cfg = DataConfig(root=dataset, grid_shape=(24, 32, 24), grid_spacing=6.0)
    a, b = (prepare_subject(s, cfg) for s in find_subjects(cfg)[:2])
    ids = cfg.resolved_label_ids()
    ddf = oracle_ddf(dataset, a.id, a.grid, b.id, b.grid)
    zero = np.zeros_like(ddf)
    assert pair_metrics(a, b, ddf, ids)["dice_mean"] > pair_metrics(a, b, zero, ids)["dice_mean"]
    self_ddf = oracle_ddf(dataset, a.id, a.grid, a.id, a.grid)
    assert np.abs(self_ddf).max() < 1e-2
