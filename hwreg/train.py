"""Label-driven training: ``hwreg train --config CFG --out RUN``.

Minibatches of random (fixed, moving) training pairs, one random shared label per pair; the DDF
warps the moving label and the loss is the multi-scale Dice against the fixed label plus a
smoothness penalty (:mod:`hwreg.losses`); inference needs no labels. Adam, periodic held-out
evaluation, CUDA when available.

The run folder holds ``config.yaml``, ``model.pt`` (config + weights + metrics, loadable with
``torch.load(weights_only=True)``), ``metrics.json`` and ``checkpoint.pt`` (optimizer and random
states; kept when the run ends). Files are written atomically. A run killed at any moment resumes
from its last checkpoint with the same command. Raising ``train.steps`` (and nothing else) extends
a run, finished or not, exactly as if it had been started with the larger count (the learning
rate is constant); any other change of config in an existing run folder is refused unless
``force``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from hwreg.atomic import ensure_folder, write_json, write_text
from hwreg.checkpoint import (
    FORMAT,
    atomic_save,
    init_weights_from,
    load_state,
    read_model_file,
)
from hwreg.config import PairSource, to_dict
from hwreg.data.atlas_pairs import AtlasPairs
from hwreg.data.datasets import Prepared, find_subjects, prepare_subject, sample_batches, split
from hwreg.errors import UserError
from hwreg.evaluate import evaluate_pairs
from hwreg.losses import registration_loss
from hwreg.model import RegNet, build_model
from hwreg.run import RunConfig, pick_device


def prepare_split(cfg: RunConfig, progress: bool = True) -> tuple[list[Prepared], list[Prepared]]:
    """Load the dataset, split it, and put every subject on the model grid."""
    train_s, test_s = split(find_subjects(cfg.data), cfg.data)
    items = [*train_s, *test_s]
    prepared = [prepare_subject(s, cfg.data)
                for s in tqdm(items, desc="load subjects", disable=not progress, leave=False)]
    return prepared[: len(train_s)], prepared[len(train_s):]


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    # numpy's PCG64 state holds 128-bit ints: store them as strings for weights_only loading
    state = rng.bit_generator.state
    return {"state": str(state["state"]["state"]), "inc": str(state["state"]["inc"]),
            "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}


def _set_rng_state(rng: np.random.Generator, saved: dict[str, Any]) -> None:
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": saved["has_uint32"], "uinteger": saved["uinteger"]}


def model_dict(cfg: RunConfig, model: RegNet, step: int, metrics: dict[str, Any]) -> dict:
    """The ``model.pt`` dict (no optimizer state)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # loads without CUDA
    return {"format": FORMAT, "config": to_dict(cfg), "state_dict": state,
            "step": step, "metrics": metrics}


def _only_steps_differ(saved: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when two config dicts differ in ``train.steps`` alone."""
    a, b = dict(saved), dict(wanted)
    a["train"], b["train"] = dict(a.get("train") or {}), dict(b.get("train") or {})
    a["train"].pop("steps", None)
    b["train"].pop("steps", None)
    return a == b


def _check_run_folder(cfg: RunConfig, out: Path, force: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from, None for a fresh start; refuses a foreign run folder."""
    cfg_file, ckpt_file, model_file = out / "config.yaml", out / "checkpoint.pt", out / "model.pt"
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if force or not out.exists():
        return None
    if not cfg_file.exists():
        if any(out.iterdir()):
            raise UserError(f"{out}: exists and is not a run folder; pass --force to use it")
        return None
    try:
        saved = yaml.safe_load(cfg_file.read_text())
    except (yaml.YAMLError, ValueError, OSError):
        raise UserError(f"{cfg_file}: not a readable run config; pass --force to start "
                        "over") from None
    wanted = to_dict(cfg)
    if saved != wanted:
        if not (isinstance(saved, dict) and _only_steps_differ(saved, wanted)):
            raise UserError(f"{cfg_file}: this run was started with a different config; pass "
                            "--force to start over or use another --out")
        done = read_model_file(ckpt_file if ckpt_file.exists() else model_file)["step"] \
            if ckpt_file.exists() or model_file.exists() else 0
        if done > cfg.train.steps:
            raise UserError(f"{cfg_file}: the run is at step {done}, beyond train.steps "
                            f"{cfg.train.steps}; pass --force to start over")
        if model_file.exists() and not ckpt_file.exists():
            raise UserError(f"{model_file}: this finished run kept no checkpoint.pt (optimizer "
                            "state), so it cannot be extended; start a new run with init_from")
    if model_file.exists():
        finished = read_model_file(model_file)
        if int(finished["step"]) == cfg.train.steps and saved == wanted:
            return finished  # finished run: nothing left to do
    if ckpt_file.exists():
        return read_model_file(ckpt_file)
    return None


def train(cfg: RunConfig, out: str | Path, force: bool = False, progress: bool = True,
          after_step: Callable[[RegNet, int], None] | None = None) -> Path:
    """Train (or resume) a run into ``out``; returns the path of ``model.pt``.

    ``after_step(model, step)``, if given, is called once before the first step (with the
    starting step) and after every optimizer step (e.g. :class:`hwreg.compress.Pruner`).
    """
    cfg.validate()
    out = Path(out)
    resume = _check_run_folder(cfg, out, force)
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    device = pick_device(tc.device)
    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)
    model = build_model(cfg.model)
    if tc.init_from and resume is None:
        init_weights_from(model, tc.init_from)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr)
    step, history = 0, []
    if resume is not None:
        load_state(model, resume["state_dict"], out / "checkpoint.pt")
        step = int(resume["step"])
        history = list(resume.get("metrics", {}).get("history", []))
        if "optimizer" in resume:
            optimizer.load_state_dict(resume["optimizer"])
            _set_rng_state(rng, resume["rng"])
            torch.set_rng_state(resume["torch_rng"])
    train_set, test_set = prepare_split(cfg, progress)
    # every input is checked: only now is anything written (a refused run leaves no file)
    ensure_folder(out)
    if resume is None:  # a fresh start (or --force) never resumes an old run's files
        for stale in ("checkpoint.pt", "model.pt", "metrics.json", "train_time.json"):
            (out / stale).unlink(missing_ok=True)
    write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    label_ids = cfg.data.resolved_label_ids()
    if cfg.data.source == PairSource.atlas:
        batches = AtlasPairs(cfg.data.grid_shape, cfg.data.grid_spacing, label_ids,
                             cfg.data.atlas).batches(tc.batch_size, rng, tc.labels_per_pair)
    else:
        batches = sample_batches(train_set, tc.batch_size, rng, tc.labels_per_pair)

    def metrics() -> dict[str, Any]:
        return {"history": history, "final": history[-1] if history else None,
                "train_subjects": [s.id for s in train_set],
                "test_subjects": [s.id for s in test_set]}

    def evaluate() -> None:
        result = evaluate_pairs(model, test_set, label_ids, tc.eval_pairs, device)
        history.append({"step": step, "dice_before": result["identity"]["dice_mean"],
                        "dice": result["registered"]["dice_mean"],
                        "dice_sd": result["registered"]["dice_sd"],
                        "tre_before_mm": result["identity"]["tre_mm"],
                        "tre_mm": result["registered"]["tre_mm"],
                        "folding_percent": result["registered"]["folding_percent"],
                        "pairs": result["pairs"]})
        write_json(out / "metrics.json", metrics())

    def save(final: bool = False) -> None:
        ckpt = model_dict(cfg, model, step, metrics())
        ckpt.update(optimizer=optimizer.state_dict(), rng=_rng_state(rng),
                    torch_rng=torch.get_rng_state())
        atomic_save(ckpt, out / "checkpoint.pt")
        if final:  # model.pt appears only when the run ends: it never holds an unfinished model
            atomic_save(model_dict(cfg, model, step, metrics()), out / "model.pt")

    if after_step is not None:
        after_step(model, step)
    model.train()
    bar = tqdm(total=tc.steps, initial=step, desc=f"train {cfg.model.name}",
               disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()
    while step < tc.steps:
        batch = next(batches)
        f, m, fl, ml = (torch.from_numpy(a).to(device) for a in
                        (batch.fixed_image, batch.moving_image, batch.fixed_label,
                         batch.moving_label))
        ddf = model(f, m)
        loss, parts = registration_loss(ddf, fl, ml, cfg.loss, f, m)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if after_step is not None:
            after_step(model, step)
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.detach()):.4f}", dice=f"{1 - parts['dice_loss']:.3f}")
        if step % tc.eval_every == 0 or step == tc.steps:
            evaluate()
            bar.write(f"step {step}: held-out Dice {history[-1]['dice']:.3f} "
                      f"(identity {history[-1]['dice_before']:.3f}), "
                      f"TRE {history[-1]['tre_mm']:.2f} mm")
        if step % tc.checkpoint_every == 0 and step < tc.steps:
            save()
    bar.close()
    if not history or history[-1]["step"] != step:
        evaluate()
    seconds = time.perf_counter() - t0
    if resume is None or "optimizer" in resume:
        write_json(out / "train_time.json", {"seconds": seconds, "device": str(device),
                                             "threads": torch.get_num_threads()}, indent=None)
    save(final=True)
    return out / "model.pt"
