"""Figures for reports (matplotlib, Agg backend, PNG files).

- :func:`registration_figure`: fixed / moving / warped mid slices with label contours, the DDF
  as a deformed grid and the Jacobian determinant map, for one pair on the model grid.
- :func:`bar_figure`: grouped bars (Dice per label, cycles per layer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hwreg.atomic import atomic_path
from hwreg.metrics import jacobian_determinant


def _contours(ax: plt.Axes, labels: np.ndarray) -> None:
    ids = [i for i in np.unique(labels) if i != 0]
    if ids:
        ax.contour(labels.T, levels=np.array(ids, dtype=float) + 0.5, colors="yellow",
                   linewidths=0.4)


def registration_figure(fixed: np.ndarray, moving: np.ndarray, warped: np.ndarray,
                        fixed_labels: np.ndarray, moving_labels: np.ndarray,
                        warped_labels: np.ndarray, ddf: np.ndarray, path: Path,
                        title: str) -> Path:
    """Axial mid slices (array axis 2 fixed) of a registered pair; images (D, H, W), ddf
    (3, D, H, W) voxels. Writes a PNG and returns its path."""
    z = fixed.shape[2] // 2
    jac = jacobian_determinant(ddf)
    fig, axes = plt.subplots(1, 5, figsize=(17, 4))
    for ax, img, lab, name in ((axes[0], fixed, fixed_labels, "fixed"),
                               (axes[1], moving, moving_labels, "moving"),
                               (axes[2], warped, warped_labels, "warped moving")):
        ax.imshow(img[:, :, z].T, origin="lower", cmap="gray")  # x right, y up
        _contours(ax, lab[:, :, z])
        ax.set_title(name)
    # the deformed grid: voxel p drawn at p + ddf(p) (in-plane components 0 and 1)
    grid_ax = axes[3]
    px, py = np.meshgrid(np.arange(fixed.shape[0]), np.arange(fixed.shape[1]), indexing="ij")
    qx, qy = px + ddf[0, :, :, z], py + ddf[1, :, :, z]
    step = max(1, fixed.shape[0] // 24)
    for i in range(0, fixed.shape[0], step):
        grid_ax.plot(qx[i, :], qy[i, :], "b-", linewidth=0.5)
    for j in range(0, fixed.shape[1], step):
        grid_ax.plot(qx[:, j], qy[:, j], "b-", linewidth=0.5)
    grid_ax.set_aspect("equal")
    grid_ax.set_title("DDF (deformed grid)")
    im = axes[4].imshow(jac[:, :, z].T, origin="lower", cmap="RdBu_r", vmin=0, vmax=2)
    axes[4].set_title("Jacobian determinant")
    fig.colorbar(im, ax=axes[4], fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return _save(fig, path)


def bar_figure(values: Mapping[str, Sequence[float]], categories: Sequence[str], path: Path,
               title: str, ylabel: str) -> Path:
    """Grouped bars: one group per category, one bar per series in ``values``."""
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(categories) * len(values)), 3.6))
    width = 0.8 / max(1, len(values))
    x = np.arange(len(categories))
    for k, (name, series) in enumerate(values.items()):
        ax.bar(x + k * width, series, width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, categories, rotation=90, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
