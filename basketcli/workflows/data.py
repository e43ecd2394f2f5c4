"""`basket data info` and `basket data synth`: what a data set looks like, and synthetic data
of any size."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from basketcli.data.info import data_stats
from basketcli.data.prepare import load_dataset
from basketcli.data.source import DataSpec
from basketcli.data.synth import synthesize


def info(spec: DataSpec) -> dict[str, Any]:
    """The data set of ``spec`` (loaded and filtered as every command loads it) in numbers:
    customers, orders, products, distributions and the repeat ratio."""
    dataset = load_dataset(spec)
    return {"source": spec.describe(), "fingerprint": dataset.fingerprint,
            "min_orders": spec.min_orders, "dropped_users": dataset.dropped_users,
            **data_stats(dataset.data)}


def synth(out: Path, users: int, products: int, seed: int, *, force: bool = False
          ) -> dict[str, Any]:
    """Write a synthetic Instacart-shaped data set to ``out``; what was written and how long
    it took."""
    started = time.perf_counter()
    summary = synthesize(out, users, products, seed, force=force)
    return {**asdict(summary), "seconds": round(time.perf_counter() - started, 2)}
