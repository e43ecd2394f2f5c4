"""Text ids: the same data with integer ids and with every id turned into zero-padded text
must give the same metrics to the last digit, and predictions must carry the text ids.

Complete Journey's transactions are written twice as Parquet (household_id, basket_id,
product_id, transaction_timestamp): as they are, and with each id column as zero-padded text
(product 1095275 becomes "001095275"). Both are compared with `basket compare` (every model
asked for, references added; bootstrap seeded alike), metric by metric; then a run trained on
the text file predicts for a few customers given by their text ids.

    python bench/text_ids.py [--models ptopfreq,tifuknn,upcf,taiw,xgboost] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console

from basketcli.data.readers import complete_journey_path
from basketcli.data.source import DataSpec
from basketcli.render import new_table
from basketcli.workflows.evaluate import compare

WIDTHS = {"household_id": 6, "basket_id": 12, "product_id": 9}
COLUMNS = {"user_col": "household_id", "item_col": "product_id", "order_col": "basket_id",
           "time_col": "transaction_timestamp"}


def write_both(folder: Path) -> dict[str, Path]:
    import pandas as pd

    frame = pd.read_parquet(complete_journey_path("transactions"),
                            columns=[*WIDTHS, "transaction_timestamp"])
    paths = {"integer": folder / "cj-integer.parquet", "text": folder / "cj-text.parquet"}
    frame.to_parquet(paths["integer"], index=False)
    for column, width in WIDTHS.items():
        frame[column] = frame[column].astype("int64").astype(str).str.zfill(width)
    frame.to_parquet(paths["text"], index=False)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ptopfreq,tifuknn,upcf,taiw,gptopfreq,xgboost,stack",
                        help="comma-separated models (the references are always added)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_both(Path(tmp))
        results, seconds = {}, {}
        for kind, path in paths.items():
            started = time.perf_counter()
            results[kind] = compare(args.models.split(","), DataSpec(source=str(path), **COLUMNS))
            seconds[kind] = time.perf_counter() - started
            console.print(f"[dim]{kind} ids: {seconds[kind]:.0f} s[/]")
        first = results["integer"].models[0]
        keys = [k for k in first.metrics if not k.startswith("_")]
        table = new_table("Complete Journey, integer ids against zero-padded text ids (test)")
        for column in ("model", "recall@10 int", "recall@10 text", "ndcg@10 int", "ndcg@10 text",
                       "metrics equal", "intervals equal"):
            table.add_column(column, justify="left" if column == "model" else "right")
        rows, all_equal = [], True
        for a, b in zip(results["integer"].models, results["text"].models, strict=True):
            metrics_equal = all(a.metrics[k] == b.metrics[k] for k in keys)
            intervals_equal = a.intervals == b.intervals and a.versus == b.versus
            all_equal &= metrics_equal and intervals_equal
            table.add_row(a.name, f"{a.metrics['recall@10']:.4f}", f"{b.metrics['recall@10']:.4f}",
                          f"{a.metrics['ndcg@10']:.4f}", f"{b.metrics['ndcg@10']:.4f}",
                          f"{metrics_equal} ({len(keys)})", str(intervals_equal))
            rows.append({"model": a.name, "integer": a.metrics, "text": b.metrics,
                         "metrics_equal": metrics_equal, "intervals_equal": intervals_equal})
    console.print(table)
    console.print(f"every metric, interval and comparison equal to the last digit: {all_equal}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
