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

Data-parallel: run under ``torchrun`` (``hwreg train --nproc N``), with ``ranks`` from
:func:`hwreg.distributed.torchrun_ranks`, every rank trains a ``DistributedDataParallel`` copy on
its share of each global batch of ``train.batch_size`` pairs (its own pair streams, decided by the
seed and the rank: :class:`hwreg.distributed.PairStreams`); the logged training loss is the mean
over ranks, rank 0 alone evaluates and writes, and a run resumes on any number of ranks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from hwreg import distributed
from hwreg.atomic import ensure_folder, write_json, write_text
from hwreg.checkpoint import (
    FORMAT,
    atomic_save,
    init_weights_from,
    load_state,
    read_model_file,
    restore_runtime_stats,
    runtime_stats,
    with_inference_form,
)
from hwreg.config import PairSource, to_dict
from hwreg.data.atlas_pairs import AtlasPairs
from hwreg.data.datasets import (
    Batch,
    Prepared,
    find_subjects,
    prepare_subject,
    sample_batches,
    split,
)
from hwreg.distributed import PairStreams, Ranks
from hwreg.errors import UserError
from hwreg.evaluate import evaluate_pairs
from hwreg.grow import grow_weights_from
from hwreg.losses import registration_loss
from hwreg.model import RegNet, build_model
from hwreg.run import RunConfig, load_run_config, pick_device


def prepare_split(cfg: RunConfig, progress: bool = True) -> tuple[list[Prepared], list[Prepared]]:
    """Load the dataset, split it, and put every subject on the model grid."""
    train_s, test_s = split(find_subjects(cfg.data), cfg.data)
    items = [*train_s, *test_s]
    prepared = [prepare_subject(s, cfg.data)
                for s in tqdm(items, desc="load subjects", disable=not progress, leave=False)]
    return prepared[: len(train_s)], prepared[len(train_s):]


def history_entry(step: int, result: dict[str, Any]) -> dict[str, Any]:
    """One ``metrics.json`` history row from an :func:`~hwreg.evaluate.evaluate_pairs` result."""
    return {"step": step, "dice_before": result["identity"]["dice_mean"],
            "dice": result["registered"]["dice_mean"], "dice_sd": result["registered"]["dice_sd"],
            "tre_before_mm": result["identity"]["tre_mm"], "tre_mm": result["registered"]["tre_mm"],
            "folding_percent": result["registered"]["folding_percent"], "pairs": result["pairs"]}


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
    with contextlib.suppress(UserError):  # not loadable: compared as written, refused below
        saved = to_dict(load_run_config(cfg_file))  # keys added since compare as defaults
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


def check_run(cfg: RunConfig, out: str | Path, force: bool = False, nproc: int = 1) -> None:
    """Refuse, before any process starts, what :func:`train` would refuse: a bad config, a
    global batch that ``nproc`` ranks cannot share, a foreign or mismatched run folder."""
    cfg.validate()
    if cfg.train.batch_size % nproc:
        raise UserError(f"train.batch_size {cfg.train.batch_size}: must be a multiple of the "
                        f"number of processes ({nproc})")
    _check_run_folder(cfg, Path(out), force)


def _batch_source(cfg: RunConfig, train_set: list[Prepared]) -> distributed.BatchSource:
    """``make(batch_size, rng)``: the endless minibatches of the run's pair source."""
    tc = cfg.train
    if cfg.data.source == PairSource.atlas:
        atlas = AtlasPairs(cfg.data.grid_shape, cfg.data.grid_spacing,
                           cfg.data.resolved_label_ids(), cfg.data.atlas)
        return lambda size, rng: atlas.batches(size, rng, tc.labels_per_pair)
    return lambda size, rng: sample_batches(train_set, size, rng, tc.labels_per_pair)


def _tensors(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(a).to(device) for a in
                 (batch.fixed_image, batch.moving_image, batch.fixed_label, batch.moving_label))


def train(cfg: RunConfig, out: str | Path, force: bool = False, progress: bool = True,
          after_step: Callable[[RegNet, int], None] | None = None,
          ranks: Ranks | None = None, streams: int | None = None,
          finish: Callable[[RegNet], dict[str, Any]] | None = None) -> Path:
    """Train (or resume) a run into ``out``; returns the path of ``model.pt``.

    ``after_step(model, step)``, if given, is called once before the first step (with the
    starting step) and after every optimizer step (e.g. :class:`hwreg.compress.Pruner`).
    ``finish(model)``, if given, runs on rank 0 once training ends, before ``model.pt`` is
    written (so ``model.pt`` still marks a finished run); the entries it returns join the
    run's metrics (e.g. ``hwreg prune``'s sparsity).
    ``ranks``: this process's place among torchrun's (default: the only one); every rank calls
    :func:`train` with the same arguments. ``streams``: the pair streams a fresh run draws its
    global batches from (default: one per rank; a one-process run with ``streams=2`` sees the
    batches of a 2-rank run); a resumed run keeps its own.
    """
    cfg.validate()
    ranks = ranks or Ranks()
    out = Path(out)
    resume = _check_run_folder(cfg, out, force)
    tc = cfg.train
    if resume is not None and "optimizer" not in resume and int(resume["step"]) == tc.steps:
        return out / "model.pt"  # a finished run: nothing to do (its checkpoint.pt is kept)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    device, joined = distributed.join(ranks, pick_device(tc.device))
    try:
        distributed.barrier(ranks)  # every rank has read the folder before rank 0 changes it
        return _train(cfg, out, resume, device, ranks, streams or ranks.world,
                      progress and ranks.main, after_step, finish)
    finally:
        distributed.leave(joined)


def _train(cfg: RunConfig, out: Path, resume: dict[str, Any] | None, device: torch.device,
           ranks: Ranks, streams: int, progress: bool,
           after_step: Callable[[RegNet, int], None] | None,
           finish: Callable[[RegNet], dict[str, Any]] | None = None) -> Path:
    """The training loop of :func:`train`, on this rank's ``device``."""
    tc = cfg.train
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model)
    model.train_cascade = tc.cascade
    if tc.init_from and resume is None and tc.init_grow:
        grown = grow_weights_from(model, tc.init_from)
        if progress:
            print(f"init_from {tc.init_from}, grown: {grown.summary()}")
    elif tc.init_from and resume is None:
        copied = init_weights_from(model, tc.init_from, partial=tc.init_partial)
        if tc.init_partial and progress:
            fresh = sorted({k.rsplit(".", 1)[0] for k, v in model.named_parameters()
                            if k.endswith(("weight", "bias")) and "quant" not in k
                            and k not in copied})
            print(f"init_from {tc.init_from}: {len(copied)} conv tensors copied; new: "
                  f"{', '.join(fresh) or 'none'}")
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr)
    step, history, losses = 0, [], []
    saved_rng = None
    if resume is not None:
        load_state(model, resume["state_dict"], out / "checkpoint.pt")
        restore_runtime_stats(model, resume.get("runtime_stats", {}), out / "checkpoint.pt")
        step = int(resume["step"])
        history = list(resume.get("metrics", {}).get("history", []))
        losses = list(resume.get("metrics", {}).get("train_loss", []))
        if "optimizer" in resume:
            optimizer.load_state_dict(resume["optimizer"])
            saved_rng = resume["rng"]
            torch.set_rng_state(resume["torch_rng"])
    ddp = distributed.wrap(model, ranks, device)
    train_set, test_set = prepare_split(cfg, progress)
    if ranks.main:  # every input is checked: only now is anything written (a refused run
        ensure_folder(out)  # leaves no file)
        if resume is None:  # a fresh start (or --force) never resumes an old run's files
            for stale in ("checkpoint.pt", "model.pt", "metrics.json", "train_time.json"):
                (out / stale).unlink(missing_ok=True)
        write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    label_ids = cfg.data.resolved_label_ids()
    batches = PairStreams(_batch_source(cfg, train_set), tc.batch_size, tc.seed, ranks, streams,
                          saved_rng, step)

    extra: dict[str, Any] = {}  # what ``finish`` adds to the metrics

    def metrics() -> dict[str, Any]:
        return {"history": history, "final": history[-1] if history else None,
                "train_subjects": [s.id for s in train_set],
                "test_subjects": [s.id for s in test_set], "train_loss": losses, **extra}

    def evaluate() -> None:
        if ranks.main:  # rank 0 alone evaluates (the others wait at their next all-reduce)
            result = evaluate_pairs(model, test_set, label_ids, tc.eval_pairs, device)
            history.append(history_entry(step, result))
            write_json(out / "metrics.json", metrics())

    def save(final: bool = False) -> None:
        states = batches.states(ranks)  # collective: every rank calls save
        if not ranks.main:
            return
        ckpt = model_dict(cfg, model, step, metrics())
        ckpt.update(optimizer=optimizer.state_dict(), rng=states,
                    torch_rng=torch.get_rng_state(), runtime_stats=runtime_stats(model))
        atomic_save(ckpt, out / "checkpoint.pt")
        if final:  # model.pt appears only when the run ends: it never holds an unfinished model
            atomic_save(with_inference_form(model_dict(cfg, model, step, metrics())),
                        out / "model.pt")

    if after_step is not None:
        after_step(model, step)
    model.train()
    bar = tqdm(total=tc.steps, initial=step, desc=f"train {cfg.model.name}",
               disable=not progress, dynamic_ncols=True)
    if batches.reseeded:
        bar.write(f"resumed on {ranks.world} ranks: {batches.count} pair streams re-seeded at "
                  f"step {step}")
    t0, stepping, first = time.perf_counter(), 0.0, step
    while step < tc.steps:
        ts = time.perf_counter()
        f, m, fl, ml = _tensors(next(batches), device)
        ddf = ddp(f, m)
        loss, parts = registration_loss(ddf, fl, ml, cfg.loss, f, m)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP: the gradients are averaged over ranks
        optimizer.step()
        step += 1
        if after_step is not None:
            after_step(model, step)
        mean_loss, dice_loss = distributed.average([float(loss.detach()), parts["dice_loss"]],
                                                   ranks)
        losses.append(mean_loss)
        stepping += time.perf_counter() - ts
        bar.update(1)
        bar.set_postfix(loss=f"{mean_loss:.4f}", dice=f"{1 - dice_loss:.3f}")
        if step % tc.eval_every == 0 or step == tc.steps:
            evaluate()
            if history:
                bar.write(f"step {step}: held-out Dice {history[-1]['dice']:.3f} "
                          f"(identity {history[-1]['dice_before']:.3f}), "
                          f"TRE {history[-1]['tre_mm']:.2f} mm")
        if step % tc.checkpoint_every == 0 and step < tc.steps:
            save()
    bar.close()
    if ranks.main and (not history or history[-1]["step"] != step):
        evaluate()
    seconds = time.perf_counter() - t0
    if ranks.main and (resume is None or "optimizer" in resume):
        write_json(out / "train_time.json", {
            "seconds": seconds, "device": str(device), "threads": torch.get_num_threads(),
            "ranks": ranks.world, "steps": step - first, "step_seconds": stepping,
            "pairs_per_s": (step - first) * tc.batch_size / max(stepping, 1e-9)}, indent=None)
    if finish is not None and ranks.main:
        extra.update(finish(model))
        write_json(out / "metrics.json", metrics())
    save(final=True)
    distributed.barrier(ranks)  # model.pt exists when train returns, on every rank
    return out / "model.pt"
