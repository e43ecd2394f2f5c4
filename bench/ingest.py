"""Ingest speed: loading data into the cached CSR form, next to a bare pyarrow CSV read.

Targets (issue 7): at the full Instacart size, ingest (CSV -> BasketData, fingerprint, cache
written) in under 3x the time of a bare `pyarrow.csv.read_csv` of the same files in the same
run, with a peak memory under 6 GiB; later commands reuse the cache.

Each step runs in its own Python process, so its peak memory (ru_maxrss) is its own:
- bare read: `pyarrow.csv.read_csv` of every CSV file the loader reads (all columns);
- ingest: `load_dataset` with an empty cache folder (read, join, sort, deduplicate, index,
  catalog, fingerprint, cache write);
- cached: `load_dataset` again, from the cache.
The files are read once beforehand so that every step finds them in the page cache.

    python bench/ingest.py --size sample|small|full [--users N] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sizes import SIZES, data_source, default_data_dir, gib, peak_rss_bytes, run_child  # noqa: E402

RATIO_TARGET = 3.0
PEAK_TARGET_GIB = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--users", type=int, default=None, help="synthetic customers (overrides)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where synthetic folders are kept (default: the basket cache)")
    parser.add_argument("--worker", choices=["bare", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.source, args.cache)))
        return

    from rich.console import Console

    console = Console(width=max(Console().width, 110))  # the table is wider than 80 columns
    source = data_source(args.size, args.users, args.data_dir or default_data_dir())
    files = csv_files(source)
    for path in files:  # warm the page cache: every step reads from memory, not disk
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
    with tempfile.TemporaryDirectory(prefix="basket-bench-cache-") as cache:
        bare = worker("bare", source, cache)
        cold = worker("ingest", source, cache)
        warm = worker("ingest", source, cache)
    console.print(render(args.size, source, files, bare, cold, warm))


def csv_files(source: str) -> list[Path]:
    from basketcli.data.readers import source_files
    from basketcli.data.source import DataSpec

    return source_files(DataSpec(source=source))


def worker(kind: str, source: str, cache: str) -> dict:
    return run_child(__file__, ["--worker", kind, "--source", source, "--cache", cache],
                     f"{kind} step")


def run_worker(kind: str, source: str, cache: str) -> dict:
    os.environ["BASKET_CACHE_DIR"] = cache
    # Libraries are imported before the clock starts: the steps time work, not imports.
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import scipy.sparse  # noqa: F401
    if kind == "bare":
        import pyarrow.csv as pacsv

        started = time.perf_counter()
        rows = 0
        for path in csv_files(source):
            table = pacsv.read_csv(path)
            rows += table.num_rows
            del table
        return {"seconds": time.perf_counter() - started, "peak": peak_rss_bytes(), "rows": rows}
    from basketcli.data.prepare import load_dataset
    from basketcli.data.source import DataSpec

    started = time.perf_counter()
    dataset = load_dataset(DataSpec(source=source))
    data = dataset.data
    return {"seconds": time.perf_counter() - started, "peak": peak_rss_bytes(),
            "users": data.n_users, "orders": data.n_orders, "lines": data.n_lines,
            "products": data.n_items}


def render(size: str, source: str, files: list[Path], bare: dict, cold: dict, warm: dict):
    from basketcli.render import new_table

    megabytes = sum(p.stat().st_size for p in files) / 1e6
    table = new_table(f"ingest, size {size} ({os.cpu_count()} cores)")
    for col in ("step", "seconds", "x bare", "peak GiB", "target", "met"):
        table.add_column(col, justify="left" if col in ("step", "target", "met") else "right")
    base = bare["seconds"]
    table.add_row("bare pyarrow read_csv", f"{base:.2f}", "1.00", gib(bare["peak"]), "", "")
    ratio = cold["seconds"] / base
    met = ratio < RATIO_TARGET and cold["peak"] / (1 << 30) < PEAK_TARGET_GIB
    table.add_row("ingest, cold cache", f"{cold['seconds']:.2f}", f"{ratio:.2f}",
                  gib(cold["peak"]), f"< {RATIO_TARGET:g}x, < {PEAK_TARGET_GIB:g} GiB",
                  "yes" if met else "NO")
    table.add_row("load from cache", f"{warm['seconds']:.2f}", f"{warm['seconds'] / base:.2f}",
                  gib(warm["peak"]), "", "")
    table.caption = (
        f"{cold['users']:,} customers, {cold['orders']:,} orders, {cold['lines']:,} lines, "
        f"{cold['products']:,} products, {megabytes:,.0f} MB of CSV: {source}"
    )
    return table


if __name__ == "__main__":
    main()
