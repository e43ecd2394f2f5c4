"""`basket evaluate` and `basket compare`: test-target metrics of models, one row each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from basketcli.data.source import DataSpec
from basketcli.data.split import Split
from basketcli.evaluation import Variant, evaluate_model
from basketcli.protocol import BasketModel, FitContext
from basketcli.runs import (
    check_vocabulary,
    create_model,
    data_summary,
    fit_model,
    is_run_dir,
    load_run,
    prepare,
)
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


def test_row(
    model: BasketModel, source: str, split: Split, threshold: float, sizing: SizingRule | None,
    fit_seconds: float | None, ctx: FitContext,
) -> ModelResult:
    """Every metric of a fitted model on the test targets."""
    result = evaluate_model(model, split.test, [Variant(threshold, sizing)],
                            progress=ctx.progress)[0]
    return ModelResult(name=model.name, source=source, metrics=result.metrics,
                       sizing=result.sizing_label, fit_seconds=fit_seconds,
                       score_seconds=result.score_seconds)


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
        dataset, split = prepare(spec or DataSpec.model_validate(info.data))
        check_vocabulary(info, dataset, Path(target))
    else:
        model = create_model(target, settings)
        dataset, split = prepare(spec or DataSpec())
        _, fit_seconds = fit_model(model, dataset, split, ctx)
    row = test_row(model, str(target), split, threshold, sizing, fit_seconds, ctx)
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
    planned: list[tuple[str, BasketModel, bool]] = []
    for target in names:
        if is_run_dir(target):
            model, info = load_run(Path(target), ctx.device)
            check_vocabulary(info, dataset, Path(target))
            planned.append((target, model, True))
        else:
            planned.append((target, create_model(target), False))
    rows = []
    for target, model, saved in planned:
        fit_seconds = None if saved else fit_model(model, dataset, split, ctx)[1]
        # A ranker cannot be sized by probability: it keeps its own top-k rule.
        usable = sizing is None or model.gives_probabilities or not sizing.needs_probabilities
        rows.append(test_row(model, target, split, threshold, sizing if usable else None,
                             fit_seconds, ctx))
    return CompareResult(data=data_summary(dataset, split), models=rows)
