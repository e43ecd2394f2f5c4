"""`basket evaluate`: test-split metrics of a model or a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from basketcli.cli.options import (
    BootstrapOpt,
    DeviceOpt,
    ExcludeOpt,
    FormatOpt,
    JsonOpt,
    MetricsOpt,
    NewOnlyOpt,
    PerCustomerOpt,
    RepeatOnlyOpt,
    SizingOpt,
    ThresholdOpt,
    complete_model,
    data_options,
    data_spec,
    metric_keys,
    only_of,
    output_format,
    settings_options,
)
from basketcli.cli.ui import emit_result, progress_bars

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
@settings_options
def evaluate_command(
    run_dir: Annotated[Path | None, typer.Argument(
        help="a run directory made by 'basket train'")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="fit this model now and evaluate it",
        autocompletion=complete_model)] = None,
    threshold: ThresholdOpt = None,
    sizing: SizingOpt = None, device: DeviceOpt = "auto",
    importance: Annotated[bool, typer.Option(
        "--importance",
        help="also print the model's top features (models that have them)",
    )] = False,
    bootstrap: BootstrapOpt = 1000, per_customer: PerCustomerOpt = None,
    exclude: ExcludeOpt = None, new_only: NewOnlyOpt = False, repeat_only: RepeatOnlyOpt = False,
    metrics: MetricsOpt = None, fmt: FormatOpt = "table", json_out: JsonOpt = False,
    *, spec: DataSpec, settings: dict[str, Any],
) -> None:
    """Print a model's metrics on the test targets (fit now with --model, or a saved RUN_DIR)."""
    from basketcli.errors import ConfigError
    from basketcli.protocol import FitContext
    from basketcli.render import compare_report, field_table
    from basketcli.sizing import parse_sizing
    from basketcli.workflows.evaluate import evaluate

    fmt = output_format(fmt, json_out)
    keys = metric_keys(metrics)
    if (run_dir is None) == (model is None):
        raise ConfigError("give either a RUN_DIR or --model NAME")
    rule = parse_sizing(sizing) if sizing else None
    common = {"threshold": threshold, "sizing": rule, "bootstrap": bootstrap,
              "per_customer": per_customer, "exclude": exclude,
              "only": only_of(new_only, repeat_only)}
    with progress_bars(bars=fmt == "table") as progress:
        ctx = FitContext(progress=progress, device=device)
        if run_dir is not None:
            # A saved run is scored on the data it was trained on unless data options say
            # otherwise (--max-memory is no data option: it is not part of a spec's dump).
            given = spec if spec.model_dump() != data_spec().model_dump() else None
            result, fitted = evaluate(str(run_dir), given, ctx=ctx, from_run=True, **common)
        else:
            result, fitted = evaluate(model, spec, settings, ctx=ctx, **common)
    top_features = None
    if importance:
        if not hasattr(fitted, "feature_importance"):
            raise ConfigError(f"model {fitted.name} has no feature importance")
        top_features = fitted.feature_importance()
    payload = result.model_dump()
    if top_features is not None:
        payload["importance"] = top_features

    def parts(width: int) -> list:
        shown = compare_report(result, keys, width)
        if top_features is not None:
            shown.append(field_table("feature importance (gain)", top_features, 2,
                                     ("feature", "gain")))
        return shown

    emit_result(fmt, payload, lambda: result.records(keys), parts)
