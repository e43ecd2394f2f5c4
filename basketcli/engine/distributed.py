"""Training one torch model on several processes (``basket train --distributed`` under torchrun).

torchrun starts one process per GPU (or several on CPUs) and tells each its place in the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). ``process_group`` joins
them (nccl on CUDA, gloo on CPU); the trainer then asks ``ranks.Ranks`` what differs from a
single-process run:

- every rank trains on its shard of each epoch's shuffled example order (the order itself is a
  function of (seed, epoch), the same on every rank), shards padded to one length so that every
  rank takes the same number of steps;
- the network's calls in training go through ``DistributedDataParallel``, which averages the
  gradients, so every rank takes the same optimiser step and ends with the same weights;
- rank 0 alone reads and writes the run directory (checkpoints, best weights); what it read
  or decided reaches the other ranks by broadcast (``from_main``);
- validation runs on rank 0 alone, or, for models that ask for it, on every rank, each
  scoring its share of the customers (``gather_from_all`` joins their tallies).

Each rank's batch holds ``batch_size`` examples, so a step covers WORLD_SIZE x batch_size
examples and an epoch takes 1/WORLD_SIZE of the steps; the learning rate is not rescaled.

This module joins the ranks; what differs between them is basketcli.engine.ranks. Importing
it imports no torch (the CLI and the workflows import it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

from basketcli.errors import ConfigError
from basketcli.protocol import FitContext, silent_progress

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# Rank 0 validates while the others wait in a broadcast: allow for a long validation.
COLLECTIVE_TIMEOUT = timedelta(hours=2)
LAUNCH_HINT = ("launch it with torchrun, e.g. 'torchrun --nproc_per_node 2 --no-python basket "
               "train ... --distributed'")


def launch_rank() -> int:
    """This process's rank as torchrun set it (0 when not launched by torchrun)."""
    text = os.environ.get("RANK", "0").strip()
    return int(text) if text.isdigit() else 0


def launch_settings() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; a one-line error without."""
    missing = [name for name in LAUNCH_VARIABLES if not os.environ.get(name, "").strip()]
    if missing:
        raise ConfigError(f"--distributed: {', '.join(missing)} not set (torchrun sets them); "
                          + LAUNCH_HINT)
    try:
        rank, world, local = (int(os.environ[name]) for name in LAUNCH_VARIABLES[:3])
    except ValueError:
        raise ConfigError("--distributed: RANK, WORLD_SIZE and LOCAL_RANK must be integers; "
                          + LAUNCH_HINT) from None
    if not (0 <= rank < world and local >= 0):
        raise ConfigError(f"--distributed: RANK {rank} does not fit WORLD_SIZE {world}; "
                          + LAUNCH_HINT)
    return rank, world, local


def rank_device(requested: str | None, local_rank: int) -> str:
    """The device of one rank: its own GPU (cuda:LOCAL_RANK) for auto or cuda, else the CPU."""
    import torch

    from basketcli.engine.trainer import resolve_device

    device = resolve_device(requested)  # the same one-line errors as a single-process run
    if device.type != "cuda":
        return "cpu"
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"--distributed: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA "
            "device(s) on this machine; start at most one process per GPU (--nproc_per_node)"
        )
    return f"cuda:{local_rank}"


@contextmanager
def process_group(ctx: FitContext) -> Iterator[FitContext]:
    """Join the ranks torchrun started; yields ``ctx`` for this rank (its device; progress and
    log output only on rank 0). The group is left on exit."""
    rank, world, local = launch_settings()
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise ConfigError(f"--distributed: this torch ({torch.__version__}) was built without "
                          "torch.distributed; install a build with it")
    device = rank_device(ctx.device, local)
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
    try:
        quiet = {} if rank == 0 else {"progress": silent_progress, "log": _no_log}
        yield replace(ctx, device=device, distributed=True, **quiet)
    finally:
        dist.destroy_process_group()


def _no_log(message: str) -> None:
    pass
