"""The inference form of a quantized :class:`~hwreg.model.RegNet`: plain tensors, run without
Brevitas, bit for bit equal to the Brevitas model.

Brevitas' fake quantisation costs seconds of import and a Python-heavy forward per call; the
registration host path (``hwreg register``) needs neither. :func:`freeze` reads a quantized
network once (with Brevitas) into a plain dict that ``torch.load(weights_only=True)`` accepts:

- ``convs``: per conv (``enc{l}``, ``down{l}``, ``up{l}``, ``dec{l}``, ``head``) the quantized
  weight exactly as Brevitas uses it (``quant_weight().value``: integer codes times the weight
  scale, float32), the float bias and the stride;
- ``quants``: per activation quantizer (``input``, ``act{l}``, ``down_act{l}``, ``dec_act{l}``,
  ``ddf``) the scale tensor Brevitas multiplies by, the zero point and the integer range;
- ``model``: the :class:`~hwreg.model_config.ModelConfig` as a dict (the topology: levels,
  skips, head level, cascade, scaling and squaring), and ``fingerprint``: a hash of the
  ``state_dict`` it was read from, so a model file whose weights changed since is never run
  with a stale form.

:class:`InferenceNet` replays Brevitas' arithmetic op for op with the same torch ops and dtypes:
``conv3d`` of the dequantised values with the float bias, ``relu``, then per quantizer
``x / scale + zero_point``, ``round``, the two-sided ``where`` clamp, ``- zero_point``,
``* scale`` (Brevitas' ``IntQuant``), nearest x2 upsampling and additive skips. Its DDF equals
the Brevitas model's with ``torch.equal`` (``tests/test_inference.py``). This module imports
neither Brevitas nor :mod:`hwreg.model` (check: ``python -X importtime``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hwreg.config import from_dict
from hwreg.errors import UserError
from hwreg.model_config import HostPasses, ModelConfig, Preset, coarse_levels

if TYPE_CHECKING:  # only freeze() touches a Brevitas network, through its attributes
    from hwreg.model import RegNet

#: ``format`` of an inference form (the ``inference`` key of a quantized ``model.pt``).
FORM_FORMAT = "hwreg-inference-1"
#: The key of a model file dict that holds the inference form.
FORM_KEY = "inference"


def fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state_dict's names, dtypes, shapes and bytes (order independent)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _int_range(bits: int, signed: bool, narrow: bool) -> tuple[float, float]:
    """Brevitas' ``min_int``/``max_int`` for a bit width."""
    if signed:
        return float(-(2 ** (bits - 1)) + int(narrow)), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1 - int(narrow))


def _quant(proxy: Any) -> dict[str, Any]:
    """An activation quantizer proxy (Brevitas ``act_quant``) -> its plain parameters."""
    bits = int(proxy.bit_width())
    lo, hi = _int_range(bits, bool(proxy.is_signed), bool(proxy.is_narrow_range))
    return {"scale": proxy.scale().detach().float().clone(),
            "zero_point": proxy.zero_point().detach().float().clone(),
            "bits": bits, "signed": bool(proxy.is_signed), "min": lo, "max": hi}


def _model_dict(cfg: ModelConfig) -> dict[str, Any]:
    """A ModelConfig as plain types (loadable with ``weights_only``)."""
    out = dataclasses.asdict(cfg)
    out["preset"] = str(Preset(cfg.preset).value)
    return out


@torch.no_grad()
def freeze(model: RegNet, state_fingerprint: str) -> dict[str, Any]:
    """The inference form of a quantized network in eval mode (module docstring).

    ``state_fingerprint``: :func:`fingerprint` of the state_dict ``model`` was loaded from.
    Raises ValueError for a float model (it has no quantizers to replay)."""
    cfg = model.cfg
    if not cfg.quantized:
        raise ValueError("freeze: a float model has no inference form (use the network itself)")
    if model.training:
        raise ValueError("freeze: the model must be in eval mode (learned scales)")
    convs: dict[str, dict[str, Any]] = {}

    def conv(name: str, module: Any) -> None:
        convs[name] = {"weight": module.quant_weight().value.detach().float().clone(),
                       "bias": module.bias.detach().float().clone(),
                       "stride": int(module.stride[0])}

    quants: dict[str, dict[str, Any]] = {"input": _quant(model.input_quant.act_quant),
                                         "ddf": _quant(model.ddf_quant.act_quant)}
    for lvl in map(str, range(len(cfg.resolved_channels()))):
        conv(f"enc{lvl}", model.enc[lvl])
        quants[f"act{lvl}"] = _quant(model.act[lvl].act_quant)
        if lvl in model.down:
            conv(f"down{lvl}", model.down[lvl][0])
            quants[f"down_act{lvl}"] = _quant(model.down[lvl][1].act_quant)
        if lvl in model.up:
            conv(f"up{lvl}", model.up[lvl])
            conv(f"dec{lvl}", model.dec[lvl])
            quants[f"dec_act{lvl}"] = _quant(model.dec_act[lvl].act_quant)
    conv("head", model.head)
    for lvl, head in model.coarse_heads.items():
        conv(f"head{lvl}", head)
    return {"format": FORM_FORMAT, "model": _model_dict(cfg), "fingerprint": state_fingerprint,
            "convs": convs, "quants": quants}


def form_fits(form: Any, cfg: ModelConfig, state_dict: Any) -> bool:
    """True if ``form`` is an inference form made from exactly this config and state_dict (a
    config field added since the form was written counts at its default)."""
    if not (isinstance(form, dict) and form.get("format") == FORM_FORMAT
            and isinstance(state_dict, dict)):
        return False
    try:
        saved = from_dict(ModelConfig, form.get("model"))
    except UserError:  # not a config this version knows
        return False
    return saved == cfg and form.get("fingerprint") == fingerprint(state_dict)


class InferenceNet(HostPasses, nn.Module):
    """A quantized RegNet run from its inference form, without Brevitas: same ``core``,
    ``forward`` (``fixed``, ``moving`` (B, 1, D, H, W) in [0, 1] -> DDF (B, 3, D, H, W), voxels,
    fixed -> moving), ``single_pass`` and ``epilogue`` as :class:`~hwreg.model.RegNet`. The
    form's tensors are buffers (``<conv>.weight``, ``<quant>.scale``, ...), so ``.to(device)``
    moves them."""

    def __init__(self, form: dict[str, Any], cfg: ModelConfig) -> None:
        super().__init__()
        if not isinstance(form, dict) or form.get("format") != FORM_FORMAT:
            raise UserError(f"inference form: format {FORM_FORMAT} expected")
        self.cfg = cfg
        self.strides = {k: int(v["stride"]) for k, v in form["convs"].items()}
        for name, c in form["convs"].items():
            self.register_buffer(f"{name}_weight", c["weight"])
            self.register_buffer(f"{name}_bias", c["bias"])
        #: each quantizer's integer range as Python numbers: a scalar clamp (the same values as
        #: Brevitas' two ``torch.where`` with 0-dim tensors, in less time: in demo-w4a4's 24
        #: passes the clamps took 51 ms of CPU, now under 12 ms)
        self.bounds = {name: (float(q["min"]), float(q["max"])) for name, q in
                       form["quants"].items()}
        for name, q in form["quants"].items():
            self.register_buffer(f"{name}_scale", q["scale"])
            self.register_buffer(f"{name}_zero_point", q["zero_point"])
        self.train(False)  # inference only: cascade and flips apply in eval mode

    def _quant(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Brevitas ``IntQuant.forward`` with quantizer ``name``'s parameters, op for op (in place
        after the first op: the same IEEE operations, without a new tensor per op)."""
        scale = getattr(self, f"{name}_scale")
        zero_point = getattr(self, f"{name}_zero_point")
        y = x / scale
        y.add_(zero_point).round_()
        # brevitas tensor_clamp (two torch.where): the same values as clamp, NaN included
        y.clamp_(*self.bounds[name])
        return y.sub_(zero_point).mul_(scale)

    def _conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Brevitas ``QuantConv3d``: conv3d of the dequantised weight with the float bias."""
        return functional.conv3d(x, getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias"),
                                 self.strides[name], 1)

    def _conv_act(self, name: str, x: torch.Tensor, act: str) -> torch.Tensor:
        return self._quant(act, torch.relu_(self._conv(name, x)))

    def core(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2, D, H, W)`` -> the dequantised DDF at ``head_level`` (``RegNet.core``)."""
        levels = len(self.cfg.resolved_channels())
        x = self._quant("input", x)
        skips = []
        for lvl in range(levels):
            x = self._conv_act(f"enc{lvl}", x, f"act{lvl}")
            skips.append(x)
            if lvl + 1 < levels:
                x = self._conv_act(f"down{lvl}", x, f"down_act{lvl}")
        ddf = self._summed(None, levels - 1, x)
        for lvl in range(levels - 2, self.cfg.head_level - 1, -1):
            x = _up(x)
            x = self._conv_act(f"up{lvl}", x, f"act{lvl}")
            if self.cfg.has_skip(lvl):
                x = x + skips[lvl]
            x = self._conv_act(f"dec{lvl}", x, f"dec_act{lvl}")
            ddf = self._summed(ddf, lvl, x)
        out = self._quant("ddf", self._conv("head", x))
        return out if ddf is None else self._quant("ddf", out + _up(ddf))

    def _summed(self, ddf: torch.Tensor | None, lvl: int, x: torch.Tensor
                ) -> torch.Tensor | None:
        """``RegNet._coarse_ddf``: the summed DDF after level ``lvl`` (``model.ddf_levels``)."""
        if lvl not in coarse_levels(self.cfg):
            return ddf
        own = self._quant("ddf", self._conv(f"head{lvl}", x))
        return own if ddf is None else self._quant("ddf", own + _up(ddf))


def _up(x: torch.Tensor) -> torch.Tensor:
    return functional.interpolate(x, scale_factor=2.0, mode="nearest")  # as nn.Upsample


def require_finite(array: np.ndarray, what: str) -> None:
    """Refuse a non-finite result (NaN/Inf weights or inputs): it is never written as one."""
    bad = int(np.size(array) - np.isfinite(array).sum())
    if bad:
        raise UserError(f"{what} has {bad} NaN/Inf values (broken weights?); nothing written")


@torch.no_grad()
def predict_ddf(model: nn.Module, fixed: np.ndarray, moving: np.ndarray,
                device: torch.device | str = "cpu") -> np.ndarray:
    """The DDF ``(3, D, H, W)`` (voxels, fixed -> moving) for two model-grid images (D, H, W);
    a non-finite DDF (NaN/Inf weights) is refused with a UserError."""
    f = torch.from_numpy(np.ascontiguousarray(fixed, np.float32))[None, None].to(device)
    m = torch.from_numpy(np.ascontiguousarray(moving, np.float32))[None, None].to(device)
    ddf = model(f, m)[0].float().cpu().numpy()
    require_finite(ddf, "the model's DDF")
    return ddf
