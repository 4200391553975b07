"""Figures for reports (matplotlib, Agg backend, PNG files).

- :func:`registration_figure`: fixed / moving / warped mid slices with label contours, the DDF
  as a deformed grid and the Jacobian determinant map, for one pair on the model grid.
- :func:`structure_dice_figure`: Dice per anatomical structure as horizontal bars, structure
  names on the axis, one colour per model, sorted by the first model's Dice.
- :func:`layer_cycles_figure`: expected cycles per hardware layer as horizontal bars, coloured by
  their share of the bottleneck (the slowest layer sets the throughput).

Every figure has a title and axis units; the report adds a caption that says what to look for.
PNGs are written atomically (:mod:`hwreg.atomic`).
"""

from __future__ import annotations

from collections.abc import Mapping
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
        ax.set_title(name, fontsize=14)
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
    grid_ax.set_title("DDF (deformed grid)", fontsize=14)
    im = axes[4].imshow(jac[:, :, z].T, origin="lower", cmap="RdBu_r", vmin=0, vmax=2)
    axes[4].set_title("Jacobian determinant", fontsize=14)
    fig.colorbar(im, ax=axes[4], fraction=0.046).set_label("det J (unitless; <= 0: folding)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=16)
    return _save(fig, path)


def structure_dice_figure(values: Mapping[str, Mapping[str, float]], names: Mapping[str, str],
                          path: Path, title: str,
                          before: Mapping[str, float] | None = None) -> Path:
    """Horizontal bars of Dice per structure: ``values`` maps a model name to ``{label id:
    Dice}``, ``names`` a label id to its structure name; ``before`` (Dice before registration)
    is drawn as a black tick per structure. Structures are sorted by the first model's Dice
    (best at the top), one colour per model. Writes a PNG and returns its path."""
    models = list(values)
    present = {k for v in values.values() for k, d in v.items() if np.isfinite(d)}
    ids = sorted(present,  # structures absent from every pair (all nan) are left out
                 key=lambda k: -np.nan_to_num(values[models[0]].get(k, np.nan), nan=-1.0))
    height = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(9, 1.4 + len(ids) * (0.1 + 0.09 * len(models))))
    y = np.arange(len(ids))
    for k, model in enumerate(models):
        ax.barh(y + (k - (len(models) - 1) / 2) * height,
                [values[model].get(i, np.nan) for i in ids], height, label=model,
                color=plt.get_cmap("tab10")(k))
    if before is not None:
        ax.plot([before.get(i, np.nan) for i in ids], y, "|", color="black", markersize=10,
                markeredgewidth=1.5, label="before registration")
    ax.set_yticks(y, [names.get(i, f"label {i}") for i in ids], fontsize=9)
    ax.set_ylim(len(ids) - 0.5, -0.5)  # best structure at the top
    ax.set_xlim(0, 1)
    ax.tick_params(axis="x", labeltop=True, top=True)  # a tall figure: the scale on both sides
    ax.set_xlabel("Dice overlap (0 = none, 1 = perfect; unitless)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=9, loc="lower right")
    return _save(fig, path)


def layer_cycles_figure(cycles: Mapping[str, int], path: Path, title: str,
                        clock_mhz: float | None = None) -> Path:
    """Horizontal bars of expected cycles per layer (graph order, first at the top), coloured by
    the share of the bottleneck (cycles / the slowest layer's). Writes a PNG, returns its path."""
    names = list(cycles)
    worst = max(cycles.values()) if cycles else 1
    share = np.array([cycles[n] / worst for n in names])
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.24 * len(names)))
    y = np.arange(len(names))
    ax.barh(y, [cycles[n] / 1e6 for n in names], color=plt.get_cmap("YlOrRd")(0.15 + 0.85 * share),
            edgecolor="black", linewidth=0.3)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    unit = "expected cycles per pair (millions)"
    if clock_mhz:
        unit += f"; 1 M cycles = {1e3 / clock_mhz:.1f} ms at {clock_mhz:.0f} MHz"
    ax.set_xlabel(unit)
    ax.axvline(worst / 1e6, color="red", linestyle="--", linewidth=0.8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
