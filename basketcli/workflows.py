"""The library behind every command: each returns a pydantic result and never prints."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from basketcli import registry
from basketcli.artifacts import (
    RUN_FILE,
    SCHEMA_VERSION,
    RunInfo,
    begin_run,
    check_run_target,
    discard_run,
    now_iso,
    read_run_info,
    write_run_info,
)
from basketcli.data.prepare import Dataset, load_dataset
from basketcli.data.source import DataSpec
from basketcli.data.split import Split, leave_last_out
from basketcli.engine import distributed
from basketcli.engine.checkpoints import remove_checkpoints
from basketcli.engine.curves import write_curves
from basketcli.errors import ArtifactError, BasketError, ConfigError
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


def load_run(run_dir: Path, device: str | None = None) -> tuple[BasketModel, RunInfo]:
    """Load a saved model, to score on ``device`` when given (else where it loads: the CPU
    for the torch models); every problem is an ArtifactError saying what to do."""
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
    model = cls.load(Path(run_dir), config)
    if device is not None:
        _check_device_name(device)
        model.use_device(device)
    return model, info


def check_vocabulary(info: RunInfo, dataset: Dataset, run_dir: Path) -> None:
    if info.vocabulary != dataset.data.item_ids.tolist():
        raise ArtifactError(
            f"{run_dir}: trained on other data (its product vocabulary differs from "
            f"{dataset.spec.describe()}); evaluate it with the --data it was trained on"
        )


# --- commands ----------------------------------------------------------------------------------
def train(
    name: str, spec: DataSpec, settings: dict[str, Any], out: Path, *, force: bool = False,
    resume: bool = False, ctx: FitContext | None = None,
) -> TrainResult:
    """Fit a model on the training part, score the validation targets, save a run directory.

    The run directory exists from the start with basket.json marked incomplete; torch models
    checkpoint into it after every epoch, so an interrupted run (Ctrl-C, a crash, a sleeping
    laptop) keeps its best weights and continues with ``resume``. basket.json is marked
    complete last. A bad-input error during a fresh run removes the folder again.

    With ``ctx.distributed`` (under torchrun) every rank runs this: all of them load the data
    and train together, rank 0 alone writes ``out``.
    """
    out = Path(out)
    ctx = ctx or FitContext()
    _check_device_name(ctx.device)
    if ctx.distributed:
        with distributed.process_group(ctx) as rank_ctx:
            return _train(name, spec, settings, out, force, resume, rank_ctx)
    return _train(name, spec, settings, out, force, resume, ctx)


def _train(name: str, spec: DataSpec, settings: dict[str, Any], out: Path, force: bool,
           resume: bool, ctx: FitContext) -> TrainResult:
    main = distributed.is_main()
    previous = distributed.from_main(lambda: check_run_target(out, force=force, resume=resume))
    if previous is not None:
        if previous.model != name:
            raise ArtifactError(
                f"{out}: the interrupted run is a {previous.model} run, not {name}; "
                f"resume it with --model {previous.model}"
            )
        # Resuming reuses the interrupted run's settings; --set may only repeat them.
        settings = {**previous.config, **settings}
    model = create_model(name, settings)
    if ctx.dask_scheduler and not getattr(model, "trains_on_dask", False):
        raise ConfigError(f"--dask-scheduler: model {name} does not train on Dask (xgboost does)")
    config = model.config.model_dump(mode="json")
    dataset, split = prepare(spec)
    if previous is not None:
        _check_resumable(previous, config, dataset, out)
    entry = registry.get_entry(name)
    info = RunInfo(
        schema_version=SCHEMA_VERSION,
        complete=False,
        model=name,
        plugin_distribution=entry.distribution,
        plugin_version=entry.version,
        config=config,
        data=spec.model_dump(mode="json"),
        data_fingerprint=dataset.fingerprint,
        vocabulary=dataset.data.item_ids.tolist(),
        catalog_names=(
            dataset.catalog.names_of(dataset.data.item_ids) if dataset.catalog else None
        ),
        created=previous.created if previous is not None else now_iso(),
        status="training",
    )
    if main:
        begin_run(out, info, resume=previous is not None)
    ctx = replace(ctx, work_dir=out, resume=previous is not None)
    try:
        report, fit_seconds = fit_model(model, dataset, split, ctx)
        if ctx.distributed and "world_size" not in report.info:
            ctx.log(f"warning: {name} does not train with the torch engine; every process "
                    "fitted it alone and rank 0 saves its fit")

        # Ranks that trained one model together (same weights) share its validation
        # scoring; otherwise rank 0 scores the fit it saves.
        together = ctx.distributed and "world_size" in report.info
        shared = (evaluate_model(model, split.valid, progress=ctx.progress,
                                 across_ranks=True)[0] if together else None)

        def save() -> Any:
            validation = shared or evaluate_model(model, split.valid, progress=ctx.progress)[0]
            model.save(out)
            write_curves(out, report.history)
            return validation

        validation = distributed.from_main(save)
    except KeyboardInterrupt:
        # Keep what the fit checkpointed (its best weights so far) for --resume.
        if main:
            write_run_info(out, info.model_copy(update={"status": "interrupted"}))
        raise
    except BasketError:
        if main and previous is None:
            discard_run(out)
        elif main:
            write_run_info(out, info.model_copy(update={"status": "failed"}))
        raise
    finished = info.model_copy(update={
        "complete": True,
        "status": "complete",
        "metrics": {"validation": validation.metrics},
        "timings": {"fit_seconds": fit_seconds, "validation_seconds": validation.score_seconds},
        "fit": report.info,
        "history": report.history,
        "finished": now_iso(),
    })
    if main:
        write_run_info(out, finished)  # the run is complete from this moment
        remove_checkpoints(out)
    return TrainResult(
        run_dir=str(out), model=name, validation=validation.metrics,
        fit_seconds=fit_seconds, fit_info=report.info,
    )


def _check_device_name(device: str) -> None:
    """Catch a misspelt --device before anything is loaded (availability is the engine's)."""
    text = (device or "auto").strip().lower()
    if text not in ("auto", "cpu") and not text.startswith("cuda"):
        raise ConfigError(f"--device {device!r}: expected auto, cpu or cuda")


def _check_resumable(
    previous: RunInfo, config: dict[str, Any], dataset: Dataset, out: Path
) -> None:
    changed = sorted(k for k in set(config) | set(previous.config)
                     if config.get(k) != previous.config.get(k))
    if changed:
        raise ArtifactError(
            f"{out}: the interrupted run used other settings ({', '.join(changed)}); resume "
            "without changing them, or train again with --force"
        )
    if previous.data_fingerprint != dataset.fingerprint:
        source = previous.data.get("source", "its data")
        raise ArtifactError(
            f"{out}: the interrupted run was trained on other data; resume it with --data {source}"
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
        model, info = load_run(Path(target), ctx.device)
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
            model, info = load_run(Path(target), ctx.device)
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
