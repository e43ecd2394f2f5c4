"""`basket evaluate` and `basket compare`: test-target metrics of models, one row each, with
95% bootstrap intervals over customers and paired comparisons against the best reference."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel

from basketcli.data.prepare import Dataset
from basketcli.data.source import DataSpec
from basketcli.data.split import EvalSet, Split
from basketcli.errors import ConfigError
from basketcli.evaluation import comparison
from basketcli.evaluation.bootstrap import CONFIDENCE, DEFAULT_RESAMPLES
from basketcli.evaluation.comparison import Versus
from basketcli.evaluation.metrics import COMPARED_KEYS, METRIC_KEYS
from basketcli.evaluation.scoring import (
    Evaluation,
    Variant,
    evaluate_model,
    target_repeat_share,
    threshold_of,
)
from basketcli.evaluation.selection import Restriction
from basketcli.protocol import BasketModel, FitContext
from basketcli.registry import create_model
from basketcli.reports import TABLE_SUFFIXES, write_table
from basketcli.sizing import SizingRule
from basketcli.workflows.predict.names import ProductResolver, read_exclusions
from basketcli.workflows.run_dirs import check_vocabulary, is_run_dir, load_run
from basketcli.workflows.steps import data_summary, fit_model, prepare
from basketcli.workflows.tune import tune

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_MODELS = ("gtopfreq", "ptopfreq", "tifuknn")  # in every comparison (DESIGN.md)
FEW_CUSTOMERS = 30  # below this, a comparison's intervals and verdicts mean little


class ModelResult(BaseModel):
    name: str
    source: str  # the model name, or the run directory it was loaded from
    reference: bool = False  # a reference baseline of the field
    stands_for: str | None = None  # the model whose scores it gave unchanged (a stack's fallback)
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = {}  # 95% bootstrap interval per metric
    versus: dict[str, Versus] = {}  # per compared metric, against the run's best reference
    seeds: int = 1  # fits averaged into this row (--seeds)
    seed_spread: dict[str, float] = {}  # standard deviation of each metric over the seeds
    settings: dict[str, Any] = {}  # tuned on the validation targets (compare --tune)
    tune_seconds: float | None = None
    tune_trials: int | None = None
    sizing: str
    threshold: float | None = None  # f1_micro's probability threshold (None: a ranker's top 10)
    fit_seconds: float | None = None
    score_seconds: float


class CompareResult(BaseModel):
    data: dict[str, Any]
    models: list[ModelResult]
    bootstrap: dict[str, Any] = {}  # resamples, seed, confidence; empty when turned off

    def records(self, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One flat record per model (CSV, Markdown, pandas): every metric of ``keys`` with
        its interval and seed spread, the comparisons with the reference, the timings."""
        records = []
        for m in self.models:
            record: dict[str, Any] = {"model": m.name, "source": m.source,
                                      "stands_for": m.stands_for, "sizing": m.sizing,
                                      "seeds": m.seeds}
            for key in keys or METRIC_KEYS:
                record[key] = m.metrics.get(key)
                if self.bootstrap:
                    record[f"{key} low"], record[f"{key} high"] = m.intervals.get(
                        key, (None, None))
                if m.seed_spread:
                    record[f"{key} seed sd"] = m.seed_spread.get(key)
            for key, v in m.versus.items():
                record.update({
                    f"{key} vs reference": v.reference, f"{key} difference": v.difference,
                    f"{key} difference low": v.low, f"{key} difference high": v.high,
                    f"{key} difference confidence": v.confidence, f"{key} p": v.p_value,
                    f"{key} verdict": v.verdict})
            record.update({"fit seconds": m.fit_seconds, "score seconds": m.score_seconds})
            records.append(record)
        return records

    def to_pandas(self, keys: Sequence[str] | None = None) -> pd.DataFrame:
        """``records`` as a DataFrame, one row per model."""
        import pandas as pd

        return pd.DataFrame(self.records(keys))


@dataclass
class _Scored:
    """A row and the per-customer metrics behind it (averaged over seeds)."""

    row: ModelResult
    per_user: dict[str, np.ndarray]


def evaluate(
    target: str, spec: DataSpec | None, settings: dict[str, Any] | None = None, *,
    threshold: float | None = None, sizing: SizingRule | None = None,
    ctx: FitContext | None = None, from_run: bool = False,
    bootstrap: int = DEFAULT_RESAMPLES, bootstrap_seed: int = 0,
    per_customer: Path | None = None, exclude: Path | None = None,
    only: Literal["new", "repeat"] | None = None,
) -> tuple[CompareResult, BasketModel]:
    """Test-split metrics of a model name (fitted now) or of a saved run directory; of what
    it may recommend without the products ``exclude`` lists, and ``only`` new or repeat ones
    when given (what a restriction costs)."""
    ctx = ctx or FitContext()
    check_outputs(bootstrap, per_customer)
    fit_seconds: float | None = None
    if from_run:
        model, info = load_run(Path(target), ctx.device)
        dataset, split = prepare(spec or DataSpec.model_validate(info.data))
        check_vocabulary(info, dataset, Path(target))
    else:
        model = create_model(target, settings)
        dataset, split = prepare(spec or DataSpec())
    restriction = restriction_for(dataset, exclude, only)
    if not from_run:
        _, fit_seconds = fit_model(model, dataset, split, ctx)
    evaluation = _test(model, split, threshold, sizing, ctx, restriction)
    scored = [_scored(model, str(target), [evaluation], fit_seconds)]
    return _result(scored, dataset, split, bootstrap, bootstrap_seed, None, per_customer,
                   restriction), model


def compare(
    targets: list[str], spec: DataSpec, *, reference: bool = True,
    threshold: float | None = None,
    sizing: SizingRule | None = None, ctx: FitContext | None = None,
    bootstrap: int = DEFAULT_RESAMPLES, bootstrap_seed: int = 0,
    against: str | None = None, seeds: int = 1, per_customer: Path | None = None,
    tune_budget: float | None = None, tune_trials: int | None = None,
    tune_patience: int | None = None, exclude: Path | None = None,
    only: Literal["new", "repeat"] | None = None,
) -> CompareResult:
    """Several models (names or run directories) on one split, one row each; learned models
    fitted ``seeds`` times. ``against``: the model every other is compared with (default: the
    best reference baseline of the run, per metric). With ``tune_budget`` and/or
    ``tune_trials``, every model named (references too) is first tuned on the validation
    targets, each for that budget (or until ``tune_patience`` trials bring nothing better), and
    tested with its best settings."""
    ctx = ctx or FitContext()
    check_outputs(bootstrap, per_customer)
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: give at least 1")
    names = list(dict.fromkeys(([*REFERENCE_MODELS] if reference else []) + list(targets)))
    if against is not None and against not in names:
        raise ConfigError(f"--reference {against}: not among the compared models "
                          f"({', '.join(names)}); add it to --models")
    dataset, split = prepare(spec)
    restriction = restriction_for(dataset, exclude, only)
    # Resolve every name before any fitting, so a typo fails fast.
    planned: list[tuple[str, BasketModel, bool]] = []
    for target in names:
        if is_run_dir(target):
            model, info = load_run(Path(target), ctx.device)
            check_vocabulary(info, dataset, Path(target))
            planned.append((target, model, True))
        else:
            planned.append((target, create_model(target), False))
    tuning = tune_budget is not None or tune_trials is not None
    scored = []
    for target, model, saved in planned:
        # A ranker cannot be sized by probability: it keeps its own top-k rule.
        usable = sizing is None or model.gives_probabilities or not sizing.needs_probabilities
        rule = sizing if usable else None
        if saved:
            evaluation = _test(model, split, threshold, rule, ctx, restriction)
            scored.append(_scored(model, target, [evaluation], None))
            continue
        tuned = (tune(target, spec, None, budget=tune_budget, trials=tune_trials,
                      patience=tune_patience,
                      prepared=(dataset, split), progress=ctx.progress, ctx=ctx)
                 if tuning else None)
        settings = tuned.best_settings if tuned else {}
        fits = [create_model(target, settings)] if model.reference or seeds == 1 else [
            create_model(target, {**settings, "seed": s}) for s in range(seeds)]
        seconds = [fit_model(fitted, dataset, split, ctx)[1] for fitted in fits]
        evaluations = [_test(fitted, split, threshold, rule, ctx, restriction) for fitted in fits]
        item = _scored(model, target, evaluations, float(np.mean(seconds)), fits[0])
        if tuned is not None:
            item.row.settings, item.row.tune_seconds = settings, tuned.seconds
            item.row.tune_trials = len(tuned.trials)
        scored.append(item)
    return _result(scored, dataset, split, bootstrap, bootstrap_seed, against, per_customer,
                   restriction)


def _test(model: BasketModel, split: Split, threshold: float | None, sizing: SizingRule | None,
          ctx: FitContext, restriction: Restriction | None) -> Evaluation:
    return evaluate_model(model, split.test, [Variant(threshold, sizing)],
                          progress=ctx.progress, restriction=restriction)[0]


def restriction_for(dataset: Dataset, exclude: Path | None,
                    only: Literal["new", "repeat"] | None) -> Restriction | None:
    """What may be recommended on ``dataset``: without the products ``exclude`` lists (names
    or ids), and ``only`` new or repeat products; None: anything."""
    if exclude is None and only is None:
        return None
    excluded = None
    if exclude is not None:
        resolver = ProductResolver(dataset.data.item_ids, None, dataset.catalog,
                                   run_dir=dataset.spec.describe())
        excluded = read_exclusions(Path(exclude), resolver, _warn)
    return Restriction(excluded, only)


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=2)


def _scored(model: BasketModel, source: str, evaluations: list[Evaluation],
            fit_seconds: float | None, fitted: BasketModel | None = None) -> _Scored:
    """One row from one or several fits (seeds) of a model (``fitted``, the first, when
    ``model`` is its unfitted plan): means over the fits."""
    first = evaluations[0]
    metrics = {k: float(np.mean([e.metrics[k] for e in evaluations])) for k in first.metrics}
    spread = ({k: float(np.std([e.metrics[k] for e in evaluations], ddof=1))
               for k in first.metrics} if len(evaluations) > 1 else {})
    with np.errstate(invalid="ignore"):  # NaN (undefined) customers stay NaN
        per_user = {k: np.mean([e.per_user[k] for e in evaluations], axis=0)
                    for k in first.per_user}
    row = ModelResult(
        name=model.name, source=source, reference=model.reference,
        stands_for=(fitted or model).stands_for(), metrics=metrics,
        seeds=len(evaluations), seed_spread=spread, sizing=first.sizing_label,
        threshold=threshold_of(first.variant, model),
        fit_seconds=fit_seconds,
        score_seconds=float(np.mean([e.score_seconds for e in evaluations])))
    return _Scored(row, per_user)


def check_outputs(bootstrap: int, per_customer: Path | None) -> None:
    """Refuse a bad --bootstrap or --per-customer before anything is fitted."""
    if bootstrap < 0:
        raise ConfigError(f"--bootstrap {bootstrap}: give a number of resamples, or 0")
    if per_customer is None:
        return
    path = Path(per_customer)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"--per-customer {path}: give a .csv or .parquet file name")
    if path.is_dir():
        raise ConfigError(f"--per-customer {path}: is a folder; give a file name")


def _result(scored: list[_Scored], dataset, split: Split, bootstrap: int, seed: int,
            against: str | None, per_customer: Path | None,
            restriction: Restriction | None) -> CompareResult:
    if per_customer is not None:
        write_per_customer(per_customer, split.test, scored)
    summary = {**data_summary(dataset, split),
               "target_repeat_share": target_repeat_share(split.test),
               "restriction": restriction.describe() if restriction is not None else None}
    if bootstrap and split.test.n_users < FEW_CUSTOMERS:
        _warn(f"only {split.test.n_users} customers are evaluated: with fewer than "
              f"{FEW_CUSTOMERS}, intervals and verdicts mean little")
    if bootstrap == 0 or not scored:
        return CompareResult(data=summary, models=[s.row for s in scored])
    add_uncertainty(scored, bootstrap, seed, against)
    method = ("percentile bootstrap over customers; comparisons paired, Holm-adjusted, "
              "difference intervals at Holm's level")
    return CompareResult(data=summary, models=[s.row for s in scored], bootstrap={
        "resamples": bootstrap, "seed": seed, "confidence": CONFIDENCE, "method": method})


def add_uncertainty(scored: list[_Scored], resamples: int, seed: int,
                    against: str | None) -> None:
    """Fill every row's intervals and, against the reference, its comparisons: every model is
    resampled on the same draws of customers, so differences are paired."""
    rows = [s.row for s in scored]
    keys = [k for k in rows[0].metrics if k in scored[0].per_user]
    resampled = comparison.resample([s.per_user for s in scored], keys, resamples, seed)
    for row, values in zip(rows, resampled, strict=True):
        row.intervals = comparison.intervals(values)
    candidates = _reference_candidates(rows, against)
    for key in COMPARED_KEYS:
        compared = comparison.against_best(key, [r.metrics for r in rows], resampled,
                                           candidates, [r.name for r in rows])
        for i, versus in compared.items():
            rows[i].versus[key] = versus


def _reference_candidates(rows: list[ModelResult], against: str | None) -> list[int]:
    """The rows the reference is the best of: ``against`` (a run directory by its path; a
    model name picks its fitted row, and only where there is none, the best run of that
    model), else the reference baselines."""
    if against is None:
        return [i for i, r in enumerate(rows) if r.reference]
    return ([i for i, r in enumerate(rows) if r.source == against]
            or [i for i, r in enumerate(rows) if r.name == against])


def write_per_customer(path: Path, eval_set: EvalSet, scored: list[_Scored]) -> None:
    """One row per customer and model with every per-customer metric: CSV, or Parquet for a
    .parquet/.pq path; written whole or not at all."""
    customers = np.tile(eval_set.history.user_ids, len(scored))
    models = np.repeat([item.row.source for item in scored], eval_set.n_users)
    keys = list(dict.fromkeys(k for item in scored for k in item.per_user if not k.startswith("_")))
    columns = {key: np.concatenate([item.per_user.get(key, np.full(eval_set.n_users, np.nan))
                                    for item in scored]) for key in keys}
    write_table(path, {"customer": customers, "model": models, **columns})
