"""Training pairs synthesised on the fly from the embedded atlas (unlimited subjects).

Instead of drawing (fixed, moving) pairs from a fixed set of prepared subjects, every training
pair is made fresh from the T1 template and its IBSR label atlas (1 mm, :func:`load_atlas`):

1. the pair's own anatomy: one large random warp of the atlas (rotation, anisotropic scaling and
   a smooth displacement, ``anatomy_*``) and random flips, shared by both images, so that no two
   pairs show the same brain and the network has to compare the two images rather than recognise
   the one template (without it, the network did not register a brain it had never seen);
2. each image's own small transform ``p -> A (p - c) + c + t + u(p)`` on top: ``A`` a small
   rotation and scaling, ``t`` a small translation (what is left after each image's grid is
   centred on its centre of mass), ``u`` a smooth displacement (Gaussian values on a lattice
   whose spacing is drawn from ``control_mm``, trilinearly upsampled and Gaussian-smoothed, of a
   random magnitude in ``[0, warp_mm]``): the deformation the network must recover;
3. sampling onto the model grid the way inference resamples a NIfTI image
   (:func:`hwreg.data.datasets.to_model_grid`: trilinear point sampling, labels nearest
   neighbour), then each image's own intensity augmentation (smooth bias field, gamma, noise,
   optional blur; with probability ``same_intensity`` the same for both) and normalisation.

Labels follow the geometry only. Everything is drawn from one ``numpy.random.Generator`` (the
training loop checkpoints its state), so a resumed run sees the same pairs as an uninterrupted
one. Tensors are made with torch (``grid_sample`` on the 1 mm volumes): a batch of 4 pairs on
48x64x48 took 0.7-1 s on one (shared) core here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from hwreg.config import AtlasPairsConfig
from hwreg.data.datasets import Batch
from hwreg.data.grid import centre_of, model_grid, remap_labels
from hwreg.data.synth import load_atlas, rotation_matrix
from hwreg.errors import UserError


def _gauss1d(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth3d(vol: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (``sigma`` voxels, replicate padding) of ``(B, C, D, H, W)``."""
    if sigma <= 0:
        return vol
    k = _gauss1d(sigma).to(vol.dtype)
    r = k.numel() // 2
    b, c = vol.shape[:2]
    x = vol.reshape(b * c, 1, *vol.shape[2:])
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = k.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = r  # F.pad lists the last axis first
        x = functional.conv3d(functional.pad(x, pad, mode="replicate"), k.view(shape))
    return x.reshape(vol.shape)


def smooth_field(rng: np.random.Generator, shape: Sequence[int], spacing: float,
                 control_mm: float, sd: float, channels: int) -> torch.Tensor:
    """A smooth random field ``(channels, *shape)``: N(0, sd) on a lattice ``control_mm`` apart,
    trilinearly upsampled and Gaussian-smoothed by a quarter of the lattice spacing (on a grid
    of half the resolution, then trilinearly upsampled: 8x cheaper, same smoothness)."""
    ctrl = [max(2, round(n * spacing / control_mm) + 1) for n in shape]
    coarse = torch.from_numpy(rng.normal(0.0, sd, size=(1, channels, *ctrl)).astype(np.float32))
    half = tuple(max(2, (n + 1) // 2) for n in shape)
    mid = functional.interpolate(coarse, size=half, mode="trilinear", align_corners=True)
    mid = smooth3d(mid, control_mm / (2 * spacing) / 4)
    fine = functional.interpolate(mid, size=tuple(shape), mode="trilinear", align_corners=True)
    return fine[0]


@dataclass(frozen=True)
class _Warp:
    """``x -> lin (x - c) + c + shift + disp(x)``, ``disp`` (3, D, H, W) mm on the model grid."""

    lin: np.ndarray
    shift: np.ndarray
    disp: torch.Tensor


class AtlasPairs:
    """Endless training batches of freshly synthesised pairs (module docstring).

    ``grid_shape``/``grid_spacing``: the model grid; ``label_ids``: the ids kept (remapped to
    1..K as :func:`hwreg.data.grid.remap_labels`).
    """

    def __init__(self, grid_shape: Sequence[int], grid_spacing: float,
                 label_ids: Sequence[int], cfg: AtlasPairsConfig | None = None) -> None:
        self.cfg = cfg or AtlasPairsConfig()
        image, labels = load_atlas()
        self.shape = tuple(int(s) for s in grid_shape)
        self.spacing = float(grid_spacing)
        self.grid = model_grid(self.shape, self.spacing, centre_of(image))
        self.src_shape = image.shape
        self.atlas_inv = np.linalg.inv(labels.affine)
        top = float(np.percentile(image.data[image.data > 0], 99.5))
        self.image = torch.from_numpy(np.clip(image.data / top, 0, None).astype(np.float32))
        lab = remap_labels(labels.data, tuple(label_ids)).astype(np.float32)
        self.labels = torch.from_numpy(lab)
        world = self.grid.world_coords().reshape(3, -1)
        self.world = world
        self.centre = world.mean(axis=1, keepdims=True)

    def _draw(self, rng: np.random.Generator, rotation_deg: float, scale: float,
              translation_mm: float, control_mm: Sequence[float], warp_mm: float) -> _Warp:
        lin = rotation_matrix(np.deg2rad(rng.normal(0, rotation_deg, 3)))
        lin = lin @ np.diag(np.exp(rng.normal(0, scale, 3)))
        shift = rng.normal(0, translation_mm, (3, 1))
        control = float(rng.choice(list(control_mm)))
        magnitude = float(rng.uniform(0, warp_mm))
        disp = smooth_field(rng, self.shape, self.spacing, control, magnitude, 3)
        return _Warp(lin, shift, disp)

    def _apply(self, warp: _Warp, world: np.ndarray, at_grid: bool) -> np.ndarray:
        """``lin (x - c) + c + shift + disp(x)`` at world points ``(3, N)``; ``disp`` is exact at
        the model grid's voxels (``at_grid``), trilinear elsewhere (border values beyond)."""
        if at_grid:
            disp = warp.disp.reshape(3, -1).numpy()
        else:
            inv = np.linalg.inv(self.grid.affine)
            vox = inv[:3, :3] @ world + inv[:3, 3:4]
            norm = [vox[k] * (2.0 / (n - 1)) - 1.0 for k, n in enumerate(self.shape)]
            grid = torch.from_numpy(np.stack(norm[::-1], axis=-1).astype(np.float32))
            disp = functional.grid_sample(warp.disp[None], grid.view(1, 1, 1, -1, 3),
                                          mode="bilinear", padding_mode="border",
                                          align_corners=True).reshape(3, -1).numpy()
        return warp.lin @ (world - self.centre) + self.centre + warp.shift + disp

    def _anatomy(self, rng: np.random.Generator) -> tuple[_Warp, list[int]]:
        """A new 'subject' shared by both images of a pair: a large warp and random flips."""
        c = self.cfg
        warp = self._draw(rng, c.anatomy_rotation_deg, c.anatomy_scale, 0.0,
                          c.anatomy_control_mm, c.anatomy_warp_mm)
        flips = [axis for axis, p in enumerate(c.flip) if rng.random() < p]
        return warp, flips

    def _coords(self, rng: np.random.Generator, anatomy: _Warp | None = None) -> torch.Tensor:
        """grid_sample coordinates ``(1, D, H, W, 3)`` of one random image transform (composed
        with the pair's shared ``anatomy`` warp, if any)."""
        c = self.cfg
        own = self._draw(rng, c.rotation_deg, c.scale, c.translation_mm, c.control_mm, c.warp_mm)
        src = self._apply(own, self.world, at_grid=True)
        if anatomy is not None:
            src = self._apply(anatomy, src, at_grid=False)
        vox = self.atlas_inv[:3, :3] @ src + self.atlas_inv[:3, 3:4]  # (3, N) atlas voxels
        norm = [vox[k] * (2.0 / (n - 1)) - 1.0 for k, n in enumerate(self.src_shape)]
        # grid_sample wants the last dim in (W, H, D) order: reverse the axes
        grid = np.stack(norm[::-1], axis=-1).reshape(1, *self.shape, 3)
        return torch.from_numpy(grid.astype(np.float32))

    def _intensity(self, img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Augment and normalise one model-grid image ``(D, H, W)`` -> [0, 1]."""
        c = self.cfg
        mask = img > 0
        bias = smooth_field(rng, self.shape, self.spacing, 48.0, c.bias, 1)[0]
        out = img.clamp_min(0) ** float(np.exp(rng.normal(0, c.gamma))) * torch.exp(bias)
        if rng.random() < c.blur:
            out = smooth3d(out[None, None], float(rng.uniform(0.3, 0.8)))[0, 0]
        noise = float(rng.uniform(0, c.noise))
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        out = out + noise * torch.randn(out.shape, generator=gen) * mask
        out = out.clamp_min(0)
        nonzero = out[out > 0]
        if nonzero.numel() == 0:
            return out
        top = torch.quantile(nonzero[:: max(1, nonzero.numel() // 100_000)], 0.995)
        return (out / top).clamp(0, 1)

    def subject(self, rng: np.random.Generator, anatomy: _Warp | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One random image on the model grid: (image (D, H, W) un-normalised, labels
        (D, H, W) float label indices 0..K)."""
        grid = self._coords(rng, anatomy)
        img = functional.grid_sample(self.image[None, None], grid, mode="bilinear",
                                     padding_mode="zeros", align_corners=True)[0, 0]
        lab = functional.grid_sample(self.labels[None, None], grid, mode="nearest",
                                     padding_mode="zeros", align_corners=True)[0, 0]
        return img, lab

    def batches(self, batch_size: int, rng: np.random.Generator,
                labels_per_pair: int = 1) -> Iterator[Batch]:
        """Endless :class:`Batch` es like :func:`hwreg.data.datasets.sample_batches`, with
        ``labels_per_pair`` labels present in both images of each pair."""
        while True:
            fixed, moving, fl, ml, idx = [], [], [], [], []
            attempts = 0
            while len(fixed) < batch_size:
                attempts += 1
                if attempts > 100 * batch_size:
                    raise UserError("no configured label appears in the synthesised pairs "
                                    "(check data.label_ids against the IBSR atlas ids)")
                anatomy, flips = self._anatomy(rng)
                (f_img, f_lab), (m_img, m_lab) = (self.subject(rng, anatomy),
                                                  self.subject(rng, anatomy))
                if flips:  # the same flips for both images: a mirrored anatomy
                    f_img, f_lab, m_img, m_lab = (torch.flip(t, flips)
                                                  for t in (f_img, f_lab, m_img, m_lab))
                if rng.random() < self.cfg.same_intensity:
                    state = rng.bit_generator.state
                    f_img = self._intensity(f_img, rng)
                    rng.bit_generator.state = state
                    m_img = self._intensity(m_img, rng)
                else:
                    f_img, m_img = self._intensity(f_img, rng), self._intensity(m_img, rng)
                shared = sorted(set(torch.unique(f_lab).long().tolist())
                                & set(torch.unique(m_lab).long().tolist()) - {0})
                if not shared:  # (a label set absent from the grid) draw another pair
                    continue
                labs = rng.choice(shared, size=labels_per_pair,
                                  replace=len(shared) < labels_per_pair)
                fixed.append(f_img[None].numpy())
                moving.append(m_img[None].numpy())
                fl.append(np.stack([(f_lab == k).numpy() for k in labs]))
                ml.append(np.stack([(m_lab == k).numpy() for k in labs]))
                idx.append(labs)

            def stack(arrays: list[np.ndarray]) -> np.ndarray:
                return np.stack(arrays).astype(np.float32)  # (B, C, D, H, W)

            yield Batch(stack(fixed), stack(moving), stack(fl), stack(ml), np.array(idx))
