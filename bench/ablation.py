"""What each part of the learned models adds: xgboost's defaults against one part changed.

Each row is a `basket train` of xgboost (or stack) with one setting changed, tested with
`basket compare` against the defaults' run (paired bootstrap on the test targets, Holm over the
rows of a data set). Settings are never chosen here; the rows only take a part away or add one:

- defaults
- part 1 off: without the repurchase-timing features (``exclude_features``)
- part 2, ranking off: the binary (log-loss) objective instead of rank:pairwise
- part 2, neighbours on: TIFU-KNN's scores as features and 10 explore candidates per customer
- part 3 off: one training target per customer instead of ``auto``
- part 4: the stack over xgboost, TIFU-KNN, UP-CF@r and TAIW (it falls back to its best input)

    python bench/ablation.py [--data sample,completejourney] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from basketcli.data.source import DataSpec
from basketcli.render import new_table, versus_text
from basketcli.workflows.evaluate import compare
from basketcli.workflows.train import train
from basketcli_models.xgboost.features import REPURCHASE_TIMING

ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "defaults": ("xgboost", {}),
    "1 off: no repurchase timing": ("xgboost", {"exclude_features": list(REPURCHASE_TIMING)}),
    "2 off: binary objective": ("xgboost", {"objective": "binary"}),
    "2 on: neighbours, explore 10": ("xgboost", {"neighbours": ["tifuknn"],
                                                 "explore_candidates": 10}),
    "3 off: one training target": ("xgboost", {"train_targets": 1}),
    "4: stack": ("stack", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample,completejourney")
    parser.add_argument("--json", type=Path, default=None, help="also write every result")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 160))  # a report: one row per line
    table = new_table("each part against xgboost's defaults (test targets; difference paired, "
                      "95% interval at Holm's level)")
    for column in ("data", "row", "valid recall@10 / ndcg@10", "recall@10", "ndcg@10",
                   "Δ recall@10", "Δ ndcg@10", "explore", "fit s"):
        table.add_column(column, justify="left" if column in ("data", "row") else "right",
                         overflow="fold")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for d, source in enumerate(args.data.split(",")):
            started = time.perf_counter()
            spec = DataSpec(source=source)
            runs_dir = Path(scratch) / str(d)  # sources may be paths
            trained = {label: train(name, spec, settings, runs_dir / str(i))
                       for i, (label, (name, settings)) in enumerate(ROWS.items())}
            runs = {result.run_dir: label for label, result in trained.items()}
            result = compare(list(runs), spec, reference=False,
                             against=trained["defaults"].run_dir)
            results[source] = {"trained": {k: v.model_dump() for k, v in trained.items()},
                               "compare": result.model_dump()}
            for m in result.models:
                label = runs[m.source]
                valid = trained[label].validation
                versus = [versus_text(v) if (v := m.versus.get(k)) else ""
                          for k in ("recall@10", "ndcg@10")]
                table.add_row(source, label,
                              f"{valid['recall@10']:.4f} / {valid['ndcg@10']:.4f}",
                              f"{m.metrics['recall@10']:.4f}", f"{m.metrics['ndcg@10']:.4f}",
                              *versus, f"{m.metrics['recall@10_explore']:.4f}",
                              f"{trained[label].fit_seconds:.0f}")
            table.add_section()
            console.print(f"[dim]{source}: {time.perf_counter() - started:.0f} s[/]")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
