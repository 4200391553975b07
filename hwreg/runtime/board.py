"""``hwreg register ... --device verilator|pynq --package PKG``: the network of a registration
runs on a packaged accelerator (``hwreg package``) through its driver
(:mod:`hwreg.runtime.driver`): ``verilator`` is the virtual board (the Verilator model of
``PKG/rtl``), ``pynq`` the board itself (untested on hardware here).

Only ``RegNet.core`` (the part that became hardware) is replaced: the accelerator's integer DDF
codes times the output scale are exactly the Brevitas model's output, and the host epilogue
(half-resolution upsampling, cascade passes) is the model's own code, so the DDF equals
``--device cpu`` bit for bit when the RTL is exact.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hwreg.errors import UserError

if TYPE_CHECKING:  # Brevitas and the exporter load only when a package runs
    from hwreg.model import RegNet

#: ``--device`` values that run the network on a package.
PACKAGE_DEVICES = ("verilator", "pynq")


def open_package(package: str | Path | None, device: str, model: RegNet,
                 grid: tuple[int, int, int]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A predictor ``(fixed, moving) (D, H, W) -> DDF (3, D, H, W)`` running ``model`` with its
    core on the package; checks (UserError) that the package was built from a model with
    ``model``'s grid and output scale before anything runs."""
    from hwreg.evaluate import predict_ddf
    from hwreg.export import output_scale
    from hwreg.runtime.driver import Accelerator, load_manifest

    if package is None:
        raise UserError(f"--package: needed with --device {device}")
    try:
        manifest = load_manifest(package)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    got_grid = tuple(manifest["input"]["grid"])
    scale = float(manifest["output"]["scale"])
    if got_grid != tuple(grid) or scale != output_scale(model):
        raise UserError(f"{package}: built for grid {got_grid} and DDF scale {scale}, the model "
                        f"has grid {tuple(grid)} and scale {output_scale(model)}: --model and "
                        "--package do not belong together")
    try:
        acc = Accelerator(package, device)
    except ImportError as exc:  # pynq exists only on the board
        raise UserError(f"--device {device}: {exc} (the pynq transport runs on a PYNQ board)"
                        ) from None
    factor = np.float32(scale)

    def core(x: torch.Tensor) -> torch.Tensor:
        """``RegNet.core`` on the accelerator: (B, 2, D, H, W) -> (B, 3, D', H', W')."""
        codes = np.stack([acc.codes(v) for v in x.detach().cpu().numpy()])
        return torch.from_numpy(codes.astype(np.float32) * factor)

    net = copy.copy(model.eval())  # shares the modules; only `core` differs
    net.core = core  # type: ignore[method-assign]

    def predict(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
        return predict_ddf(net, fixed, moving, "cpu")

    return predict
