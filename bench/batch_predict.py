"""Batch recommendations: every customer's next basket, with names and reasons, into Parquet.

Goal (issue 31), at the full Instacart size (synthetic, 206,209 customers, 49,688 products;
2 cores): `tifuknn` and `xgboost` runs write every customer's top 10 with names and reasons in
under 5 minutes each within 4 GiB; the TopFreq family above 2,000 customers/s.

Each model is trained once into --runs (reused when there; xgboost with --xgboost-settings,
cheaper than its defaults: the prediction's speed does not depend on how long it was trained),
then `basket predict --run R --data D --output recs.parquet --top-k 10` runs in its own process,
timed as a whole (loading the data and the run, the population's statistics, scoring, reasons,
writing) with its peak memory (ru_maxrss of the child).

    python bench/batch_predict.py --size sample|small|full [--models ptopfreq,tifuknn,xgboost]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sizes import SIZES, data_source, default_data_dir, gib  # noqa: E402

from basketcli.render import new_table  # noqa: E402

GOALS = {"ptopfreq": "> 2,000 customers/s", "gtopfreq": "> 2,000 customers/s",
         "gptopfreq": "> 2,000 customers/s", "tifuknn": "< 300 s, < 4 GiB",
         "xgboost": "< 300 s, < 4 GiB"}
XGBOOST_SETTINGS = ["train_targets=1", "n_estimators=100"]


# A child that runs `basket ARGS` as its own child and reports that one's peak memory: the
# peak of the children of a process is the largest so far, so each measure needs a new parent.
MEASURED = ("import resource, subprocess, sys\n"
            "done = subprocess.run(['basket', *sys.argv[1:]])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(done.returncode)\n")


def basket(*args: str) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run `basket ARGS` in a child; (seconds, its peak memory in bytes, result)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURED, *args], capture_output=True,
                          text=True, check=False, env={**os.environ, "COLUMNS": "200"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"basket {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    lines = done.stderr.strip().splitlines()
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux
    done.stderr = "\n".join(lines[:-1])
    return seconds, int(lines[-1]) * scale, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="sample")
    parser.add_argument("--users", type=int, help="synthetic customers instead of --size's")
    parser.add_argument("--models", default="ptopfreq,tifuknn,xgboost")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--runs", type=Path, help="where the runs are kept (default: beside "
                        "the data)")
    args = parser.parse_args()
    source = data_source(args.size, args.users, args.data_dir)
    runs = args.runs or args.data_dir / f"runs-{Path(source).name}"
    table = new_table(f"basket predict --data {args.size}: every customer's top 10 with names "
                      "and reasons into Parquet")
    for column in ("model", "train s", "customers", "rows", "predict s", "customers/s",
                   "peak GiB", "goal"):
        table.add_column(column, justify="left" if column in ("model", "goal") else "right")
    for model in args.models.split(","):
        run = runs / model
        train_seconds = 0.0
        if not (run / "basket.json").is_file():
            settings = [f"--set={s}" for s in XGBOOST_SETTINGS] if model == "xgboost" else []
            train_seconds, _, _ = basket("train", "--model", model, "--data", source, "--out",
                                         str(run), "--force", *settings)
        out = runs / f"{model}-recs.parquet"
        seconds, peak, done = basket("predict", "--run", str(run), "--data", source,
                                     "--output", str(out), "--top-k", "10")
        import pyarrow.parquet as pq

        written = pq.ParquetFile(out).metadata
        customers = pq.read_table(out, columns=["customer"]).column(0).unique()
        table.add_row(model, f"{train_seconds:.0f}" if train_seconds else "reused",
                      f"{len(customers):,}", f"{written.num_rows:,}", f"{seconds:.1f}",
                      f"{len(customers) / seconds:,.0f}", gib(peak), GOALS.get(model, ""))
        print(done.stderr.strip().splitlines()[-1], file=sys.stderr)
    from rich.console import Console

    Console().print(table)


if __name__ == "__main__":
    main()
