"""Training throughput of the neural models: examples per second and seconds per epoch.

    python bench/train_throughput.py                         # cnngru and attngru, bundled sample
    python bench/train_throughput.py --size full --models attngru   # full Instacart size
    python bench/train_throughput.py --set batch_size=16 --threads 1 --no-repeat-signal

An epoch is one pass over every training example (every order after a customer's first, up to
the validation target), full catalog, default settings unless --set says otherwise. Below the
full size the whole epoch is timed, followed by one scoring pass over the validation targets.
With --examples N (default at the full size: 60,000) the epoch is timed on random customers
holding about N examples, still against the full catalog, and the seconds of a whole epoch are
extrapolated from that rate (marked "~"). Targets on the 2-core machine (issues 3 and 7): an
epoch of the sample under 20 s, an attngru epoch at the full size under 20 minutes.
"cpu s" is the process CPU time of the fit (all threads); on a machine shared with other jobs
it is disturbed less than the wall-clock time.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sizes import SIZES, data_source, default_data_dir  # noqa: E402

from basketcli import workflows  # noqa: E402
from basketcli.data.source import DataSpec  # noqa: E402
from basketcli.engine.batches import example_runs, sliding_examples  # noqa: E402
from basketcli.evaluation import evaluate_model  # noqa: E402
from basketcli.protocol import FitContext  # noqa: E402

TARGET_SECONDS = {"sample": 20.0, "full": 20 * 60.0}
FULL_SIZE_EXAMPLES = 60_000


def subset_with_examples(train, n_examples: int, seed: int = 0):
    """Random customers of ``train`` holding about ``n_examples`` training examples."""
    per_user = np.maximum(train.orders_per_user() - 1, 0)
    order = np.random.default_rng(seed).permutation(train.n_users)
    chosen = order[: int(np.searchsorted(np.cumsum(per_user[order]), n_examples)) + 1]
    return train.select_users(np.sort(chosen))


def optimiser_steps(data, config) -> int:
    """Steps of one epoch, as the neural models batch their examples (runs of customer_run)."""
    runs = len(example_runs(sliding_examples(data)[0], config.customer_run)) - 1
    return math.ceil(runs / max(1, round(config.batch_size / config.customer_run)))


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
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-repeat-signal", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="extra model setting k=v")
    args = parser.parse_args()

    source = data_source(args.size, args.users, args.data_dir or default_data_dir())
    dataset, split = workflows.prepare(DataSpec(source=source))
    n_examples = len(sliding_examples(split.train)[1])
    timed_examples = args.examples or (FULL_SIZE_EXAMPLES if args.size == "full" else None)
    train = split.train
    if timed_examples and timed_examples < n_examples:
        train = subset_with_examples(split.train, timed_examples)
    timed = len(sliding_examples(train)[1])
    partial = timed < n_examples
    target = TARGET_SECONDS.get(args.size)

    table = Table(title=f"training throughput: {args.size} ({split.train.n_users:,} customers, "
                        f"{split.train.n_items:,} products, {n_examples:,} examples; timed "
                        f"{timed:,}), {args.threads} threads, {os.cpu_count()} cores")
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
    for name in args.models.split(","):
        settings = dict(item.split("=", 1) for item in args.set)
        settings["epochs"] = "1"
        if args.no_repeat_signal:
            settings["repeat_signal"] = "false"
        model = workflows.create_model(name, settings)
        cfg = model.config
        cpu_started = time.process_time()
        report = model.fit(train, None, FitContext(n_threads=args.threads))
        cpu = (time.process_time() - cpu_started) * n_examples / timed
        rate = timed / report.info["train_seconds"]
        epoch = n_examples / rate
        scoring = "-"
        if not partial:
            started = time.perf_counter()
            evaluate_model(model, split.valid)
            scoring = f"{time.perf_counter() - started:.1f}"
        mark = "~" if partial else ""
        row = [name, "on" if cfg.repeat_signal else "off", str(cfg.batch_size),
               str(cfg.customer_run), str(cfg.sampled_negatives),
               f"{mark}{optimiser_steps(split.train, cfg):,}", f"{rate:,.0f}",
               f"{mark}{epoch:,.1f}", f"{mark}{cpu:,.1f}", scoring]
        if target:
            row.append("yes" if epoch < target else "no")
        table.add_row(*row)
    Console(width=max(Console().width, 130)).print(table)


if __name__ == "__main__":
    main()
