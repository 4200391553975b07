"""Data-parallel training plumbing: torchrun ranks, the process group, DDP and pair streams.

``torchrun --nproc-per-node N -m hwreg train ...`` starts N processes (ranks) and tells each its
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in the environment; :func:`torchrun_ranks` is the only
place that reads them. :func:`hwreg.train.train` joins the process group (gloo on the CPU, NCCL on
CUDA, rank ``r`` on ``cuda:LOCAL_RANK``), wraps the network in ``DistributedDataParallel`` (which
averages the gradients over ranks) and lets rank 0 alone write files. Every rank reads the run
folder (to resume): ranks on several machines need it on a shared file system.

Pair streams: the global batch of ``train.batch_size`` pairs is drawn from ``S`` streams of
``batch_size / S`` pairs each, stream ``k`` a numpy generator seeded by ``(seed, k)`` (stream 0
by ``seed`` alone, so a one-process run samples exactly as before). A run starts with one stream
per rank; rank ``r`` of ``W`` draws the streams ``r S/W .. (r+1) S/W - 1`` and concatenates
them. So every rank samples different pairs, decided by the seed and the rank, and a one-process
run with ``S = 2`` sees exactly the global batches of a 2-rank run. The checkpoint keeps every
stream's state; a run resumed on ``W'`` ranks keeps its streams when ``W'`` divides ``S`` (the
same batches, whatever the rank count), else it re-seeds ``W'`` streams from
``(seed, k, step)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from hwreg.data.datasets import Batch
from hwreg.errors import UserError


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world > 1


def torchrun_ranks() -> Ranks:
    """The ranks torchrun set in this process's environment (rank 0 of 1 without torchrun)."""
    env = os.environ
    if "WORLD_SIZE" not in env:
        return Ranks()
    return Ranks(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))


def torchrun_command(nproc: int, args: Sequence[str]) -> list[str]:
    """The command that runs ``hwreg ARGS`` in ``nproc`` torchrun processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(nproc), "-m", "hwreg", *args]


def join(ranks: Ranks, device: torch.device) -> tuple[torch.device, bool]:
    """Join the process group (gloo on the CPU, NCCL on CUDA) unless already in one; returns the
    device of this rank and whether this call joined (so the caller leaves it)."""
    if not ranks.distributed:
        return device, False
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return device, False
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            rank=ranks.rank, world_size=ranks.world)
    return device, True


def leave(joined: bool) -> None:
    """Leave the process group if :func:`join` joined it."""
    if joined and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` on several ranks (its gradients are averaged over
    ranks), the model itself on one."""
    if not ranks.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier(ranks: Ranks) -> None:
    """Wait for every rank."""
    if ranks.distributed:
        dist.barrier()


def average(values: Sequence[float], ranks: Ranks) -> list[float]:
    """The mean over ranks of each value (every rank gets the same)."""
    if not ranks.distributed:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)  # gloo has no AVG
    return (t / ranks.world).cpu().tolist()


def gather(obj: Any, ranks: Ranks) -> list[Any]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not ranks.distributed:
        return [obj]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out


def same_on_all(obj: Any, ranks: Ranks) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not ranks.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --- pair streams -------------------------------------------------------------------------------

def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A generator's state as a dict that ``torch.load(weights_only=True)`` reads back (numpy's
    PCG64 state holds 128-bit integers: stored as strings)."""
    state = rng.bit_generator.state
    return {"state": str(state["state"]["state"]), "inc": str(state["state"]["inc"]),
            "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}


def set_rng_state(rng: np.random.Generator, saved: dict[str, Any]) -> None:
    """Restore a state written by :func:`rng_state`."""
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": saved["has_uint32"], "uinteger": saved["uinteger"]}


def stream_rng(seed: int, stream: int, step: int | None = None) -> np.random.Generator:
    """Stream ``stream``'s generator: seeded by ``seed`` alone for stream 0 (the one-process
    stream), by ``(seed, stream)`` else, and by ``(seed, stream, step)`` when re-seeded at
    ``step``."""
    if step is not None:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, step)))
    if stream == 0:
        return np.random.default_rng(seed)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


def concat_batches(batches: Sequence[Batch]) -> Batch:
    """One batch of the pairs of several, in order."""
    if len(batches) == 1:
        return batches[0]
    return Batch(*(np.concatenate([getattr(b, f) for b in batches])
                   for f in ("fixed_image", "moving_image", "fixed_label", "moving_label",
                             "label_index")))


#: ``make(batch_size, rng)``: an endless iterator of batches drawn from ``rng``.
BatchSource = Callable[[int, np.random.Generator], Iterator[Batch]]


class PairStreams:
    """The streams of one rank: its share of every global batch (see the module docstring).

    ``saved``: the states of all streams from a checkpoint (one dict per stream, or one dict:
    an older one-stream checkpoint); ``None`` starts ``streams`` fresh streams.
    """

    def __init__(self, make: BatchSource, batch_size: int, seed: int, ranks: Ranks,
                 streams: int, saved: list[dict[str, Any]] | dict[str, Any] | None = None,
                 step: int = 0) -> None:
        if batch_size % ranks.world:
            raise UserError(f"train.batch_size {batch_size}: must be a multiple of the number "
                            f"of ranks ({ranks.world})")
        if isinstance(saved, dict):
            saved = [saved]
        reseed = saved is not None and len(saved) % ranks.world != 0
        if saved is not None and not reseed:
            streams = len(saved)
        elif reseed:
            streams = ranks.world
        if streams % ranks.world:
            raise UserError(f"{streams} pair streams cannot be shared by {ranks.world} ranks")
        if batch_size % streams:
            raise UserError(f"train.batch_size {batch_size}: must be a multiple of the number "
                            f"of pair streams ({streams})")
        #: Streams of the global batch; whether they were re-seeded at ``step``.
        self.count, self.reseeded = streams, reseed
        per_rank = streams // ranks.world
        self.owned = list(range(ranks.rank * per_rank, (ranks.rank + 1) * per_rank))
        self.rngs = {k: stream_rng(seed, k, step if reseed else None) for k in self.owned}
        if saved is not None and not reseed:
            for k in self.owned:
                set_rng_state(self.rngs[k], saved[k])
        self.iters = [make(batch_size // streams, self.rngs[k]) for k in self.owned]

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        return concat_batches([next(it) for it in self.iters])

    def local_states(self) -> dict[int, dict[str, Any]]:
        """The states of this rank's streams, by stream."""
        return {k: rng_state(r) for k, r in self.rngs.items()}

    def states(self, ranks: Ranks) -> list[dict[str, Any]]:
        """Every stream's state, in stream order (a collective call: every rank calls it)."""
        merged: dict[int, dict[str, Any]] = {}
        for part in gather(self.local_states(), ranks):
            merged.update(part)
        return [merged[k] for k in range(self.count)]
