"""`basket compare`: several models on one split, one table, with intervals and verdicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import (
    BootstrapOpt,
    BudgetOpt,
    DeviceOpt,
    ExcludeOpt,
    FormatOpt,
    JsonOpt,
    MetricsOpt,
    NewOnlyOpt,
    PatienceOpt,
    PerCustomerOpt,
    RepeatOnlyOpt,
    SizingOpt,
    ThresholdOpt,
    TrialsOpt,
    complete_models,
    data_options,
    metric_keys,
    only_of,
    output_format,
)
from basketcli.cli.ui import emit_result, progress_bars, warn

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
def compare_command(
    models: Annotated[str | None, typer.Option(
        "--models", help="comma-separated model names or run directories (default: every "
        "installed model)", autocompletion=complete_models)] = None,
    threshold: ThresholdOpt = None, sizing: SizingOpt = None, device: DeviceOpt = "auto",
    no_reference: Annotated[bool, typer.Option(
        "--no-reference", help="leave out the reference rows every comparison adds "
        "(G-TopFreq, P-TopFreq, TIFU-KNN)")] = False,
    reference: Annotated[str | None, typer.Option(
        "--reference", help="compare every model with this one: a model name or a run directory "
        "of --models (default: the best reference baseline of the run, per metric)")] = None,
    seeds: Annotated[int, typer.Option(
        "--seeds", min=1, help="fit each learned model with this many seeds (0..N-1); rows "
        "show the mean, and the spread over seeds is shown beside the intervals")] = 1,
    tune: Annotated[bool, typer.Option(
        "--tune",
        help="first tune every model (references too) on the validation targets, "
        "each for --budget and/or --trials, then test each with its best settings")] = False,
    budget: BudgetOpt = None, trials: TrialsOpt = None, patience: PatienceOpt = 100,
    bootstrap: BootstrapOpt = 1000, per_customer: PerCustomerOpt = None,
    exclude: ExcludeOpt = None, new_only: NewOnlyOpt = False, repeat_only: RepeatOnlyOpt = False,
    metrics: MetricsOpt = None, fmt: FormatOpt = "table", json_out: JsonOpt = False,
    *, spec: DataSpec,
) -> None:
    """Fit and evaluate several models on one split: metrics with 95% intervals, and whether
    each model beats the best reference baseline (paired bootstrap, Holm-adjusted). With
    --exclude, --new-only or --repeat-only, of what each may recommend so restricted."""
    from basketcli import registry
    from basketcli.errors import ConfigError
    from basketcli.protocol import FitContext
    from basketcli.render import compare_report
    from basketcli.sizing import parse_sizing
    from basketcli.workflows.evaluate import compare
    from basketcli.workflows.tune import parse_budget

    fmt = output_format(fmt, json_out)
    if (budget is not None or trials is not None) and not tune:
        raise ConfigError("--budget and --trials go with --tune")
    if tune and budget is None and trials is None:
        budget = "5m"  # per model
    keys = metric_keys(metrics)
    if models is None:
        targets = [name for name in registry.list_models() if _available(name)]
    else:
        targets = [m.strip() for m in models.split(",") if m.strip()]
        if not targets:
            raise ConfigError("--models: give at least one model name")
    rule = parse_sizing(sizing) if sizing else None
    only = only_of(new_only, repeat_only)
    with progress_bars(bars=fmt == "table") as progress:
        result = compare(
            targets, spec, reference=not no_reference, threshold=threshold, sizing=rule,
            ctx=FitContext(progress=progress, device=device), bootstrap=bootstrap,
            against=reference, seeds=seeds, per_customer=per_customer,
            tune_budget=parse_budget(budget) if tune else None,
            tune_trials=trials if tune else None, tune_patience=patience, exclude=exclude,
            only=only)
    emit_result(fmt, result.model_dump(), lambda: result.records(keys),
                lambda width: compare_report(result, keys, width))


def _available(name: str) -> bool:
    """Whether a model's plugin imports (compare-all skips broken plugins with a warning)."""
    from basketcli import registry
    from basketcli.errors import BasketError

    try:
        registry.get_model_class(name)
    except BasketError as exc:
        warn(f"skipping {name}: {exc.message}")
        return False
    return True
