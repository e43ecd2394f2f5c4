"""The library behind every command: each returns a pydantic result and never prints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from basketcli import registry
from basketcli.artifacts import RUN_FILE, SCHEMA_VERSION, RunInfo, now_iso, read_run_info, write_run
from basketcli.data.prepare import Dataset, load_dataset
from basketcli.data.source import DataSpec
from basketcli.data.split import Split, leave_last_out
from basketcli.errors import ArtifactError, BasketError
from basketcli.evaluation import Variant, evaluate_model
from basketcli.protocol import BasketModel, FitContext, FitReport
from basketcli.settings import build_config
from basketcli.sizing import SizingRule

REFERENCE_MODELS = ("gtopfreq", "ptopfreq")


class ModelResult(BaseModel):
    name: str
    source: str  # the model name, or the run directory it was loaded from
    metrics: dict[str, float]
    sizing: str
    fit_seconds: float | None = None
    score_seconds: float


class CompareResult(BaseModel):
    data: dict[str, Any]
    models: list[ModelResult]


class TrainResult(BaseModel):
    run_dir: str
    model: str
    validation: dict[str, float]
    fit_seconds: float
    fit_info: dict[str, Any] = {}


# --- data --------------------------------------------------------------------------------------
def prepare(spec: DataSpec, use_cache: bool = True) -> tuple[Dataset, Split]:
    dataset = load_dataset(spec, use_cache=use_cache)
    return dataset, leave_last_out(dataset.data)


def data_summary(dataset: Dataset, split: Split) -> dict[str, Any]:
    return {
        "source": dataset.spec.describe(),
        "fingerprint": dataset.fingerprint,
        **split.summary(),
        "catalog": dataset.catalog.source if dataset.catalog else None,
    }


# --- models ------------------------------------------------------------------------------------
def create_model(name: str, settings: dict[str, Any] | None = None) -> BasketModel:
    cls = registry.get_model_class(name)
    return cls(build_config(cls.Config, settings or {}, name))


def fit_model(
    model: BasketModel, dataset: Dataset, split: Split, ctx: FitContext
) -> tuple[FitReport, float]:
    if ctx.catalog is None:
        ctx.catalog = dataset.catalog
    started = time.perf_counter()
    report = model.fit(split.train, split.valid, ctx) or FitReport()
    return report, time.perf_counter() - started


def is_run_dir(target: str | Path) -> bool:
    path = Path(target)
    return path.is_dir() and (path / RUN_FILE).exists()


def load_run(run_dir: Path) -> tuple[BasketModel, RunInfo]:
    """Load a saved model; every problem is an ArtifactError saying what to do."""
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
        config = cls.Config.model_validate(info.config)
    except Exception:
        raise ArtifactError(
            f"{run_dir}: its config does not fit this version of {info.model}; train it again"
        ) from None
    return cls.load(Path(run_dir), config), info


def check_vocabulary(info: RunInfo, dataset: Dataset, run_dir: Path) -> None:
    if info.vocabulary != dataset.data.item_ids.tolist():
        raise ArtifactError(
            f"{run_dir}: trained on other data (its product vocabulary differs from "
            f"{dataset.spec.describe()}); evaluate it with the --data it was trained on"
        )


# --- commands ----------------------------------------------------------------------------------
def train(
    name: str, spec: DataSpec, settings: dict[str, Any], out: Path, *, force: bool = False,
    ctx: FitContext | None = None,
) -> TrainResult:
    """Fit a model on the training part, score the validation targets, save a run directory."""
    out = Path(out)
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise ArtifactError(f"{out}: already exists; choose another --out or pass --force")
    model = create_model(name, settings)
    dataset, split = prepare(spec)
    ctx = ctx or FitContext()
    report, fit_seconds = fit_model(model, dataset, split, ctx)
    validation = evaluate_model(model, split.valid, progress=ctx.progress)[0]
    entry = registry.get_entry(name)
    info = RunInfo(
        schema_version=SCHEMA_VERSION,
        complete=True,
        model=name,
        plugin_distribution=entry.distribution,
        plugin_version=entry.version,
        config=model.config.model_dump(mode="json"),
        data=spec.model_dump(mode="json"),
        data_fingerprint=dataset.fingerprint,
        vocabulary=dataset.data.item_ids.tolist(),
        catalog_names=(
            dataset.catalog.names_of(dataset.data.item_ids) if dataset.catalog else None
        ),
        metrics={"validation": validation.metrics},
        timings={"fit_seconds": fit_seconds, "validation_seconds": validation.score_seconds},
        created=now_iso(),
        fit=report.info,
        history=report.history,
    )
    write_run(out, info, model.save, force=force)
    return TrainResult(
        run_dir=str(out), model=name, validation=validation.metrics,
        fit_seconds=fit_seconds, fit_info=report.info,
    )


def evaluate(
    target: str, spec: DataSpec | None, settings: dict[str, Any] | None = None, *,
    threshold: float = 0.5, sizing: SizingRule | None = None, ctx: FitContext | None = None,
    from_run: bool = False,
) -> tuple[CompareResult, BasketModel]:
    """Test-split metrics of a model name (fitted now) or of a saved run directory."""
    ctx = ctx or FitContext()
    fit_seconds: float | None = None
    if from_run:
        model, info = load_run(Path(target))
        spec = spec or DataSpec.model_validate(info.data)
        dataset, split = prepare(spec)
        check_vocabulary(info, dataset, Path(target))
    else:
        model = create_model(target, settings)
        dataset, split = prepare(spec or DataSpec())
        _, fit_seconds = fit_model(model, dataset, split, ctx)
    variants = [Variant(threshold, sizing)]
    result = evaluate_model(model, split.test, variants, progress=ctx.progress)[0]
    row = ModelResult(
        name=model.name, source=str(target), metrics=result.metrics, sizing=result.sizing_label,
        fit_seconds=fit_seconds, score_seconds=result.score_seconds,
    )
    return CompareResult(data=data_summary(dataset, split), models=[row]), model


def compare(
    targets: list[str], spec: DataSpec, *, reference: bool = True, threshold: float = 0.5,
    sizing: SizingRule | None = None, ctx: FitContext | None = None,
) -> CompareResult:
    """Several models (names or run directories) on one split, one row each."""
    ctx = ctx or FitContext()
    names = list(dict.fromkeys(([*REFERENCE_MODELS] if reference else []) + list(targets)))
    dataset, split = prepare(spec)
    # Resolve every name before any fitting, so a typo fails fast.
    planned: list[tuple[str, BasketModel | None, RunInfo | None]] = []
    for target in names:
        if is_run_dir(target):
            model, info = load_run(Path(target))
            check_vocabulary(info, dataset, Path(target))
            planned.append((target, model, info))
        else:
            planned.append((target, create_model(target), None))
    rows = []
    for target, model, info in planned:
        fit_seconds = None
        if info is None:
            _, fit_seconds = fit_model(model, dataset, split, ctx)
        # A ranker cannot be sized by probability: it keeps its own top-k rule.
        usable = sizing is None or model.gives_probabilities or not sizing.needs_probabilities
        variants = [Variant(threshold, sizing if usable else None)]
        result = evaluate_model(model, split.test, variants, progress=ctx.progress)[0]
        rows.append(ModelResult(
            name=model.name, source=target, metrics=result.metrics, sizing=result.sizing_label,
            fit_seconds=fit_seconds, score_seconds=result.score_seconds,
        ))
    return CompareResult(data=data_summary(dataset, split), models=rows)
