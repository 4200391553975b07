"""Checks of a user's folding JSON (FINN ``ApplyConfig`` format) before a build applies it.

:func:`read_folding_file` needs no graph and runs before a build starts: the file is readable
UTF-8 JSON, a mapping of node name -> mapping of attributes, with known folding attributes
(:data:`~hwreg.compile.folding.FOLD_ATTRS`) and PE/SIMD positive integers.
:func:`check_folding` then checks it against the hardware graph: every node exists, each
attribute belongs to that node's op type, and PE/SIMD are legal (they divide the channels, or
are a SIMD the sliding window supports). FINN's ``ApplyConfig`` only warns about an unknown
node and accepts any value; here each fault is a one-line UserError naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwreg.errors import UserError

#: Every attribute a folding file may set (union over op types), besides ``Defaults``.
_KNOWN = {"PE", "SIMD", "ram_style"}
_RAM_STYLES = {"auto", "block", "distributed", "ultra"}


def read_folding_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """The folding file's node entries (``Defaults`` left out), checked for structure and
    value types; a fault is a UserError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: folding config not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a folding JSON file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (binary data?), expected JSON") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except (OSError, RecursionError) as exc:
        raise UserError(f"{path}: cannot read the folding config ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of node name -> attributes, got "
                        f"{type(data).__name__}")
    nodes = {k: v for k, v in data.items() if k != "Defaults"}
    if not nodes:
        raise UserError(f"{path}: no node entries (an empty folding config)")
    for name, attrs in nodes.items():
        if not isinstance(attrs, dict):
            raise UserError(f"{path}: node '{name}': expected a mapping of attributes, got "
                            f"{attrs!r}")
        for key, value in attrs.items():
            if key not in _KNOWN:
                raise UserError(f"{path}: node '{name}': unknown attribute '{key}' (folding "
                                f"attributes: {', '.join(sorted(_KNOWN))})")
            if key in ("PE", "SIMD") and (isinstance(value, bool) or not isinstance(value, int)
                                          or value < 1):
                raise UserError(f"{path}: node '{name}': {key} must be an integer >= 1, got "
                                f"{value!r}")
            if key == "ram_style" and value not in _RAM_STYLES:
                raise UserError(f"{path}: node '{name}': ram_style {value!r} is not one of "
                                f"{', '.join(sorted(_RAM_STYLES))}")
    return nodes


def _legal(model: Any, node: Any, key: str) -> list[int]:
    """Legal values of PE or SIMD for ``node`` (as the automatic folding chooses them)."""
    from qonnx.custom_op.registry import getCustomOp

    from hwreg.compile.ops.common import divisors

    inst = getCustomOp(node)
    if node.op_type == "MVAU":
        return divisors(int(inst.get_nodeattr("MW" if key == "SIMD" else "MH")))
    if node.op_type == "ConvolutionInputGenerator3D_hwreg":
        return list(inst.legal_simd())
    return divisors(int(inst.get_normal_output_shape()[-1]))


def check_folding(model: Any, path: str | Path) -> None:
    """Refuse a folding file that does not fit the hardware graph ``model`` (a qonnx
    ModelWrapper): unknown nodes, attributes of another op type, illegal PE/SIMD."""
    from hwreg.compile.folding import FOLD_ATTRS

    nodes = read_folding_file(path)
    by_name = {n.name: n for n in model.graph.node}
    for name, attrs in nodes.items():
        node = by_name.get(name)
        if node is None:
            raise UserError(f"{path}: no node '{name}' in the graph (nodes: "
                            f"{', '.join(list(by_name)[:6])}, ...)")
        allowed = FOLD_ATTRS.get(node.op_type, ())
        for key, value in attrs.items():
            if key not in allowed:
                raise UserError(f"{path}: node '{name}' ({node.op_type}) has no folding "
                                f"attribute '{key}' (it has: {', '.join(allowed) or 'none'})")
            if key in ("PE", "SIMD"):
                legal = _legal(model, node, key)
                if value not in legal:
                    raise UserError(f"{path}: node '{name}': {key}={value} is not legal "
                                    f"(legal: {', '.join(str(v) for v in legal)})")
