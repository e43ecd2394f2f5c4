"""`basket tune`: search a model's hyperparameters on the validation targets with Optuna.

Each trial draws settings from the model's search space (``BasketModel.search_space()``: the
TPE sampler), fits on the training baskets and scores the validation targets; the test targets
are never read. Models that validate as they train (the torch engine, after every epoch) report
each epoch, and the median pruner stops trials that fall behind. The study lives in a database
(SQLite in the run directory by default, or any URL Optuna takes with ``storage``), so a killed
tune continues with ``resume`` and several processes, on one machine or several, can share one
study. The run directory gets the best settings (``best.json``, for `basket train --config`),
every trial (``trials.csv``) and a summary (``tune.json``).

``force`` on a finished search (best.json there) runs the new search in ``.OUT.next`` beside
it, which replaces OUT only once its files are written (``artifacts.replace_folder``): a
failed or killed new search leaves the previous best settings where they were, and ``force``
with ``resume`` continues it.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import re
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from basketcli import registry
from basketcli.artifacts import (
    atomic_write_json,
    atomic_write_text,
    now_iso,
    replace_folder,
    settle_folder,
)
from basketcli.data.source import DataSpec
from basketcli.data.split import Split
from basketcli.errors import ArtifactError, ConfigError
from basketcli.evaluation.metrics import METRIC_KEYS
from basketcli.evaluation.scoring import Variant, evaluate_model
from basketcli.protocol import FitContext, ProgressFactory, silent_progress
from basketcli.registry import create_model
from basketcli.reports import rows_csv
from basketcli.settings import build_config
from basketcli.workflows.run_dirs import successor_folder
from basketcli.workflows.steps import fit_model, prepare

STUDY_FILE = "study.db"
BEST_FILE = "best.json"
TRIALS_FILE = "trials.csv"
SUMMARY_FILE = "tune.json"
# What a study folder holds (SQLite's side files included); --force replaces nothing else.
STUDY_FILES = frozenset({STUDY_FILE, f"{STUDY_FILE}-journal", f"{STUDY_FILE}-wal",
                         f"{STUDY_FILE}-shm", BEST_FILE, TRIALS_FILE, SUMMARY_FILE})
DEFAULT_MONITOR = "ndcg@10"
DEFAULT_PATIENCE = 100  # finished trials without a better one before a search stops
DEFAULTS_TRIAL = "defaults"  # user attribute of the first trial: the settings it enqueued
SEED_STRIDE = 1_000  # sampler seed = seed + SEED_STRIDE x finished trials + process index
LOCK_SECONDS = 60  # how long a process waits for another's write to the shared SQLite file
BUDGET_UNITS = {"s": 1, "m": 60, "h": 3600}


class TrialRow(BaseModel):
    number: int
    state: str  # COMPLETE, PRUNED, FAIL or RUNNING
    value: float | None  # the validation metric
    settings: dict[str, Any]
    seconds: float | None


class TuneResult(BaseModel):
    model: str
    out: str | None
    monitor: str
    best_value: float | None
    best_settings: dict[str, Any]  # the searched settings and the fixed ones: a --config file
    trials: list[TrialRow]
    seconds: float
    trials_per_minute: float
    storage: str | None
    search_space: dict[str, dict[str, Any]]

    def rows(self) -> list[dict[str, Any]]:
        """One record per trial (trials.csv, --format csv)."""
        return [{"trial": t.number, "state": t.state, self.monitor: t.value,
                 "seconds": t.seconds, **t.settings} for t in self.trials]


def parse_budget(text: str | None) -> float | None:
    """'10m', '90s', '1h30m' or plain seconds -> seconds (None: no time limit)."""
    if text is None:
        return None
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smh])", value)
        if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
            raise ConfigError(f"--budget {text!r}: expected a time such as 90s, 10m or 1h30m")
        seconds = sum(float(n) * BUDGET_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError(f"--budget {text!r}: give a time above zero")
    return seconds


def checked_space(model: str) -> dict[str, dict[str, Any]]:
    """The model's search space, every name a setting of its config and every range valid."""
    cls = registry.get_model_class(model)
    space = cls.search_space()
    fields = cls.Config.model_fields
    for name, spec in space.items():
        if name not in fields:
            raise ConfigError(f"model {model}: its search space names {name!r}, which its "
                              f"config lacks (settings: {', '.join(fields)})")
        choices = spec.get("choices")
        bounds = (spec.get("low"), spec.get("high"))
        if choices is None and not (None not in bounds and bounds[0] < bounds[1]):
            raise ConfigError(f"model {model}: search space of {name!r} needs low < high or "
                              "choices")
    return space


def is_integer(annotation: Any) -> bool:
    """int, or a union with an int arm (``int | Literal["auto"]``, constrained or not)."""
    arms = (typing.get_args(annotation)
            if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,))
    return any(arm is int or (typing.get_origin(arm) is typing.Annotated
                              and typing.get_args(arm)[0] is int) for arm in arms)


def suggest(trial: Any, space: dict[str, dict[str, Any]], config_cls: type) -> dict[str, Any]:
    """Settings for one trial: integers for int settings, floats otherwise, or a choice. The
    defaults trial draws nothing: a default the space cannot hold (train_targets "auto")
    stays the model's own instead of a random draw."""
    settings = {}
    for name, spec in space.items():
        if name not in trial.user_attrs.get(DEFAULTS_TRIAL, space):
            continue
        if "choices" in spec:
            settings[name] = trial.suggest_categorical(name, spec["choices"])
        elif is_integer(config_cls.model_fields[name].annotation):
            settings[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]),
                                               log=bool(spec.get("log")))
        else:
            settings[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                                 log=bool(spec.get("log")))
    return settings


def default_settings(space: dict[str, dict[str, Any]], config_cls: type,
                     fixed: dict[str, Any], model: str) -> dict[str, Any]:
    """The model's own defaults (with ``fixed``) for the searched settings that lie inside
    their search space (the defaults trial keeps the others' defaults too)."""
    defaults = build_config(config_cls, fixed, model).model_dump(mode="json")
    inside = {}
    for name, spec in space.items():
        value = defaults.get(name)
        if "choices" in spec:
            if value in spec["choices"]:
                inside[name] = value
        elif isinstance(value, int | float) and spec["low"] <= value <= spec["high"]:
            inside[name] = value
    return inside


def _enqueue_defaults(study: Any, space: dict[str, dict[str, Any]], config_cls: type,
                      fixed: dict[str, Any], model: str) -> None:
    """A new study's first trial is the model's defaults, so that a search whose budget allows
    only a trial or two (a neural model on a large data set) never returns settings worse on
    validation than the defaults it was meant to improve."""
    settings = default_settings(space, config_cls, fixed, model)
    if settings:
        study.enqueue_trial(settings, user_attrs={DEFAULTS_TRIAL: sorted(settings)},
                            skip_if_exists=True)


def tune(
    model: str, spec: DataSpec, out: Path | None, *, budget: float | None = None,
    trials: int | None = None, patience: int | None = DEFAULT_PATIENCE,
    fixed: dict[str, Any] | None = None,
    monitor: str = DEFAULT_MONITOR, storage: str | None = None, jobs: int = 1,
    resume: bool = False, force: bool = False, seed: int = 0,
    progress: ProgressFactory = silent_progress, ctx: FitContext | None = None,
    prepared: tuple[Any, Split] | None = None,
) -> TuneResult:
    """Search ``model``'s settings on the validation targets for ``budget`` seconds and/or
    ``trials`` trials, stopping early after ``patience`` finished trials without a better one
    (``out`` None: nothing written, the study in memory)."""
    fixed = dict(fixed or {})
    if monitor not in METRIC_KEYS:
        raise ConfigError(f"--monitor {monitor!r}: not a metric; choose one of "
                          f"{', '.join(METRIC_KEYS)}")
    if budget is None and trials is None:
        raise ConfigError("give --budget (such as 10m) or --trials N, or both")
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials {trials}: give at least 1")
    if patience is not None and patience < 1:
        raise ConfigError(f"--patience {patience}: give at least 1")
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give at least 1")
    space = checked_space(model)
    config_cls = registry.get_model_class(model).Config
    # Fixed settings fail now, not in every trial, and are kept as validated values.
    validated = build_config(config_cls, fixed, model).model_dump(mode="json")
    fixed = {k: validated[k] for k in fixed}
    overlap = sorted(set(fixed) & set(space))
    if overlap:
        raise ConfigError(f"--set {', '.join(overlap)}: searched by tune; fixing a searched "
                          "setting leaves nothing to search (drop it from --set)")
    work = _check_out(Path(out), resume, force, storage) if out is not None else None
    url = storage or (_sqlite_url(work) if work is not None else None)
    dataset, split = prepared or prepare(spec)
    started = time.perf_counter()
    study = _study(model, url, dataset.fingerprint, monitor, space, seed)
    if space and not study.trials:
        _enqueue_defaults(study, space, config_cls, fixed, model)
    if space:
        goal = dict(model=model, space=space, fixed=fixed, monitor=monitor, seed=seed,
                    patience=patience)
        helpers = _start_helpers(jobs - 1, goal, spec, url, budget, trials, ctx) if jobs > 1 \
            else []
        _optimize(study, dataset, split, goal, budget, trials, progress, ctx, jobs)
        for helper in helpers:
            helper.join()
    seconds = time.perf_counter() - started
    final_url = storage or (_sqlite_url(Path(out)) if out is not None else None)
    result = _result(study, model, out, monitor, fixed, space, seconds, final_url)
    if work is not None:
        _write(work, result, spec)
        if work != Path(out):
            replace_folder(work, Path(out))  # the new search replaces the old one, whole
    return result


def _sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder.resolve() / STUDY_FILE}"


def _check_out(out: Path, resume: bool, force: bool, storage: str | None) -> Path:
    """Where the search writes: ``out``, or beside it when ``force`` replaces a finished
    search (kept until the new one is written; ``resume`` continues one interrupted)."""
    settle_folder(out)  # a replacement a crash cut short between its renames
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"--out {out}: is a file; choose a folder")
    holds_study = (out / STUDY_FILE).is_file() or (out / SUMMARY_FILE).is_file()
    if holds_study and force and storage is None:
        if (out / BEST_FILE).is_file():  # a finished search: kept until the new one is written
            return successor_folder(out, STUDY_FILES, "study", resume)
        for name in STUDY_FILES:  # a search that never finished: nothing finished to keep
            (out / name).unlink(missing_ok=True)
    elif holds_study and force:
        pass  # the study is --storage's; the files here are replaced when the search ends
    elif holds_study and not resume and storage is None:
        raise ArtifactError(f"--out {out}: holds a study already; pass --resume to continue it, "
                            "--force to start again, or choose another --out")
    elif out.is_dir() and any(out.iterdir()) and not holds_study:
        raise ArtifactError(f"--out {out}: holds files that are not a basket study; choose "
                            "another --out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _storage(url: str | None) -> Any:
    import warnings

    import optuna

    # The heartbeat is marked experimental; it is the documented way to fail a killed trial.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if url is None:
        return optuna.storages.InMemoryStorage()
    engine = {"connect_args": {"timeout": LOCK_SECONDS}} if url.startswith("sqlite") else {}
    for attempt in range(3):
        try:
            # A heartbeat marks the trials of a killed process as failed once the grace
            # period is over, so a resumed or shared study does not wait for them.
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=30,
                                              grace_period=120)
        except Exception as exc:  # SQLAlchemy raises many types for a bad URL or database
            racing = "already exists" in str(exc) or "UNIQUE" in str(exc)
            if attempt < 2 and racing:
                time.sleep(0.5 + attempt)  # another process was creating the tables
                continue
            text = str(exc).strip()
            reason = text.splitlines()[0][:160] if text else type(exc).__name__
            raise ConfigError(f"--storage {url}: cannot open the study database ({reason})"
                              ) from None
    raise AssertionError("unreachable")


def _study(model: str, url: str | None, fingerprint: str, monitor: str,
           space: dict[str, Any], seed: int) -> Any:
    """The study (new, or the one in ``url`` when it was made for the same model, data,
    metric and search space; anything else is an ArtifactError)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(url)
    name = f"basket-{model}"
    identity = {"model": model, "data_fingerprint": fingerprint, "monitor": monitor,
                "search_space": json.loads(json.dumps(space))}
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)] if url else []
    if names and name not in names:
        raise ArtifactError(f"{url}: holds the study of another model ({', '.join(names)}); "
                            "choose another --out or --storage")
    # Processes sharing a database may create the study at the same moment: one does.
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                sampler=_sampler(seed), pruner=_pruner(), load_if_exists=True)
    if not study.user_attrs:
        for key, value in identity.items():
            study.set_user_attr(key, value)
        return study
    study.sampler = _sampler(seed, study)
    for key, value in identity.items():
        recorded = study.user_attrs.get(key)
        if recorded != value:
            what = {"data_fingerprint": "other data", "monitor": "another metric",
                    "search_space": "another search space", "model": "another model"}[key]
            raise ArtifactError(f"{url}: the study was made on {what} ({key} differs); "
                                "choose another --out or --storage, or --force a new study")
    return study


def _sampler(seed: int, study: Any = None, process: int = 0) -> Any:
    """TPE seeded by ``seed``, the trials ``study`` has finished and the ``process`` index: a
    resumed study would otherwise draw the settings of its first trials again."""
    import optuna

    finished = 0 if study is None else len(study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                                optuna.trial.TrialState.FAIL)))
    return optuna.samplers.TPESampler(seed=seed + SEED_STRIDE * finished + process)


def _pruner() -> Any:
    import optuna

    # A trial stops when, at the same epoch, it is below the median of the trials before it.
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)


def _optimize(study: Any, dataset: Any, split: Split, goal: dict[str, Any],
              budget: float | None, trials: int | None, progress: ProgressFactory,
              ctx: FitContext | None, workers: int) -> None:
    """Run trials in this process until the budget or the trial count (over every process
    sharing the study) is reached."""
    import optuna

    model, space, fixed, monitor = goal["model"], goal["space"], goal["fixed"], goal["monitor"]
    config_cls = registry.get_model_class(model).Config
    base = ctx or FitContext()
    threads = max(1, base.n_threads // workers)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def objective(trial: Any) -> float:
        settings = {**fixed, **suggest(trial, space, config_cls)}

        def report(step: int, metrics: dict[str, float]) -> None:
            trial.report(float(metrics[monitor]), step)
            if trial.should_prune():
                raise optuna.TrialPruned

        fitted = create_model(model, settings)
        fit_model(fitted, dataset, split,
                  FitContext(device=base.device, n_threads=threads, report=report))
        value = evaluate_model(fitted, split.valid, [Variant(threshold=getattr(
            fitted.config, "threshold", 0.5))])[0].metrics[monitor]
        return float(value) if math.isfinite(value) else float("-inf")

    callbacks = []
    if trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(trials, states=finished))
    if goal.get("patience"):
        callbacks.append(_stop_without_progress(goal["patience"], finished))
    total = trials if trials is not None else None
    with progress(f"tuning {model} ({monitor} on validation)", total) as task:
        def shown(study: Any, trial: Any) -> None:
            done = [t for t in study.trials if t.state in finished]
            best = max((t.value for t in done if t.value is not None), default=None)
            task.advance(1, trial=trial.number, best=best if best is not None else "-")

        callbacks.append(shown)
        study.optimize(objective, n_trials=None if budget else trials, timeout=budget,
                       callbacks=callbacks, catch=())


def _stop_without_progress(patience: int, finished: tuple) -> Callable[[Any, Any], None]:
    """A callback that stops the study once ``patience`` finished trials came after the best
    one: a cheap model's search settles long before a time budget runs out."""
    import optuna

    def callback(study: Any, trial: Any) -> None:
        done = study.get_trials(deepcopy=False, states=finished)
        scored = [t for t in done if t.state == optuna.trial.TrialState.COMPLETE
                  and math.isfinite(t.value)]
        if not scored:
            return
        best = max(scored, key=lambda t: (t.value, -t.number)).number
        if sum(t.number > best for t in done) >= patience:
            study.stop()

    return callback


def _start_helpers(count: int, goal: dict[str, Any], spec: DataSpec, url: str | None,
                   budget: float | None, trials: int | None, ctx: FitContext | None) -> list:
    """``count`` more processes working on the same study (its database shares it)."""
    if url is None:
        raise ConfigError("--jobs above 1 needs a study database (--out or --storage)")
    context = multiprocessing.get_context("spawn")
    threads = (ctx.n_threads if ctx else FitContext().n_threads)
    helpers = []
    for index in range(count):
        process = context.Process(target=_helper, args=(
            goal, spec.model_dump(), url, budget, trials, index + 1, threads // (count + 1) or 1,
            ctx.device if ctx else "auto"))
        process.start()
        helpers.append(process)
    return helpers


def _helper(goal: dict[str, Any], spec: dict[str, Any], url: str, budget: float | None,
            trials: int | None, index: int, threads: int, device: str) -> None:
    """One more worker on a shared study (a separate process)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dataset, split = prepare(DataSpec.model_validate(spec))
    study = optuna.load_study(study_name=f"basket-{goal['model']}", storage=_storage(url),
                              pruner=_pruner())
    study.sampler = _sampler(goal["seed"], study, index)
    _optimize(study, dataset, split, goal, budget, trials, silent_progress,
              FitContext(n_threads=threads, device=device), 1)


def _result(study: Any, model: str, out: Path | None, monitor: str, fixed: dict[str, Any],
            space: dict[str, Any], seconds: float, url: str | None) -> TuneResult:
    import optuna

    rows = []
    for t in study.trials:
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append(TrialRow(number=t.number, state=t.state.name, value=t.value,
                             settings=dict(t.params), seconds=duration))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value) if complete else None
    settings = {**fixed, **(best.params if best else {})}
    finished = sum(r.state in ("COMPLETE", "PRUNED") for r in rows)
    return TuneResult(
        model=model, out=str(out) if out else None, monitor=monitor,
        best_value=best.value if best else None, best_settings=settings, trials=rows,
        seconds=seconds, trials_per_minute=finished / max(seconds / 60, 1e-9),
        storage=url, search_space=space)


def _write(out: Path, result: TuneResult, spec: DataSpec) -> None:
    atomic_write_json(out / BEST_FILE, result.best_settings)
    if result.trials:
        atomic_write_text(out / TRIALS_FILE, rows_csv(result.rows()))
    atomic_write_json(out / SUMMARY_FILE, {**result.model_dump(), "data":
                                           spec.model_dump(mode="json"), "finished": now_iso()})
