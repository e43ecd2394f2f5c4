"""Hyperparameter grid search: many fits, post-hoc thresholds, one test evaluation.

Every ``--param`` value is validated through the model's config before anything runs. Each
combination is fitted once (joblib processes, each run seeded by its config) and saved at once
as a run directory under ``OUT/runs/``, whose basket.json also holds the validation metrics of
every post-hoc variant (threshold x sizing); so an interrupted grid resumes without refitting,
and new thresholds are scored on the saved models without retraining. The best row is chosen
on the validation metric; only that setting is then evaluated, once, on the test targets.

``force`` on a finished grid (grid.json there) builds the new grid in ``.OUT.next`` beside it,
which replaces OUT only once finished (``artifacts.replace_folder``): a failed or killed new
grid leaves the previous one, its runs and results, as they were; ``force`` with ``resume``
continues it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from basketcli import registry
from basketcli.artifacts import (
    atomic_write_json,
    atomic_write_text,
    now_iso,
    replace_folder,
    settle_folder,
)
from basketcli.data.prepare import Dataset
from basketcli.data.source import DataSpec
from basketcli.data.split import Split
from basketcli.errors import ArtifactError, ConfigError
from basketcli.evaluation.metrics import GRID_KEYS, METRIC_KEYS
from basketcli.evaluation.scoring import DEFAULT_THRESHOLD, Variant, evaluate_model
from basketcli.protocol import BasketModel, FitContext, ProgressFactory, silent_progress
from basketcli.registry import create_model
from basketcli.reports import format_value, rows_csv, write_heatmap_png
from basketcli.settings import build_config
from basketcli.sizing import SizingRule
from basketcli.workflows.run_dirs import (
    RUN_FILE,
    load_run,
    new_run_info,
    read_run_info,
    successor_folder,
    write_run,
)
from basketcli.workflows.steps import check_device_name, fit_model, prepare

RUNS_DIR = "runs"
MANIFEST_FILE = "grid-spec.json"
GRID_JSON = "grid.json"
GRID_CSV = "grid.csv"
HEATMAP_PNG = "heatmap.png"
GRID_FILES = frozenset({RUNS_DIR, MANIFEST_FILE, GRID_JSON, GRID_CSV, HEATMAP_PNG})


@dataclass(frozen=True)
class PlannedRun:
    """One combination of grid values, validated; ``key`` identifies it across resumes."""

    name: str  # folder name under OUT/runs/
    key: str
    params: dict[str, Any]  # the grid parameters, as validated (JSON values)
    config: dict[str, Any]  # the whole validated config (JSON values)


def plan_runs(
    model: str, params: dict[str, list[Any]], fixed: dict[str, Any], fingerprint: str = "",
) -> list[PlannedRun]:
    """Validate every value, then every combination, through the model's config."""
    cls = registry.get_model_class(model)
    for key, values in params.items():
        for value in values:
            _validate(cls, {**fixed, key: value}, model)
    keys = list(params)
    runs = []
    for combo in itertools.product(*(params[k] for k in keys)):
        config = _validate(cls, {**fixed, **dict(zip(keys, combo, strict=True))}, model)
        dumped = config.model_dump(mode="json")
        grid_values = {k: dumped[k] for k in keys}
        key = run_key(model, dumped, fingerprint)
        runs.append(PlannedRun(_run_name(grid_values, key), key, grid_values, dumped))
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        raise ConfigError("--param: the same setting is listed twice (after validation)")
    return runs


def _validate(cls: type, values: dict[str, Any], model: str) -> BaseModel:
    try:
        return build_config(cls.Config, values, model)
    except ConfigError as exc:
        raise ConfigError(f"--param: {exc.message}") from None


def run_key(model: str, config: dict[str, Any], fingerprint: str) -> str:
    text = json.dumps({"model": model, "config": config, "data": fingerprint}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _run_name(values: dict[str, Any], key: str) -> str:
    slug = "_".join(f"{k}={v}" for k, v in values.items())
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", slug)[:60].strip("-_")
    return f"{slug}-{key[:8]}" if slug else f"run-{key[:8]}"


def plan_variants(
    model: str, thresholds: list[float] | None, sizings: list[SizingRule] | None,
    fixed: dict[str, Any] | None = None,
) -> tuple[list[Variant], list[str]]:
    """The post-hoc settings to score on each fitted model, and notes for the user.

    Thresholds only change f1_micro/f1_macro of models that give probabilities; for a ranker
    (whose f1_micro counts its top 10) they are ignored with a note rather than refused, so
    one grid command line works for every model.
    """
    cls = registry.get_model_class(model)
    notes = []
    rules: list[SizingRule | None] = list(sizings) if sizings else [None]
    if cls.gives_probabilities:
        # Without --threshold: the configuration's own (as train and evaluate use it).
        own = getattr(build_config(cls.Config, fixed or {}, model), "threshold",
                      DEFAULT_THRESHOLD)
        cuts = thresholds or [float(own)]
    else:
        cuts = [DEFAULT_THRESHOLD]
        if thresholds:
            notes.append(
                f"--threshold ignored: model {model} ranks products but gives no probabilities "
                "(its f1_micro counts its top 10)"
            )
        for rule in rules:
            if rule is not None and rule.needs_probabilities:
                raise ConfigError(
                    f"--sizing {rule.label()}: model {model} gives no probabilities; use top-k"
                )
    return [Variant(t, r) for t in cuts for r in rules], notes


def variant_label(variant: Variant) -> str:
    sizing = variant.sizing.label() if variant.sizing else "default"
    threshold = "own" if variant.threshold is None else f"{variant.threshold:g}"
    return f"threshold={threshold}|sizing={sizing}"


# --- results -----------------------------------------------------------------------------------
class HeatMap(BaseModel):
    """The sort metric over the two grid dimensions that vary."""

    metric: str
    row_name: str
    col_name: str
    row_labels: list[str]
    col_labels: list[str]
    values: list[list[float | None]]


class GridResult(BaseModel):
    model: str
    out: str
    sort: str
    param_names: list[str]  # the label columns of a row, in order
    rows: list[dict[str, Any]]  # sorted by ``sort``, best first
    best: dict[str, Any]
    test: dict[str, Any]
    runs_total: int
    runs_fitted: int  # fitted in this call (the others came from --out)
    heatmap: HeatMap | None = None
    heatmap_png: str | None = None
    notes: list[str] = []

    def payload(self) -> dict[str, Any]:
        """What --json prints: rows, best, test."""
        return {"rows": self.rows, "best": self.best, "test": self.test}


# --- running -----------------------------------------------------------------------------------
@dataclass
class RunRecord:
    run: PlannedRun
    metrics: dict[str, dict[str, float]]  # variant label -> validation metrics
    fitted: bool  # fitted in this call


def run_one(
    model: str, fitted: BasketModel, run: PlannedRun, dataset: Dataset, split: Split,
    variants: list[Variant], run_dir: Path, n_threads: int, device: str,
    progress: ProgressFactory = silent_progress,
) -> RunRecord:
    """Fit one combination (``fitted``, made from its settings by the caller), score every
    variant on the validation targets, save the run."""
    seed = int(run.config.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    ctx = FitContext(progress=progress, device=device, n_threads=n_threads)
    report, fit_seconds = fit_model(fitted, dataset, split, ctx)
    evaluations = evaluate_model(fitted, split.valid, variants)
    metrics = {variant_label(e.variant): e.metrics for e in evaluations}
    # basket.json of a grid run: what `basket train` writes, plus the grid's own record.
    default = metrics.get(variant_label(Variant())) or next(iter(metrics.values()))
    info = new_run_info(
        model, run.config, dataset, complete=True, metrics={"validation": default},
        timings={"fit_seconds": fit_seconds}, created=now_iso(), finished=now_iso(),
        status="complete", fit=report.info, history=report.history,
        grid={"key": run.key, "params": run.params, "variants": metrics})
    write_run(run_dir, info, fitted.save, force=True)
    return RunRecord(run, metrics, fitted=True)


def recorded_run(run_dir: Path, run: PlannedRun) -> dict[str, dict[str, float]] | None:
    """The variant metrics recorded for ``run``, or None if it has no complete record."""
    if not (run_dir / RUN_FILE).is_file():
        return None
    try:
        info = read_run_info(run_dir)
    except ArtifactError:
        return None  # incomplete or damaged: fit it again
    grid = (info.model_extra or {}).get("grid")
    if not isinstance(grid, dict) or grid.get("key") != run.key:
        return None
    variants = grid.get("variants")
    return variants if isinstance(variants, dict) else None


def rescore_run(
    run_dir: Path, run: PlannedRun, split: Split, variants: list[Variant],
    known: dict[str, dict[str, float]], device: str,
) -> RunRecord:
    """Score new post-hoc variants on a saved model (no retraining) and record them."""
    model, info = load_run(run_dir, device)
    missing = [v for v in variants if variant_label(v) not in known]
    metrics = dict(known)
    for evaluation in evaluate_model(model, split.valid, missing):
        metrics[variant_label(evaluation.variant)] = evaluation.metrics
    extra = dict(info.model_extra or {})
    extra["grid"] = {**extra.get("grid", {}), "variants": metrics}
    atomic_write_json(run_dir / RUN_FILE, {**info.model_dump(mode="json"), **extra})
    return RunRecord(run, metrics, fitted=False)


def _check_out(out: Path, model: str, dataset: Dataset, resume: bool, force: bool) -> Path:
    """Where the grid writes: ``out``, or beside it when ``force`` replaces a finished grid
    (kept until the new one is finished; ``resume`` continues one interrupted)."""
    settle_folder(out)  # a replacement a crash cut short between its renames
    manifest = out / MANIFEST_FILE
    if not out.exists():
        return out
    if not out.is_dir():
        raise ArtifactError(f"--out {out}: is a file; choose a folder")
    if force and (out / GRID_JSON).is_file():
        return successor_folder(out, GRID_FILES, "grid", resume)
    if not any(out.iterdir()) or force:
        return out
    if not manifest.is_file():
        raise ArtifactError(
            f"--out {out}: exists and holds no grid; choose another --out or pass --force"
        )
    if not resume:
        raise ArtifactError(
            f"--out {out}: holds a grid already; pass --resume to continue it, --force to "
            "start again, or choose another --out"
        )
    try:
        spec = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise ArtifactError(f"{manifest}: corrupt; remove it or choose another --out") from None
    if spec.get("model") != model:
        raise ArtifactError(
            f"--out {out}: holds a grid of model {spec.get('model')!r}, not {model}; choose "
            "another --out"
        )
    if spec.get("data_fingerprint") != dataset.fingerprint:
        raise ArtifactError(
            f"--out {out}: holds a grid on other data (its --data differs); resume it with the "
            "same data options or choose another --out"
        )
    return out


def grid(
    model: str, params: dict[str, list[Any]], spec: DataSpec, out: Path, *,
    fixed: dict[str, Any] | None = None, thresholds: list[float] | None = None,
    sizings: list[SizingRule] | None = None, sort: str = "f1_micro", jobs: int | None = None,
    resume: bool = False, force: bool = False, device: str = "auto",
    progress: ProgressFactory = silent_progress, heatmap_png: bool = True,
) -> GridResult:
    """Fit every combination (skipping recorded runs), pick the best on validation, test it."""
    fixed = fixed or {}
    if sort not in METRIC_KEYS:
        raise ConfigError(f"--sort {sort!r}: not a metric; choose one of {', '.join(METRIC_KEYS)}")
    if not params:
        raise ConfigError("give at least one --param key=value[,value...]")
    check_device_name(device)
    plan_runs(model, params, fixed)  # every value validated before data is even read
    variants, notes = plan_variants(model, thresholds, sizings, fixed)
    out = Path(out)
    dataset, split = prepare(spec)
    runs = plan_runs(model, params, fixed, dataset.fingerprint)
    work = _check_out(out, model, dataset, resume, force)

    runs_dir = work / RUNS_DIR
    atomic_write_json(work / MANIFEST_FILE, {
        "model": model, "data": spec.model_dump(mode="json"),
        "data_fingerprint": dataset.fingerprint, "params": params, "fixed": fixed,
        "created": now_iso(),
    })
    records: dict[str, RunRecord] = {}
    todo = []
    for run in runs:
        known = recorded_run(runs_dir / run.name, run) if resume else None
        if known is None:
            todo.append(run)
        elif all(variant_label(v) in known for v in variants):
            records[run.key] = RunRecord(run, known, fitted=False)
        else:
            records[run.key] = rescore_run(runs_dir / run.name, run, split, variants, known,
                                           device)

    n_jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    with progress(f"grid {model}", len(todo)) as task:
        for record in _execute(model, todo, dataset, split, variants, runs_dir, n_jobs, device,
                               progress):
            records[record.run.key] = record
            task.advance(1)

    probabilistic = registry.get_model_class(model).gives_probabilities
    rows = _rows(runs, records, variants, probabilistic, sizings is not None)
    rows.sort(key=lambda r: -r[sort])
    best = rows[0]
    best_model, _ = load_run(runs_dir / best["run"], device)
    best_variant = Variant(best.get("threshold", DEFAULT_THRESHOLD), _sizing_of(best, sizings))
    tested = evaluate_model(best_model, split.test, [best_variant])[0]
    labels = [k for k in best if k not in METRIC_KEYS and k != "run"]
    test = {**{k: best[k] for k in labels}, **_ordered(tested.metrics)}

    result = GridResult(
        model=model, out=str(out), sort=sort, param_names=labels, rows=rows, best=best,
        test=test, runs_total=len(runs), runs_fitted=sum(r.fitted for r in records.values()),
        heatmap=heatmap_of(rows, labels, sort), notes=notes + edge_notes(rows, labels, sort),
    )
    if heatmap_png and result.heatmap is not None:
        path = write_heatmap_png(result.heatmap, work / HEATMAP_PNG)
        result.heatmap_png = str(out / path.name) if path else None
        if path is None:
            result.notes.append(f"matplotlib is not installed, so no {HEATMAP_PNG}: install "
                                "basket[plot] for PNG plots")
    atomic_write_text(work / GRID_CSV, rows_csv(rows))
    atomic_write_json(work / GRID_JSON, {
        "model": model, "data": spec.model_dump(mode="json"), "sort": sort, **result.payload(),
    })
    if work != out:
        replace_folder(work, out)  # the new grid replaces the old one, whole
    return result


def _execute(
    model: str, todo: list[PlannedRun], dataset: Dataset, split: Split,
    variants: list[Variant], runs_dir: Path, n_jobs: int, device: str,
    progress: ProgressFactory,
) -> Iterator[RunRecord]:
    """Run the fits, yielding each record as soon as its run is saved."""
    if n_jobs == 1:
        threads = max(1, os.cpu_count() or 1)
        for run in todo:
            yield run_one(model, create_model(model, run.config), run, dataset, split, variants,
                          runs_dir / run.name, threads, device, progress)
        return
    import multiprocessing

    from joblib import Parallel, delayed

    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    # Workers report their fits' progress (epochs, boosting rounds) through a queue that a
    # thread here turns into progress bars.
    with multiprocessing.Manager() as manager, _relayed(progress, manager.Queue()) as queue:
        # Large arrays of the data set reach the worker processes as read-only memory maps.
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(
            delayed(run_one)(model, create_model(model, run.config), run, dataset, split,
                             variants, runs_dir / run.name, threads, device,
                             QueuedProgress(queue, run.name))
            for run in todo
        )


class QueuedProgress:
    """A ProgressFactory for a worker process: every task and step goes into a queue."""

    def __init__(self, queue: Any, run: str) -> None:
        self.queue, self.run, self.count = queue, run, 0

    def __call__(self, description: str, total: int | None = None) -> _QueuedTask:
        self.count += 1
        key = f"{self.run}:{self.count}"
        self.queue.put(("start", key, f"{self.run}: {description}", total, {}))
        return _QueuedTask(self.queue, key)


class _QueuedTask:
    def __init__(self, queue: Any, key: str) -> None:
        self.queue, self.key = queue, key

    def advance(self, steps: int = 1, **info: Any) -> None:
        self.queue.put(("advance", self.key, None, steps, info))

    def __enter__(self) -> _QueuedTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.queue.put(("end", self.key, None, None, {}))


@contextmanager
def _relayed(progress: ProgressFactory, queue: Any) -> Iterator[Any]:
    """Show the tasks that workers put into ``queue`` with ``progress`` while inside."""
    import threading

    tasks: dict[str, Any] = {}

    def relay() -> None:
        while (message := queue.get()) is not None:
            kind, key, description, number, info = message
            if kind == "start":
                tasks[key] = progress(description, number).__enter__()
            elif kind == "advance" and key in tasks:
                tasks[key].advance(number, **info)
            elif kind == "end" and key in tasks:
                tasks.pop(key).__exit__(None, None, None)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    try:
        yield queue
    finally:
        queue.put(None)
        thread.join(timeout=10)


def edge_notes(rows: list[dict[str, Any]], labels: list[str], sort: str) -> list[str]:
    """One line per numeric setting whose best value is the lowest or highest of its grid
    (of three or more values): the best may lie beyond it."""
    notes = []
    best = rows[0]
    for name in labels:
        values = sorted({r[name] for r in rows if isinstance(r[name], int | float)
                         and not isinstance(r[name], bool)})
        if len(values) < 3 or best[name] not in (values[0], values[-1]):
            continue
        side, beyond = ("lowest", "below") if best[name] == values[0] else ("highest", "above")
        notes.append(f"the best {sort} is at the {side} {name} of the grid "
                     f"({format_value(best[name])}); extend the grid {beyond} it")
    return notes


def _rows(
    runs: list[PlannedRun], records: dict[str, RunRecord], variants: list[Variant],
    probabilistic: bool, show_sizing: bool,
) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        metrics_by_variant = records[run.key].metrics
        for variant in variants:
            row: dict[str, Any] = dict(run.params)
            if probabilistic:
                row["threshold"] = variant.threshold
            if show_sizing:
                row["sizing"] = variant.sizing.label() if variant.sizing else "default"
            row.update(_ordered(metrics_by_variant[variant_label(variant)]))
            row["run"] = run.name
            rows.append(row)
    return rows


def _ordered(metrics: dict[str, float]) -> dict[str, float]:
    """The table's metrics first, then the others in their usual order."""
    keys = [*GRID_KEYS, *(k for k in METRIC_KEYS if k not in GRID_KEYS)]
    return {k: metrics[k] for k in keys if k in metrics}


def _sizing_of(row: dict[str, Any], sizings: list[SizingRule] | None) -> SizingRule | None:
    if not sizings:
        return None
    return next((s for s in sizings if s.label() == row.get("sizing")), None)


def heatmap_of(rows: list[dict[str, Any]], labels: list[str], metric: str) -> HeatMap | None:
    """With exactly two varying label columns, the metric on their grid (else None)."""
    varying = [k for k in labels if len({json.dumps(r[k]) for r in rows}) > 1]
    if len(varying) != 2:
        return None
    row_name, col_name = varying
    row_values = list(dict.fromkeys(r[row_name] for r in rows))
    col_values = list(dict.fromkeys(r[col_name] for r in rows))
    try:
        row_values.sort()
        col_values.sort()
    except TypeError:
        pass  # mixed types keep the order given
    cells: dict[tuple[str, str], float] = {}
    for r in rows:
        cell = (json.dumps(r[row_name]), json.dumps(r[col_name]))
        cells[cell] = max(cells.get(cell, -np.inf), r[metric])
    values = [
        [cells.get((json.dumps(rv), json.dumps(cv))) for cv in col_values] for rv in row_values
    ]
    return HeatMap(
        metric=metric, row_name=row_name, col_name=col_name,
        row_labels=[format_value(v) for v in row_values],
        col_labels=[format_value(v) for v in col_values], values=values,
    )
