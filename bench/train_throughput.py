"""Training throughput of the neural models: examples per second and seconds per epoch.

    python bench/train_throughput.py                         # cnngru and attngru, bundled sample
    python bench/train_throughput.py --size full --models attngru   # full Instacart size
    python bench/train_throughput.py --set batch_size=16 --threads 1 --no-repeat-signal
    python bench/train_throughput.py --size full --ranks 2 --threads 1   # 2 DDP processes

An epoch is one pass over every training example (every order after a customer's first, up to
the validation target), full catalog, default settings unless --set says otherwise. Below the
full size the whole epoch is timed, followed by one scoring pass over the validation targets.
With --examples N (default at the full size: 60,000) only the first steps of a real epoch over
the whole data set are timed, about N examples' worth (the fit stops there), and the seconds of
the whole epoch are extrapolated from that rate (marked "~"). Times run from the start of the
fit, the network's set-up included. A short prefix reads fast on a machine whose load comes
and goes: a whole full-size epoch timed end to end (--examples above the epoch's size) ran
about 14% slower than its first 60,000 examples. Targets on the 2-core machine (issues 3 and
7): an epoch of the sample under 20 s, an attngru epoch at the full size under 20 minutes.
"cpu s" is the process CPU time of the fit (all threads); on a machine shared with other jobs
it is disturbed less than the wall-clock time.
With --ranks N the script starts itself under torchrun (N processes of --threads threads each,
gloo on CPUs, nccl on GPUs): every rank trains on its share of the timed examples with
DistributedDataParallel, as `basket train --distributed` does, the ranks share the scoring of
the validation targets, and rank 0 prints the table (its CPU time is one rank's). The device is
auto (a GPU when torch sees one), as for `basket train`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from contextlib import nullcontext, suppress
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sizes import SIZES, data_source, default_data_dir  # noqa: E402

from basketcli import registry  # noqa: E402
from basketcli.data.source import DataSpec  # noqa: E402
from basketcli.engine.batches import example_runs, sliding_examples  # noqa: E402
from basketcli.evaluation.scoring import evaluate_model  # noqa: E402
from basketcli.protocol import FitContext  # noqa: E402
from basketcli.workflows.steps import prepare  # noqa: E402

TARGET_SECONDS = {"sample": 20.0, "full": 20 * 60.0}
FULL_SIZE_EXAMPLES = 60_000


class StopTiming(Exception):
    """Raised by ``StepClock`` once the timed steps are done."""


class StepClock:
    """A progress display for ``FitContext`` that counts training steps and stops the fit after
    ``steps`` of them, noting the wall-clock and CPU seconds since ``start``."""

    def __init__(self, steps: int) -> None:
        self.steps, self.done = steps, 0
        self.started = self.cpu_started = self.seconds = self.cpu_seconds = 0.0

    def start(self) -> None:
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def __call__(self, description: str, total: int | None = None) -> StepClock:
        return self

    def __enter__(self) -> StepClock:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, steps: int = 1, **info: object) -> None:
        self.done += steps
        if self.done >= self.steps:
            self.stop()
            raise StopTiming

    def stop(self) -> None:
        """Note the time, once (a fit that ended before the timed steps stops it here)."""
        if not self.seconds:
            self.seconds = time.perf_counter() - self.started
            self.cpu_seconds = time.process_time() - self.cpu_started


def optimiser_steps(data, config, ranks: int = 1) -> int:
    """Steps of one epoch (per rank), as the neural models batch their examples (runs of
    customer_run)."""
    runs = len(example_runs(sliding_examples(data)[0], config.customer_run)) - 1
    runs_per_step = max(1, round(config.batch_size / config.customer_run))
    return math.ceil(math.ceil(runs / ranks) / runs_per_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="sample")
    parser.add_argument("--users", type=int, default=None, help="synthetic customers (overrides)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where synthetic folders are kept (default: the basket cache)")
    parser.add_argument("--models", default="cnngru,attngru")
    parser.add_argument("--examples", type=int, default=None,
                        help="time this many examples and extrapolate the epoch "
                             f"(default: the whole epoch, {FULL_SIZE_EXAMPLES:,} at full size)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: the cores, divided by --ranks)")
    parser.add_argument("--ranks", type=int, default=1,
                        help="data-parallel processes (DDP under torchrun, gloo)")
    parser.add_argument("--no-repeat-signal", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="extra model setting k=v")
    args = parser.parse_args()
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // args.ranks)
    if args.ranks > 1 and "RANK" not in os.environ:
        relaunch_under_torchrun(args.ranks, args.threads)

    source = data_source(args.size, args.users, args.data_dir or default_data_dir())
    dataset, split = prepare(DataSpec(source=source))
    n_examples = len(sliding_examples(split.train)[1])
    timed_examples = args.examples or (FULL_SIZE_EXAMPLES if args.size == "full" else None)
    partial = bool(timed_examples) and timed_examples < n_examples
    target = TARGET_SECONDS.get(args.size)

    processes = f"{args.ranks} ranks x {args.threads} threads" if args.ranks > 1 else (
        f"{args.threads} threads")
    table = Table(title=f"training throughput: {args.size} ({split.train.n_users:,} customers, "
                        f"{split.train.n_items:,} products, {n_examples:,} examples"
                        f"{f'; timed the first {timed_examples:,}' if partial else ''}), "
                        f"{processes}, {os.cpu_count()} cores")
    columns = ["model", "repeat", "batch", "run", "sampled", "steps", "examples/s", "s/epoch",
               "cpu s/epoch", "valid scoring s"]
    if target:
        columns.append(f"under {target:.0f} s")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    import torch

    # torch imports its compiler stack (seconds) when the first optimiser is built: keep that
    # out of the CPU time of the first model.
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    main_rank = os.environ.get("RANK", "0") == "0"
    # One process group for every model: a group re-created in the same processes can meet
    # the keys the previous one left in torchrun's store.
    with launched(FitContext(n_threads=args.threads), args.ranks) as ctx:
        for name in args.models.split(","):
            table.add_row(*time_model(name, args, ctx, split, n_examples, timed_examples,
                                      partial, target))
    if main_rank:
        Console(width=max(Console().width, 130)).print(table)


def time_model(name: str, args: argparse.Namespace, ctx: FitContext, split, n_examples: int,
               timed_examples: int | None, partial: bool, target: float | None) -> list[str]:
    """One model's row: its timed (share of an) epoch, then the validation scoring."""
    settings = dict(item.split("=", 1) for item in args.set)
    settings["epochs"] = "1"
    if args.no_repeat_signal:
        settings["repeat_signal"] = "false"
    model = registry.create_model(name, settings)
    cfg = model.config
    steps = optimiser_steps(split.train, cfg, args.ranks)
    clock = StepClock(math.ceil(steps * timed_examples / n_examples) if partial else steps)
    clock.start()
    # Every rank counts its own steps, so all of them stop at the same one.
    with suppress(StopTiming):
        model.fit(split.train, None, replace(ctx, progress=clock))
    clock.stop()
    scoring = "-"
    if not partial:  # the ranks share it, as in basket train --distributed
        started = time.perf_counter()
        evaluate_model(model, split.valid, across_ranks=True)
        scoring = f"{time.perf_counter() - started:.1f}"
    share = max(1, min(clock.done, steps)) / steps  # of the epoch, timed
    epoch, cpu = clock.seconds / share, clock.cpu_seconds / share
    rate = n_examples / epoch
    mark = "~" if partial else ""
    row = [name, "on" if cfg.repeat_signal else "off", str(cfg.batch_size),
           str(cfg.customer_run), str(cfg.sampled_negatives),
           f"{steps:,}", f"{rate:,.0f}",
           f"{mark}{epoch:,.1f}", f"{mark}{cpu:,.1f}", scoring]
    if target:
        row.append("yes" if epoch < target else "no")
    return row


def relaunch_under_torchrun(ranks: int, threads: int) -> None:
    """Run this very command as ``ranks`` processes of torchrun; exit with its status."""
    import subprocess

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={ranks}", *sys.argv]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    sys.exit(subprocess.run(command, env=environment, check=False).returncode)


def launched(ctx: FitContext, ranks: int):
    """The fit context: this rank's share of a process group under torchrun, else ``ctx``."""
    if ranks <= 1:
        return nullcontext(ctx)
    from basketcli.engine.distributed import process_group

    return process_group(ctx)


if __name__ == "__main__":
    main()
