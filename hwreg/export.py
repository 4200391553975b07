"""Brevitas -> QONNX export of the hardware part of the network, checked by execution.

:func:`export_model` writes ``RegNet.core`` (input ``(1, 2, D, H, W)`` float in [0, 1], channel 0
fixed, 1 moving; output the DDF ``(1, 3, D', H', W')`` in voxels at ``head_level`` resolution,
as :mod:`hwreg.warp` defines it) as a QONNX file with fixed shapes. :func:`check_export` runs the
file with qonnx and the Brevitas model on the same integer input (8-bit codes / 256) and
compares the integer DDF codes (output / output scale): they must be identical.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwreg.errors import UserError
from hwreg.model import RegNet


class CoreModule(nn.Module):
    """Wraps ``RegNet.core`` as a module for export: ``(B, 2, D, H, W)`` -> DDF codes x scale."""

    def __init__(self, model: RegNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.core(x)


def check_exportable(model: RegNet, grid: tuple[int, int, int]) -> None:
    """Raise UserError if ``model`` cannot go to FINN (float) or ``grid`` does not fit it."""
    if not model.cfg.quantized:
        raise UserError("the float model cannot be exported to FINN; use a quantized model "
                        "(model.weight_bits/act_bits set)")
    div = model.cfg.divisor
    if len(grid) != 3 or any(int(s) < 1 or int(s) % div for s in grid):
        raise UserError(f"grid {tuple(grid)}: need 3 positive axes, each a multiple of {div}")


def random_codes(grid: tuple[int, int, int], n: int = 1, seed: int = 0) -> np.ndarray:
    """Random 8-bit input volumes as float ``(n, 2, D, H, W)``: ``code / 256`` (exactly
    representable, so every level sees the same integers)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, 2, *grid)) / 256.0).astype(np.float32)


def output_scale(model: RegNet) -> float:
    """Scale of the DDF codes: ``ddf = codes * scale`` (a power of two)."""
    q = model.ddf_quant
    return float(q.act_quant.scale().detach())  # type: ignore[union-attr,operator]


@torch.no_grad()
def brevitas_codes(model: RegNet, x: np.ndarray) -> np.ndarray:
    """L1: the Brevitas model's integer DDF codes ``(B, 3, D', H', W')`` for input ``x``."""
    model.eval()
    out = model.core(torch.from_numpy(x)).numpy()
    return np.round(out / output_scale(model)).astype(np.int64)


def read_onnx(path: str | Path) -> Any:
    """A qonnx ModelWrapper of the ONNX file ``path``, or a UserError naming it (missing,
    truncated or not ONNX: a build folder damaged on disk)."""
    from qonnx.core.modelwrapper import ModelWrapper

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: not found")
    try:
        model = ModelWrapper(str(path))
    except Exception as exc:  # protobuf/onnx raise many types for a damaged file
        raise UserError(f"{path}: not a readable ONNX file, truncated or corrupt "
                        f"({type(exc).__name__})") from None
    if not model.graph.node or not model.graph.input or not model.graph.output:
        raise UserError(f"{path}: an empty or truncated ONNX graph")
    return model


def export_model(model: RegNet, grid: tuple[int, int, int], path: str | Path) -> Path:
    """Write ``model.core`` for input grid ``(D, H, W)`` as a QONNX file; returns the path."""
    check_exportable(model, grid)
    from brevitas.export import export_qonnx

    from hwreg.tool_messages import tool_messages

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    x = torch.from_numpy(random_codes(grid))
    with tool_messages():  # the exporter's progress lines and torchvision notes
        export_qonnx(CoreModule(model), x, export_path=str(path), verbose=False)
    return path


def qonnx_codes(path: str | Path, x: np.ndarray, scale: float) -> np.ndarray:
    """L2: execute the QONNX file on ``x`` (1, 2, D, H, W) -> integer DDF codes."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    m = ModelWrapper(str(path))
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    out = execute_onnx(m, {iname: x})[oname]
    return np.round(out / scale).astype(np.int64)


def check_export(model: RegNet, path: str | Path, x: np.ndarray) -> int:
    """Max abs difference of the integer DDF codes of the QONNX file and the Brevitas model on
    ``x`` (B, 2, D, H, W) (one batch item at a time). 0 means exact."""
    scale = output_scale(model)
    worst = 0
    for i in range(x.shape[0]):
        a = brevitas_codes(model, x[i:i + 1])
        b = qonnx_codes(path, x[i:i + 1], scale)
        worst = max(worst, int(np.abs(a - b).max()))
    return worst


def export_checked(model: RegNet, grid: tuple[int, int, int], path: str | Path,
                   n_check: int = 2) -> tuple[Path, int]:
    """Export and check on ``n_check`` random integer volumes; raises UserError on mismatch."""
    path = export_model(model, grid, path)
    diff = check_export(model, path, random_codes(grid, n_check, seed=1))
    if diff:
        raise UserError(f"{path}: QONNX execution differs from Brevitas by {diff} DDF codes")
    return path, diff


def export_temp(model: RegNet, grid: tuple[int, int, int]) -> Path:
    """Export to a fresh temporary file (callers own its deletion)."""
    tmp = Path(tempfile.mkdtemp(prefix="hwreg_export_")) / "model.onnx"
    return export_model(model, grid, tmp)
