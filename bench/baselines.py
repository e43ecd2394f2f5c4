"""Reference baselines at scale: P-TopFreq, TIFU-KNN, UP-CF@r and TAIW fit and score every
customer, full catalog.

Targets (issues 7 and 21): at the full Instacart size (206,209 customers, 49,688 products) each
model fits and scores all customers in under 5 minutes with a peak memory under 8 GiB.

Each model runs in its own Python process (its peak memory, ru_maxrss, is its own), on data
already in the cache (bench/ingest.py times the ingest): load the cached data and split, `fit`
on the training baskets, then `prepare_scoring` and `score` on the test histories of every
customer in batches of 512, as `basket evaluate` does. With --metrics (default at the sample and
small sizes) the scores also go through the evaluation protocol (evaluate_model), whose metric
time is reported apart.

    python bench/baselines.py --size sample|small|full [--models ptopfreq,tifuknn,upcf,taiw]
        [--metrics]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sizes import SIZES, data_source, default_data_dir, gib, peak_rss_bytes, run_child  # noqa: E402

SECONDS_TARGET = 300.0
PEAK_TARGET_GIB = 8.0
BATCH = 512  # customers per scoring batch, as evaluate_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--models", default="ptopfreq,tifuknn,upcf,taiw")
    parser.add_argument("--users", type=int, default=None, help="synthetic customers (overrides)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where synthetic folders are kept (default: the basket cache)")
    parser.add_argument("--metrics", action=argparse.BooleanOptionalAction, default=None,
                        help="also compute the metrics (default: yes below the full size)")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.KEY=VALUE",
                        help="a model setting, e.g. tifuknn.candidates=4096")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    metrics = args.metrics if args.metrics is not None else args.size != "full"
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.source, metrics, settings(args.set))))
        return

    from rich.console import Console

    console = Console(width=max(Console().width, 110))  # the table is wider than 80 columns
    source = data_source(args.size, args.users, args.data_dir or default_data_dir())
    warm_cache(source)
    rows = []
    for name in args.models.split(","):
        console.print(f"[dim]{name}...[/]")
        rows.append(worker(name, source, metrics, args.set))
    console.print(render(args.size, source, rows))


def settings(items: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, _, value = item.partition("=")
        model, _, field = key.partition(".")
        out.setdefault(model, {})[field] = value
    return out


def warm_cache(source: str) -> None:
    """Build the cached arrays once, outside the timed steps."""
    from basketcli.data.prepare import load_baskets
    from basketcli.data.source import DataSpec

    load_baskets(DataSpec(source=source))


def worker(name: str, source: str, metrics: bool, sets: list[str]) -> dict:
    args = ["--worker", name, "--source", source, "--metrics" if metrics else "--no-metrics"]
    return run_child(__file__, [*args, *(a for item in sets for a in ("--set", item))], name)


def run_worker(name: str, source: str, metrics: bool, sets: dict[str, dict[str, str]]) -> dict:
    import numpy as np

    from basketcli.data.source import DataSpec
    from basketcli.evaluation.scoring import evaluate_model
    from basketcli.protocol import FitContext
    from basketcli.registry import create_model
    from basketcli.workflows.steps import prepare

    started = time.perf_counter()
    _, split = prepare(DataSpec(source=source))
    load_seconds = time.perf_counter() - started
    model = create_model(name, sets.get(name, {}))
    started = time.perf_counter()
    model.fit(split.train, split.valid, FitContext())
    fit_seconds = time.perf_counter() - started
    history = split.test.history
    started = time.perf_counter()
    model.prepare_scoring(history)
    for start in range(0, history.n_users, BATCH):
        users = np.arange(start, min(start + BATCH, history.n_users))
        model.score(history.select_users(users))
    score_seconds = time.perf_counter() - started
    row = {"model": name, "users": history.n_users, "products": history.n_items,
           "load": load_seconds, "fit": fit_seconds, "score": score_seconds,
           "peak": peak_rss_bytes()}
    if metrics:
        started = time.perf_counter()
        result = evaluate_model(model, split.test)[0]
        row["evaluate"] = time.perf_counter() - started
        row["recall@10"] = result.metrics["recall@10"]
        row["ndcg@10"] = result.metrics["ndcg@10"]
        row["peak"] = peak_rss_bytes()
    return row


def render(size: str, source: str, rows: list[dict]):
    from basketcli.render import new_table

    table = new_table(f"baselines, size {size} ({os.cpu_count()} cores)")
    columns = ("model", "fit s", "score s", "total s", "peak GiB", "met", "eval s",
               "recall@10", "ndcg@10")
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "met") else "right")
    for row in rows:
        total = row["fit"] + row["score"]
        met = total < SECONDS_TARGET and row["peak"] / (1 << 30) < PEAK_TARGET_GIB
        table.add_row(
            row["model"], f"{row['fit']:.1f}", f"{row['score']:.1f}", f"{total:.1f}",
            gib(row["peak"]), "yes" if met else "NO",
            f"{row['evaluate']:.1f}" if "evaluate" in row else "-",
            f"{row['recall@10']:.4f}" if "recall@10" in row else "-",
            f"{row['ndcg@10']:.4f}" if "ndcg@10" in row else "-",
        )
    first = rows[0]
    table.caption = (
        f"target: fit + score < {SECONDS_TARGET:g} s and peak < {PEAK_TARGET_GIB:g} GiB; "
        f"eval s: the metrics on top of the scores. {first['users']:,} customers, "
        f"{first['products']:,} products (cached data loaded in {first['load']:.1f} s): {source}"
    )
    return table


if __name__ == "__main__":
    main()
