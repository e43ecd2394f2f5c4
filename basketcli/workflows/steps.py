"""The steps every workflow shares: load data and split it, describe the data in a result,
fit a model (built by ``registry.create_model``, the one constructor).

Workflows combine these (run directories: ``run_dirs``); nothing here prints or knows a
command.
"""

from __future__ import annotations

import time
from typing import Any

from basketcli.data.prepare import Dataset, load_dataset
from basketcli.data.source import DataSpec
from basketcli.data.split import Split, leave_last_out
from basketcli.errors import ConfigError
from basketcli.protocol import BasketModel, FitContext, FitReport


# --- data --------------------------------------------------------------------------------------
def prepare(source: DataSpec | Dataset, use_cache: bool = True) -> tuple[Dataset, Split]:
    """The data set of ``source`` (a spec, or a data set already loaded: the Python API's)
    and its leave-last-out split."""
    dataset = source if isinstance(source, Dataset) else load_dataset(source, use_cache)
    return dataset, leave_last_out(dataset.data)


def data_summary(dataset: Dataset, split: Split) -> dict[str, Any]:
    """The data block of every result."""
    summary = split.summary()
    return {
        "source": dataset.spec.describe(),
        "fingerprint": dataset.fingerprint,
        **summary,
        "min_orders": dataset.spec.min_orders,
        "dropped_users": summary["dropped_users"] + dataset.dropped_users,
        "catalog": dataset.catalog.source if dataset.catalog else None,
    }


# --- models ------------------------------------------------------------------------------------
def fit_model(
    model: BasketModel, dataset: Dataset, split: Split, ctx: FitContext
) -> tuple[FitReport, float]:
    """Fit on the training part (validation targets for early stopping); (report, seconds)."""
    if ctx.catalog is None:
        ctx.catalog = dataset.catalog
    started = time.perf_counter()
    report = model.fit(split.train, split.valid, ctx) or FitReport()
    return report, time.perf_counter() - started


def check_device_name(device: str) -> None:
    """Catch a misspelt --device before anything is loaded (availability is the engine's)."""
    text = (device or "auto").strip().lower()
    if text not in ("auto", "cpu") and not text.startswith("cuda"):
        raise ConfigError(f"--device {device!r}: expected auto, cpu or cuda")
