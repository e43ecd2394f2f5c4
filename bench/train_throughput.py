"""Training throughput of the neural models: examples per second and seconds per epoch.

    python bench/train_throughput.py                      # cnngru and attngru, bundled sample
    python bench/train_throughput.py --threads 1 --no-repeat-signal

One epoch over every training example of the data (full catalog, default settings), then one
scoring pass over the validation targets. Target on the 2-core machine: an epoch of the
bundled sample in under 20 s. "cpu s/epoch" is the process CPU time of the fit (all threads),
which other jobs on a shared machine disturb less than the wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import time

from rich.console import Console
from rich.table import Table

from basketcli import workflows
from basketcli.data.source import DataSpec
from basketcli.engine.batches import sliding_examples
from basketcli.evaluation import evaluate_model
from basketcli.protocol import FitContext

TARGET_SECONDS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnngru,attngru")
    parser.add_argument("--data", default="sample")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-repeat-signal", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="extra model setting k=v")
    args = parser.parse_args()

    dataset, split = workflows.prepare(DataSpec(source=args.data))
    n_examples = len(sliding_examples(split.train)[1])
    table = Table(title=f"training throughput: {args.data}, {split.train.n_items} products, "
                        f"{n_examples} examples, {args.threads} threads")
    for column in ("model", "repeat signal", "batch", "steps", "examples/s", "s/epoch",
                   "cpu s/epoch", "validation scoring s", "under 20 s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name in args.models.split(","):
        settings = dict(item.split("=", 1) for item in args.set)
        settings.update(epochs="1", repeat_signal=str(not args.no_repeat_signal))
        model = workflows.create_model(name, settings)
        ctx = FitContext(n_threads=args.threads)
        cpu_started = time.process_time()
        report = model.fit(split.train, None, ctx)
        cpu = time.process_time() - cpu_started
        seconds = report.info["train_seconds"]
        started = time.perf_counter()
        evaluate_model(model, split.valid)
        scoring = time.perf_counter() - started
        batch = model.config.batch_size
        table.add_row(
            name, "on" if model.config.repeat_signal else "off", str(batch),
            str(-(-n_examples // batch)), f"{n_examples / seconds:.0f}", f"{seconds:.1f}",
            f"{cpu:.1f}", f"{scoring:.1f}", "yes" if seconds < TARGET_SECONDS else "no",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
