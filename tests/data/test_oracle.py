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
    prepare_default(root, subjects=4, seed=5, spacing=4.0, progress=False)
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
    error = np.abs(t.inverse(t.apply(world)) - world).max(axis=0)
    assert np.percentile(error, 99) < 1e-3 and error.max() < 0.5  # mm; a few converge slowly


def test_oracle_beats_identity_and_self_pair_is_near_zero(dataset: Path) -> None:
    cfg = DataConfig(root=dataset, grid_shape=(24, 32, 24), grid_spacing=6.0)
    a, b = (prepare_subject(s, cfg) for s in find_subjects(cfg)[:2])
    ids = cfg.resolved_label_ids()
    ddf = oracle_ddf(dataset, a.id, a.grid, b.id, b.grid)
    zero = np.zeros_like(ddf)
    assert pair_metrics(a, b, ddf, ids)["dice_mean"] > pair_metrics(a, b, zero, ids)["dice_mean"]
    self_ddf = oracle_ddf(dataset, a.id, a.grid, a.id, a.grid)
    assert np.percentile(np.abs(self_ddf), 99) < 1e-3 and np.abs(self_ddf).max() < 0.5


def test_evaluate_reports_the_fraction_of_the_oracle_gain(dataset: Path, tmp_path: Path) -> None:
    from hwreg.evaluate import evaluate_model
    from hwreg.model import ModelConfig
    from hwreg.run import RunConfig
    from hwreg.train import train

    cfg = RunConfig(data=DataConfig(root=dataset, grid_shape=(16, 16, 16), grid_spacing=8.0,
                                    n_train=2, n_test=2, label_ids=[2, 41]),
                    model=ModelConfig(preset="tiny"))
    cfg.train.steps, cfg.train.eval_pairs, cfg.train.device = 1, 2, "cpu"
    path = train(cfg, tmp_path / "run", progress=False)
    result = evaluate_model(path, tmp_path / "eval", data=dataset)
    ceiling = result["ceiling"]
    assert ceiling["oracle_dice"] > result["identity"]["dice_mean"]
    gain = result["registered"]["dice_mean"] - result["identity"]["dice_mean"]
    assert ceiling["fraction_of_oracle_gain"] == pytest.approx(
        gain / (ceiling["oracle_dice"] - result["identity"]["dice_mean"]))
    assert "Oracle (true DDF) Dice" in (tmp_path / "eval" / "metrics.md").read_text()
