"""XGBoost fit time and peak memory on the bundled sample (or any --data).

Targets: the default fit on the sample well under a minute on 2 cores (issue 4); at the full
Instacart size (206,209 customers: `basket data synth --users 206209 --out DIR`) under 60
minutes within 10 GiB (issue 22). Measured 2026-12-04 on 2 cores at the full size: 1,787 s,
peak 5.5 GiB (24.2 M training rows: train_targets="auto" picks 2; six built 61 M rows and
passed 10 GiB before the first 25 rounds were done).

Memory is the process's resident set size: sampled every 5 ms during the fit (which is where
XGBoost's native allocations live; tracemalloc would miss them), plus the whole process's peak
(``ru_maxrss``, which also covers loading the data).

    python bench/xgboost_fit.py [--data sample] [--threads 2] [--repeat 1] [--set key=value ...]
    python bench/xgboost_fit.py --data SYNTH_FOLDER --log-every 10  # scale (basket data synth)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

TARGET_SECONDS = 60.0  # the sample
FULL_SIZE_CUSTOMERS = 206_209  # the full Instacart size, and its targets:
FULL_SIZE_SECONDS, FULL_SIZE_BYTES = 3600.0, 10 * 2**30
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class PeakRss:
    """Samples the resident set size in a background thread while the block runs."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


class RoundLog:
    """A progress factory that writes a line to stderr every ``every`` steps (long runs)."""

    def __init__(self, every: int) -> None:
        self.every, self.steps, self.started = every, 0, time.perf_counter()

    def __call__(self, description: str, total: int | None = None) -> RoundLog:
        self.description, self.total, self.steps = description, total, 0
        return self

    def advance(self, steps: int = 1, **info: object) -> None:
        self.steps += steps
        if self.every and self.steps % self.every == 0:
            extra = " ".join(f"{k}={v:.5f}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in info.items())
            print(f"{time.perf_counter() - self.started:8.1f}s {self.description} "
                  f"{self.steps}/{self.total} {extra} rss={mib(rss_bytes())}", file=sys.stderr)

    def __enter__(self) -> RoundLog:
        print(f"{time.perf_counter() - self.started:8.1f}s {self.description} started "
              f"rss={mib(rss_bytes())}", file=sys.stderr)
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def target_row(customers: int, seconds: float, peak_bytes: int) -> tuple[str, str]:
    """The target of this size (the full Instacart size's, or else the sample's) and whether
    the fit met it."""
    if customers >= FULL_SIZE_CUSTOMERS:
        name = f"target: fit < {FULL_SIZE_SECONDS / 60:.0f} min within 10 GiB"
        met = seconds < FULL_SIZE_SECONDS and peak_bytes < FULL_SIZE_BYTES
    else:
        name, met = f"target: fit < {TARGET_SECONDS:.0f} s", seconds < TARGET_SECONDS
    return name, "[green]met[/]" if met else "[red]missed[/]"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample", help="'sample', a folder or a file")
    parser.add_argument("--catalog", type=Path, default=None, help="products.csv (aisles)")
    parser.add_argument("--threads", type=int, default=2, help="XGBoost threads")
    parser.add_argument("--repeat", type=int, default=1, help="fits to time (median shown)")
    parser.add_argument("--log-every", type=int, default=0, metavar="N",
                        help="write a line to stderr every N boosting rounds (long runs)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="xgboost setting (repeatable)")
    args = parser.parse_args()

    from basketcli import registry
    from basketcli.cli.options import data_spec
    from basketcli.cli.parsing import parse_assignments
    from basketcli.protocol import FitContext
    from basketcli.render import new_table
    from basketcli.workflows.steps import prepare

    spec = data_spec(args.data, args.catalog, 1, None)
    dataset, split = prepare(spec)
    settings = {"n_threads": args.threads, **parse_assignments(args.sets)}
    rss_before = rss_bytes()
    walls, cpus, peaks, report = [], [], [], None
    for _ in range(args.repeat):
        model = registry.create_model("xgboost", settings)
        ctx = FitContext(catalog=dataset.catalog, n_threads=args.threads)
        if args.log_every:
            ctx.progress = RoundLog(args.log_every)
            ctx.log = lambda message: print(message, file=sys.stderr)
        with PeakRss() as peak:
            wall, cpu = time.perf_counter(), time.process_time()
            report = model.fit(split.train, split.valid, ctx)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        peaks.append(peak.peak)
    info = report.info
    fit_seconds = statistics.median(walls)

    table = new_table(f"xgboost fit on {dataset.spec.describe()} ({args.threads} threads)")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("customers", f"{split.train.n_users:,}"),
        ("training rows", f"{info['train_rows']:,} ({info['train_positive_rate']:.3f} positive)"),
        ("validation rows", f"{info['valid_rows']:,}"),
        ("features", str(len(info["features"]))),
        ("rounds (best / run)", f"{info['best_round']} / {info['rounds']}"),
        ("fit seconds (wall, median)", f"{fit_seconds:.2f}"),
        ("fit seconds (CPU, median)", f"{statistics.median(cpus):.2f}"),
        ("RSS before fit", mib(rss_before)),
        ("peak RSS during fit", mib(max(peaks))),
        ("peak RSS added by fit", mib(max(peaks) - rss_before)),
        ("process peak RSS (incl. loading)",
         mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)),
        target_row(split.train.n_users, fit_seconds, max(peaks)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


if __name__ == "__main__":
    main()
