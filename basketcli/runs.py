"""The steps every workflow shares: load data and split it, build a model from a name and
settings (the one constructor), fit it, describe and load a run directory.

Workflows (basketcli.workflows) combine these; nothing here prints or knows a command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from basketcli import registry
from basketcli.artifacts import RUN_FILE, SCHEMA_VERSION, RunInfo, read_run_info
from basketcli.data.prepare import Dataset, load_dataset
from basketcli.data.source import DataSpec
from basketcli.data.split import Split, leave_last_out
from basketcli.errors import ArtifactError, BasketError, ConfigError
from basketcli.protocol import BasketModel, FitContext, FitReport
from basketcli.settings import build_config


# --- data --------------------------------------------------------------------------------------
def prepare(spec: DataSpec, use_cache: bool = True) -> tuple[Dataset, Split]:
    """The data set of ``spec`` and its leave-last-out split."""
    dataset = load_dataset(spec, use_cache=use_cache)
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


# --- run directories ---------------------------------------------------------------------------
def new_run_info(name: str, config: dict[str, Any], dataset: Dataset, **fields: Any) -> RunInfo:
    """basket.json of a run of model ``name`` on ``dataset`` (``fields``: the rest)."""
    entry = registry.get_entry(name)
    return RunInfo(
        schema_version=SCHEMA_VERSION, model=name, plugin_distribution=entry.distribution,
        plugin_version=entry.version, config=config,
        data=dataset.spec.model_dump(mode="json"), data_fingerprint=dataset.fingerprint,
        vocabulary=dataset.data.item_ids.tolist(),
        catalog_names=dataset.catalog.names_of(dataset.data.item_ids) if dataset.catalog else None,
        **fields,
    )


def is_run_dir(target: str | Path) -> bool:
    path = Path(target)
    return path.is_dir() and (path / RUN_FILE).exists()


def load_run(run_dir: Path, device: str | None = None) -> tuple[BasketModel, RunInfo]:
    """Load a saved model, to score on ``device`` when given (else where it loads: the CPU
    for the torch models); every problem is an ArtifactError saying what to do."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    try:
        entry = registry.get_entry(info.model)
    except BasketError:
        raise ArtifactError(
            f"{run_dir}: made by model {info.model!r}, which is not installed here; "
            "install its plugin"
        ) from None
    known = (info.plugin_distribution, "in-process")
    if info.plugin_distribution and entry.distribution not in known:
        raise ArtifactError(
            f"{run_dir}: made by plugin {info.plugin_distribution}, but model {info.model!r} now "
            f"comes from {entry.distribution}; install {info.plugin_distribution}"
        )
    cls = registry.get_model_class(info.model)
    try:
        config = build_config(cls.Config, info.config, info.model)
    except ConfigError:
        raise ArtifactError(
            f"{run_dir}: its config does not fit this version of {info.model}; train it again"
        ) from None
    model = cls.load(run_dir, config)
    if device is not None:
        check_device_name(device)
        model.use_device(device)
    return model, info


def check_vocabulary(info: RunInfo, dataset: Dataset, run_dir: Path) -> None:
    if info.vocabulary != dataset.data.item_ids.tolist():
        raise ArtifactError(
            f"{run_dir}: trained on other data (its product vocabulary differs from "
            f"{dataset.spec.describe()}); evaluate it with the --data it was trained on"
        )
