"""On-the-fly training pairs from the embedded atlas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwreg.config import IBSR_LABEL_IDS, AtlasPairsConfig
from hwreg.data.atlas_pairs import AtlasPairs, smooth3d, smooth_field


@pytest.fixture(scope="module")
def pairs() -> AtlasPairs:
    return AtlasPairs((16, 24, 16), 8.0, IBSR_LABEL_IDS)


def test_batches_have_the_training_layout(pairs: AtlasPairs) -> None:
    batch = next(pairs.batches(2, np.random.default_rng(0), labels_per_pair=3))
    assert batch.fixed_image.shape == (2, 1, 16, 24, 16)
    assert batch.moving_label.shape == (2, 3, 16, 24, 16)
    assert batch.fixed_image.min() >= 0 and batch.fixed_image.max() == 1
    # every sampled label is present in both images of its pair
    assert (batch.fixed_label.sum(axis=(2, 3, 4)) > 0).all()
    assert (batch.moving_label.sum(axis=(2, 3, 4)) > 0).all()
    assert set(np.unique(batch.fixed_label)) <= {0.0, 1.0}


def test_same_seed_same_pairs_other_seed_other_pairs(pairs: AtlasPairs) -> None:
    a = next(pairs.batches(1, np.random.default_rng(3), 2))
    b = next(pairs.batches(1, np.random.default_rng(3), 2))
    c = next(pairs.batches(1, np.random.default_rng(4), 2))
    assert np.array_equal(a.fixed_image, b.fixed_image)
    assert np.array_equal(a.moving_label, b.moving_label)
    assert not np.array_equal(a.fixed_image, c.fixed_image)


def test_labels_follow_the_geometry_of_the_image(pairs: AtlasPairs) -> None:
    # no deformation at all: the subject is the atlas sampled on the model grid
    still = AtlasPairs((16, 24, 16), 8.0, IBSR_LABEL_IDS, AtlasPairsConfig(
        rotation_deg=0, scale=0, translation_mm=0, warp_mm=0))
    img, lab = still.subject(np.random.default_rng(0))
    img2, lab2 = still.subject(np.random.default_rng(1))
    assert torch.equal(lab, lab2) and torch.allclose(img, img2)
    _, moved_lab = pairs.subject(np.random.default_rng(1))
    assert not torch.equal(moved_lab, lab)
    # brain labels sit where the image is bright
    assert float(img[lab > 0].mean()) > 3 * float(img[lab == 0].mean())


def test_smooth_field_and_blur() -> None:
    field = smooth_field(np.random.default_rng(0), (12, 14, 10), 3.0, 24.0, 2.0, 3)
    assert field.shape == (3, 12, 14, 10)
    assert 0.1 < float(field.std()) < 4.0
    ones = torch.ones(1, 1, 6, 7, 8)
    assert torch.allclose(smooth3d(ones, 1.0), ones)  # replicate padding keeps a constant
    spike = torch.zeros(1, 1, 9, 9, 9)
    spike[0, 0, 4, 4, 4] = 1
    out = smooth3d(spike, 1.0)
    assert abs(float(out.sum()) - 1) < 1e-5 and float(out.max()) < 0.1


def test_labels_absent_from_the_atlas_are_refused() -> None:
    from hwreg.errors import UserError

    pairs = AtlasPairs((8, 8, 8), 16.0, [999])  # no such id in the IBSR atlas
    with pytest.raises(UserError, match="no configured label"):
        next(pairs.batches(1, np.random.default_rng(0)))
