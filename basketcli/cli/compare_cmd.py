"""`basket compare`: several models on one split, one table."""

from __future__ import annotations

from typing import Annotated

import typer

from basketcli.cli.app import app
from basketcli.cli.options import (
    CatalogOpt,
    DataOpt,
    DeviceOpt,
    ItemColOpt,
    JsonOpt,
    MaxMemoryOpt,
    MinItemCountOpt,
    OrderColOpt,
    SizingOpt,
    ThresholdOpt,
    TimeColOpt,
    TopItemsOpt,
    UserColOpt,
    data_spec,
)
from basketcli.cli.ui import cli_errors, console, emit_json, progress_bars


@app.command("compare")
def compare_command(
    models: Annotated[str | None, typer.Option(
        "--models", help="comma-separated model names or run directories (default: every "
        "installed model)")] = None,
    data: DataOpt = "sample", catalog: CatalogOpt = None, min_item_count: MinItemCountOpt = 1,
    top_items: TopItemsOpt = None, user_col: UserColOpt = "user_id",
    item_col: ItemColOpt = "product_id", order_col: OrderColOpt = None, time_col: TimeColOpt = None,
    max_memory: MaxMemoryOpt = None,
    threshold: ThresholdOpt = 0.5, sizing: SizingOpt = None, device: DeviceOpt = "auto",
    no_reference: Annotated[bool, typer.Option(
        "--no-reference", help="leave out the G-TopFreq and P-TopFreq reference rows")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Fit and evaluate several models on one split; print one table (best values highlighted)."""
    from basketcli import registry, workflows
    from basketcli.errors import ConfigError
    from basketcli.protocol import FitContext
    from basketcli.render import compare_table
    from basketcli.sizing import parse_sizing

    with cli_errors():
        if models is None:
            targets = [name for name in registry.list_models() if _available(name)]
        else:
            targets = [m.strip() for m in models.split(",") if m.strip()]
            if not targets:
                raise ConfigError("--models: give at least one model name")
        rule = parse_sizing(sizing) if sizing else None
        spec = data_spec(data, catalog, min_item_count, top_items, user_col, item_col,
                         order_col, time_col, max_memory)
        with progress_bars(not json_out) as progress:
            result = workflows.compare(
                targets, spec, reference=not no_reference, threshold=threshold, sizing=rule,
                ctx=FitContext(progress=progress, device=device))
        if json_out:
            emit_json(result.model_dump())
        else:
            console.print(compare_table(result))


def _available(name: str) -> bool:
    """Whether a model's plugin imports (compare-all skips broken plugins with a warning)."""
    from basketcli import registry
    from basketcli.cli.ui import warn
    from basketcli.errors import BasketError

    try:
        registry.get_model_class(name)
    except BasketError as exc:
        warn(f"skipping {name}: {exc.message}")
        return False
    return True
