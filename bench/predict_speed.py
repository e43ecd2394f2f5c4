"""Prediction speed: customers per second in batch, and one customer's latency once loaded.

Targets (issue 5): >= 1,000 customers/s for batch prediction (attngru on the CPU) and < 50 ms
for one customer once the model is loaded.

Each model is trained on the bundled sample (or taken from --run NAME=DIR), then:
- batch: N customers (the sample's test histories, repeated to reach N) written as JSON Lines
  (product ids, or names with --catalog) are streamed through the whole `basket predict` path
  (parse, resolve, score, choose, JSON out) into memory; customers/s excludes loading the
  model; the best of --rounds runs, since other jobs on a shared machine only slow it down;
- one customer: `Predictor.predict_batch([customer])` on one history, repeated; median and
  95th percentile in milliseconds.

The "load" column is the 1-minute load average when the model's runs ended.

    python bench/predict_speed.py [--models ptopfreq,tifuknn] [--customers 5000]
        [--set attngru.epochs=1] [--run attngru=runs/attngru] [--rounds 3]
        [--catalog products.csv] [--threads N]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

BATCH_TARGET = 1000.0  # customers per second
LATENCY_TARGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated (default: every built-in)")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=DIR",
                        help="use this trained run for NAME instead of training it")
    parser.add_argument("--set", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="a training setting of one model, e.g. attngru.epochs=1")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="batch runs per model (best)")
    parser.add_argument("--repeat", type=int, default=50, help="one-customer timings")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="write the customers' products as names from this products.csv")
    parser.add_argument("--threads", type=int, default=None, help="torch/BLAS threads")
    args = parser.parse_args()
    if args.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        import torch

        torch.set_num_threads(args.threads)

    from basketcli import registry
    from basketcli.render import new_table

    runs = dict(item.split("=", 1) for item in args.run)
    settings: dict[str, dict[str, str]] = {}
    for item in args.set:
        target, _, value = item.partition("=")
        model, _, key = target.partition(".")
        settings.setdefault(model, {})[key] = value
    names = (args.models.split(",") if args.models
             else [n for n in registry.list_models() if registry.get_entry(n).builtin])
    console = Console(width=max(Console().width, 130))  # the table is wider than 80 columns
    products = "product names" if args.catalog else "product ids"
    table = new_table(f"basket predict speed ({args.customers} customers as {products}, best of "
                      f"{args.rounds}, CPU, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} "
                      "at start)")
    for col in ("model", "load s", "customers/s", "per CPU s", "in score()",
                "1 customer ms (median)", "p95 ms", "targets", "load", "note"):
        table.add_column(col, justify="left" if col in ("model", "note", "targets") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        orders = write_customers(Path(tmp) / "customers.jsonl", args.customers, args.catalog)
        for name in names:
            console.print(f"[dim]{name}...[/]")
            table.add_row(*measure(name, runs.get(name), settings.get(name, {}), Path(tmp),
                                   orders, args.repeat, args.rounds, args.catalog))
    console.print(table)


def write_customers(path: Path, n: int, catalog: Path | None = None) -> Path:
    """N customers from the sample's test histories, as JSON Lines of product ids (names from
    ``catalog`` when given)."""
    from basketcli.data.catalog import read_catalog
    from basketcli.data.source import DataSpec
    from basketcli.workflows.steps import prepare

    _, split = prepare(DataSpec())
    history = split.test.history
    name_of = read_catalog(catalog).name_of if catalog else None
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            orders = history.product_ids_of(i % history.n_users)
            if name_of is not None:
                orders = [[name_of(pid) for pid in order] for order in orders]
            handle.write(json.dumps({"id": i, "orders": orders}) + "\n")
    return path


def measure(
    name: str, run: str | None, settings: dict[str, str], tmp: Path, orders: Path, repeat: int,
    rounds: int = 1, catalog: Path | None = None,
) -> list[str]:
    from basketcli import registry
    from basketcli.data.source import DataSpec
    from basketcli.errors import BasketError
    from basketcli.workflows.predict.inputs import CustomerOrders, iter_customers
    from basketcli.workflows.predict.predictor import load_predictor, write_json
    from basketcli.workflows.train import train

    try:
        registry.get_model_class(name)
        note = ""
        if run is None:
            started = time.perf_counter()
            run = str(tmp / name)
            train(name, DataSpec(), settings, Path(run))
            note = f"trained on the sample in {time.perf_counter() - started:.0f} s"
            if settings:
                note += " with " + ", ".join(f"{k}={v}" for k, v in settings.items())
        started = time.perf_counter()
        predictor = load_predictor(Path(run), catalog=catalog)
        load_seconds = time.perf_counter() - started
    except BasketError as exc:
        return [name, "-", "-", "-", "-", "-", "-", "-", "-", f"skipped: {exc.message}"]

    # Wall-clock rate, and the rate per CPU second of this process (less sensitive to other
    # jobs sharing the machine; above the wall rate when BLAS or torch use several threads).
    score_seconds = [0.0]
    score = predictor.model.score

    def timed_score(histories):
        started = time.perf_counter()
        try:
            return score(histories)
        finally:
            score_seconds[0] += time.perf_counter() - started

    predictor.model.score = timed_score  # the share of the time spent in the model itself
    runs = []
    gc.freeze()  # as `basket predict` does: loaded objects stay out of full collections
    for _ in range(max(rounds, 1)):
        score_seconds[0] = 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        count = write_json(predictor.predict(iter_customers(orders)), io.StringIO())
        seconds = time.perf_counter() - started
        runs.append((seconds, time.process_time() - cpu_started, score_seconds[0]))
    gc.unfreeze()
    predictor.model.score = score
    seconds, cpu_seconds, in_score = min(runs)
    rate = count / seconds
    cpu_rate = count / max(cpu_seconds, 1e-9)

    first = json.loads(orders.read_text(encoding="utf-8").split("\n", 1)[0])
    one = CustomerOrders(first["id"], first["orders"], "bench")
    predictor.predict_batch([one])  # warm-up
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        predictor.predict_batch([one])
        timings.append((time.perf_counter() - started) * 1000)
    median = statistics.median(timings)
    p95 = sorted(timings)[max(0, int(0.95 * len(timings)) - 1)]
    met = ("ok" if rate >= BATCH_TARGET else "SLOW batch") + ", " + (
        "ok" if median < LATENCY_TARGET_MS else "SLOW single")
    return [name, f"{load_seconds:.2f}", f"{rate:,.0f}", f"{cpu_rate:,.0f}",
            f"{in_score / seconds:.0%}", f"{median:.1f}", f"{p95:.1f}", met,
            f"{os.getloadavg()[0]:.1f}", note]


if __name__ == "__main__":
    main()
