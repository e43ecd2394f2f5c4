"""`basket evaluate`: test-split metrics of a model or a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from basketcli.cli.app import app
from basketcli.cli.options import (
    CatalogOpt,
    ConfigOpt,
    DataOpt,
    DeviceOpt,
    ItemColOpt,
    JsonOpt,
    MaxMemoryOpt,
    MinItemCountOpt,
    OrderColOpt,
    SetOpt,
    SizingOpt,
    ThresholdOpt,
    TimeColOpt,
    TopItemsOpt,
    UserColOpt,
    data_spec,
    model_settings,
)
from basketcli.cli.ui import cli_errors, console, emit_json, progress_bars


@app.command("evaluate")
def evaluate_command(
    run_dir: Annotated[Path | None, typer.Argument(
        help="a run directory made by 'basket train'")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="fit this model now and evaluate it")] = None,
    data: DataOpt = "sample", catalog: CatalogOpt = None, min_item_count: MinItemCountOpt = 1,
    top_items: TopItemsOpt = None, user_col: UserColOpt = "user_id",
    item_col: ItemColOpt = "product_id", order_col: OrderColOpt = None, time_col: TimeColOpt = None,
    max_memory: MaxMemoryOpt = None,
    set_: SetOpt = None, config: ConfigOpt = None, threshold: ThresholdOpt = 0.5,
    sizing: SizingOpt = None, device: DeviceOpt = "auto",
    importance: Annotated[bool, typer.Option(
        "--importance", help="also print the model's top features (models that have them)",
    )] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print a model's metrics on the test targets (fit now with --model, or a saved RUN_DIR)."""
    from basketcli import workflows
    from basketcli.errors import ConfigError
    from basketcli.protocol import FitContext
    from basketcli.render import compare_table, new_table
    from basketcli.sizing import parse_sizing

    with cli_errors():
        if (run_dir is None) == (model is None):
            raise ConfigError("give either a RUN_DIR or --model NAME")
        rule = parse_sizing(sizing) if sizing else None
        explicit_data = (data != "sample" or catalog is not None or top_items is not None
                         or min_item_count > 1)
        spec = data_spec(data, catalog, min_item_count, top_items, user_col, item_col,
                         order_col, time_col, max_memory)
        with progress_bars(not json_out) as progress:
            ctx = FitContext(progress=progress, device=device)
            if run_dir is not None:
                result, fitted = workflows.evaluate(
                    str(run_dir), spec if explicit_data else None, threshold=threshold,
                    sizing=rule, ctx=ctx, from_run=True)
            else:
                result, fitted = workflows.evaluate(
                    model, spec, model_settings(set_, config), threshold=threshold, sizing=rule,
                    ctx=ctx)
        top_features = None
        if importance:
            if not hasattr(fitted, "feature_importance"):
                raise ConfigError(f"model {fitted.name} has no feature importance")
            top_features = fitted.feature_importance()
        if json_out:
            payload = result.model_dump()
            if top_features is not None:
                payload["importance"] = top_features
            emit_json(payload)
            return
        console.print(compare_table(result))
        if top_features is not None:
            table = new_table("feature importance (gain)")
            table.add_column("feature")
            table.add_column("gain", justify="right")
            for name, gain in top_features.items():
                table.add_row(name, f"{gain:.2f}")
            console.print(table)
