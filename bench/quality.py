"""Quality on every data shape: each model against the best reference, with 95% intervals.

Data sets: the bundled Instacart sample and Complete Journey, each as it is, without its day
information (order numbers only: written to a long CSV without days) and restricted to its 300
most frequent products. Every row is one model on one data set (test targets, `basket compare`
with the references added), its recall@10 and ndcg@10 with half their 95% bootstrap interval,
the paired difference from the best reference and its verdict, its repeat and explore recall,
and its fit time. With --tune every model is first tuned on the validation targets (--budget
per model). Nothing here chooses a setting: defaults are the models' own.

    python bench/quality.py [--data sample,completejourney] [--variants plain,nodays,top300]
        [--models xgboost,stack,cnngru,attngru] [--tune --budget 5m] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console

from basketcli.data.prepare import load_dataset
from basketcli.data.source import DataSpec
from basketcli.render import new_table, versus_text
from basketcli.workflows.evaluate import compare
from basketcli.workflows.tune import parse_budget

REFERENCES = ["gptopfreq", "upcf", "taiw"]  # besides G-/P-TopFreq and TIFU-KNN, always added


def without_days(source: str, folder: Path) -> str:
    """The data set as a long CSV of (user_id, order_number, product_id): no days."""
    data = load_dataset(DataSpec(source=source, min_orders=1)).data
    path = folder / f"{source}-nodays.csv"
    rank = data.order_rank() + 1
    with open(path, "w", encoding="utf-8") as out:
        out.write("user_id,order_number,product_id\n")
        line_order = data.line_order()
        users = data.user_ids[data.order_user()[line_order]]
        products = data.item_ids[data.items]
        for user, number, product in zip(users.tolist(), rank[line_order].tolist(),
                                         products.tolist(), strict=True):
            out.write(f"{user},{number},{product}\n")
    return str(path)


def spec_of(source: str, variant: str, folder: Path) -> DataSpec:
    if variant == "nodays":
        return DataSpec(source=without_days(source, folder))
    if variant == "top300":
        return DataSpec(source=source, top_items=300)
    return DataSpec(source=source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample,completejourney")
    parser.add_argument("--variants", default="plain,nodays,top300")
    parser.add_argument("--models", default="xgboost,stack")
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--budget", default="5m")
    parser.add_argument("--json", type=Path, default=None, help="also write every result")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 120))  # a report: one row per line
    table = new_table("quality on the test targets (recall@10, ndcg@10 ± half the 95% "
                      "interval; difference from the best reference, paired, Holm)")
    for column in ("data", "model", "recall@10", "ndcg@10", "Δ recall@10", "Δ ndcg@10",
                   "repeat", "explore", "fit s"):
        table.add_column(column, justify="left" if column in ("data", "model") else "right",
                         overflow="fold")
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for source in args.data.split(","):
            for variant in args.variants.split(","):
                started = time.perf_counter()
                spec = spec_of(source, variant, Path(scratch))
                result = compare([*REFERENCES, *args.models.split(",")], spec,
                                 tune_budget=parse_budget(args.budget) if args.tune else None)
                label = f"{source} {variant}"
                results[label] = result.model_dump()
                for m in result.models:
                    cells = []
                    for key in ("recall@10", "ndcg@10"):
                        low, high = m.intervals[key]
                        cells.append(f"{m.metrics[key]:.4f} ±{(high - low) / 2:.4f}")
                    versus = [versus_text(v, interval=False) if (v := m.versus.get(k))
                              else "best ref." for k in ("recall@10", "ndcg@10")]
                    table.add_row(label, m.name, *cells, *versus,
                                  f"{m.metrics['recall@10_repeat']:.4f}",
                                  f"{m.metrics['recall@10_explore']:.4f}",
                                  f"{m.fit_seconds or 0:.1f}")
                table.add_section()
                console.print(f"[dim]{label}: {time.perf_counter() - started:.0f} s[/]")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
