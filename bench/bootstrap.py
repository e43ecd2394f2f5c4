"""Cost of the 95% intervals and paired comparisons of `basket compare`.

1. Scale: per-customer metrics of 10 models for 200,000 customers (random values in [0, 1],
   the NaN pattern of repeat/explore recall, f1_micro's counts), 1,000 resamples: the whole
   uncertainty step (intervals of every metric, comparisons with the best reference), timed.
   Target: under 30 s on the 2-core machine.
2. Share of a real run: `basket compare` on the bundled sample (default models: every installed
   one), the uncertainty step timed inside it, against the rest of the run. Target: under 10%.

    python bench/bootstrap.py [--customers 200000] [--models 10] [--resamples 1000]
        [--compare-models NAME,...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console

from basketcli.evaluation.metrics import METRIC_KEYS
from basketcli.render import new_table
from basketcli.workflows import evaluate as workflow


def synthetic_rows(n_customers: int, n_models: int, seed: int = 0) -> list:
    """Rows with per-customer metrics as the evaluation gives them."""
    rng = np.random.default_rng(seed)
    keys = [k for k in METRIC_KEYS if k not in ("f1_micro", "f1_macro")]
    no_repeat = rng.random(n_customers) < 0.1
    rows = []
    for m in range(n_models):
        per_user = {k: rng.random(n_customers) for k in keys}
        per_user["recall@10_repeat"][no_repeat] = np.nan
        per_user["recall@10_explore"][~no_repeat & (rng.random(n_customers) < 0.5)] = np.nan
        per_user.update({"_tp": rng.integers(0, 5, n_customers).astype(float),
                         "_fp": rng.integers(0, 5, n_customers).astype(float),
                         "_fn": rng.integers(0, 5, n_customers).astype(float)})
        metrics = {k: float(np.nanmean(per_user[k])) for k in keys}
        metrics["f1_micro"] = 0.5
        row = workflow.ModelResult(name=f"model{m}", source=f"model{m}", reference=m < 3,
                                   metrics=metrics, sizing="top-10", score_seconds=0.0)
        rows.append(workflow._Scored(row, per_user))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--compare-models", default=None,
                        help="models of the sample run (default: every installed model)")
    args = parser.parse_args()

    rows = synthetic_rows(args.customers, args.models)
    started = time.perf_counter()
    workflow.add_uncertainty(rows, args.resamples, seed=0, against=None)
    scale_seconds = time.perf_counter() - started

    from basketcli import registry
    from basketcli.data.source import DataSpec

    spent = [0.0]
    real = workflow.add_uncertainty

    def timed(*a, **k):
        begun = time.perf_counter()
        real(*a, **k)
        spent[0] += time.perf_counter() - begun

    workflow.add_uncertainty = timed
    models = (args.compare_models.split(",") if args.compare_models
              else registry.list_models())
    started = time.perf_counter()
    workflow.compare(models, DataSpec(), bootstrap=args.resamples)
    total = time.perf_counter() - started

    table = new_table(f"bootstrap: {args.resamples:,} resamples")
    for column in ("workload", "seconds", "target", "met"):
        table.add_column(column, justify="left" if column in ("workload", "target") else "right")
    table.add_row(f"{args.models} models x {args.customers:,} customers, every metric",
                  f"{scale_seconds:.1f}", "< 30 s", "yes" if scale_seconds < 30 else "no")
    share = spent[0] / max(total - spent[0], 1e-9)
    table.add_row(f"compare on the sample ({len(models)} models): intervals and comparisons",
                  f"{spent[0]:.2f} of {total:.1f}", "< 10% added",
                  f"{share:.1%} added" if share < 0.10 else f"no ({share:.1%})")
    Console().print(table)


if __name__ == "__main__":
    main()
