"""`basket train`: fit one model and save a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from basketcli.cli.app import app
from basketcli.cli.options import (
    CatalogOpt, ConfigOpt, DataOpt, DeviceOpt, ItemColOpt, JsonOpt, MinItemCountOpt, OrderColOpt,
    SetOpt, TimeColOpt, TopItemsOpt, UserColOpt, data_spec, model_settings,
)
from basketcli.cli.ui import cli_errors, console, emit_json, progress_bars


@app.command("train")
def train_command(
    model: Annotated[str, typer.Option("--model", help="registered model name (see 'basket models')")],
    out: Annotated[Path | None, typer.Option("--out", help="run directory to write (default: runs/MODEL)")] = None,
    data: DataOpt = "sample", catalog: CatalogOpt = None, min_item_count: MinItemCountOpt = 1,
    top_items: TopItemsOpt = None, user_col: UserColOpt = "user_id",
    item_col: ItemColOpt = "product_id", order_col: OrderColOpt = None, time_col: TimeColOpt = None,
    set_: SetOpt = None, config: ConfigOpt = None, device: DeviceOpt = "auto",
    force: Annotated[bool, typer.Option("--force", help="replace an existing run directory")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Fit a model on the training part, report validation metrics, save RUN_DIR."""
    from basketcli import workflows
    from basketcli.protocol import FitContext
    from basketcli.render import metrics_table

    with cli_errors():
        settings = model_settings(set_, config)
        spec = data_spec(data, catalog, min_item_count, top_items, user_col, item_col,
                         order_col, time_col)
        out = out or Path("runs") / model
        with progress_bars(not json_out) as progress:
            result = workflows.train(model, spec, settings, out, force=force,
                                     ctx=FitContext(progress=progress, device=device))
        if json_out:
            emit_json(result.model_dump())
            return
        row = {"model": result.model, **result.validation, "fit seconds": result.fit_seconds}
        console.print(metrics_table([row], f"validation metrics; saved {result.run_dir}",
                                    extra_columns=("fit seconds",)))
