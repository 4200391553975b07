"""``hwreg average``: the uniform weight average of models fine-tuned from one starting point.

Models trained from the same weights with different data orders or loss weights stay in one
basin of the loss, and the mean of their weights ("model soup", Wortsman et al. 2022; stochastic
weight averaging when the models are checkpoints of one run) generalises better than each of
them, at no cost in hardware: the average has the same architecture, bit widths and folding.
The average is taken over the float shadow weights and the learned quantizer scales; the
quantized model then rounds the averaged weights as usual.

The models must share the architecture (``model`` config) and the model grid; pruned models are
refused (their masks differ, so an average would not be sparse: average first, then prune). The
result is a run folder like ``hwreg train``'s: ``model.pt`` (written last; its config and step
are the first model's), ``config.yaml``, ``metrics.json`` with the held-out evaluation, and
``average`` in ``model.pt`` naming the sources and their steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from hwreg.atomic import ensure_folder, require_absent, write_json, write_text
from hwreg.checkpoint import (
    atomic_save,
    load_state,
    read_model_file,
    resolve_model,
    with_inference_form,
)
from hwreg.config import require_data_root, to_dict
from hwreg.errors import UserError
from hwreg.evaluate import evaluate_pairs
from hwreg.model import RegNet, build_model
from hwreg.run import RunConfig
from hwreg.train import history_entry, model_dict, prepare_split


def average_state(states: list[dict[str, torch.Tensor]], names: list[str]
                  ) -> dict[str, torch.Tensor]:
    """The mean of floating-point tensors (in float64, cast back); other tensors must agree."""
    keys = list(states[0])
    for state, name in zip(states[1:], names[1:], strict=True):
        if list(state) != keys:
            raise UserError(f"{name}: its weights are not those of {names[0]} (other keys)")
    out = {}
    for key in keys:
        first = states[0][key]
        if first.is_floating_point():
            mean = sum(s[key].double() for s in states) / len(states)
            out[key] = mean.to(first.dtype)  # type: ignore[union-attr]
        else:
            bad = next((n for s, n in zip(states, names, strict=True)
                        if not torch.equal(s[key], first)), None)
            if bad is not None:
                raise UserError(f"{bad}: integer tensor '{key}' differs from {names[0]}'s")
            out[key] = first.clone()
    return out


def _sources(refs: list[str | Path]) -> tuple[list[dict[str, Any]], RunConfig]:
    """The model files of ``refs``, checked to share one architecture and grid."""
    from hwreg.checkpoint import model_from_checkpoint

    if len(refs) < 2:
        raise UserError("--models: name at least two models to average")
    ckpts, cfgs = [], []
    for ref in refs:
        path = resolve_model(ref)
        ckpt = read_model_file(path)
        _, cfg = model_from_checkpoint(ckpt, path)
        if cfg.prune is not None:
            raise UserError(f"{ref}: a pruned model (average the dense models, then prune)")
        ckpts.append(ckpt)
        cfgs.append(cfg)
    for ref, cfg in zip(refs[1:], cfgs[1:], strict=True):
        if to_dict(cfg.model) != to_dict(cfgs[0].model):
            raise UserError(f"{ref}: another architecture or bit width than {refs[0]}")
        if (tuple(cfg.data.grid_shape), cfg.data.grid_spacing) != (
                tuple(cfgs[0].data.grid_shape), cfgs[0].data.grid_spacing):
            raise UserError(f"{ref}: another model grid than {refs[0]}")
    return ckpts, cfgs[0]


def average_models(refs: list[str | Path], out: str | Path, force: bool = False,
                   data: Path | None = None, eval_pairs: int | None = None,
                   progress: bool = True) -> Path:
    """Average ``refs`` (names, files or run folders) into the run folder ``out``; evaluate the
    average on the held-out pairs; return the path of ``out/model.pt``."""
    out = Path(out)
    ckpts, cfg = _sources(refs)
    names = [str(r) for r in refs]
    require_absent([out / "model.pt"], force)
    state = average_state([c["state_dict"] for c in ckpts], names)
    model: RegNet = build_model(cfg.model)
    load_state(model, state, out / "model.pt")
    model.eval()
    cfg.data.root = require_data_root(cfg.data.root, data)
    _, test_set = prepare_split(cfg, progress)
    result = evaluate_pairs(model, test_set, cfg.data.resolved_label_ids(),
                            eval_pairs or cfg.train.eval_pairs, "cpu")
    steps = [int(c["step"]) for c in ckpts]
    entry = history_entry(steps[0], result)
    average = {"sources": names, "steps": steps}
    metrics = {"history": [entry], "final": entry, "average": average}
    ensure_folder(out)
    write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    write_json(out / "metrics.json", metrics)
    ckpt = model_dict(cfg, model, steps[0], metrics)
    ckpt["average"] = average
    atomic_save(with_inference_form(ckpt), out / "model.pt")  # last: a finished folder
    return out / "model.pt"
