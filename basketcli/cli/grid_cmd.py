"""`basket grid`: the pos_weight x threshold search of the original report, for any model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import (
    ConfigOpt,
    DeviceOpt,
    ForceOpt,
    JsonOpt,
    ModelOpt,
    ResumeOpt,
    SetOpt,
    data_options,
    model_settings,
)
from basketcli.cli.ui import console, emit_json, progress_bars, warn

if TYPE_CHECKING:
    from rich.table import Table

    from basketcli.data.source import DataSpec
    from basketcli.grid import GridResult, HeatMap

HEAT_COLOURS = ("red", "dark_orange", "yellow", "green_yellow", "green")


@data_options
def grid_command(
    model: ModelOpt,
    param: Annotated[list[str], typer.Option(
        "--param", help="hyperparameter and its values, e.g. pos_weight=1,5,10 (repeatable; "
        "each value is validated before anything runs)")],
    threshold: Annotated[str | None, typer.Option(
        "--threshold", help="probability thresholds for f1_micro, e.g. 0.3,0.4,0.5 (scored on "
        "each fitted model without retraining; ignored with a warning for rankers)")] = None,
    sizing: Annotated[list[str] | None, typer.Option(
        "--sizing", help="basket size rules for basket_f1, e.g. top-k:5,top-k:10 "
        "(post-hoc, like --threshold)")] = None,
    sort: Annotated[str, typer.Option(
        "--sort", help="validation metric that ranks the rows")] = "f1_micro",
    jobs: Annotated[int | None, typer.Option(
        "--jobs", min=1, help="parallel fits (default: the number of CPU cores)")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="folder for runs/, grid.csv, grid.json, heatmap.png "
        "(default: grids/MODEL)")] = None,
    resume: ResumeOpt = False, force: ForceOpt = False,
    set_: SetOpt = None, config: ConfigOpt = None, device: DeviceOpt = "auto",
    json_out: JsonOpt = False, *, spec: DataSpec,
) -> None:
    """Fit MODEL for every --param combination, score thresholds post hoc, test the best once.

    Rows are validation metrics; the best row (by --sort) is then evaluated on the test targets.
    """
    from basketcli import grid

    params = grid.parse_params(param)
    thresholds = grid.parse_thresholds(threshold)
    sizings = grid.parse_sizings(sizing)
    with progress_bars(not json_out) as progress:
        result = grid.grid(
            model, params, spec, out or Path("grids") / model,
            fixed=model_settings(set_, config), thresholds=thresholds, sizings=sizings,
            sort=sort, jobs=jobs, resume=resume, force=force, device=device,
            progress=progress)
    for note in result.notes:
        warn(note)
    if json_out:
        emit_json(result.payload())
        return
    render_result(result)


def render_result(result: GridResult) -> None:
    from basketcli.grid import TABLE_KEYS
    from basketcli.render import metrics_table

    keys = TABLE_KEYS if result.sort in TABLE_KEYS else (*TABLE_KEYS, result.sort)
    labels = tuple(result.param_names)
    rows = [_labelled(row, labels) for row in result.rows]
    fitted = f"{result.runs_fitted} of {result.runs_total} runs fitted now"
    console.print(metrics_table(
        rows, f"grid {result.model}: validation metrics sorted by {result.sort} ({fitted})",
        keys=keys, label_columns=labels, highlight_row=0))
    console.print(metrics_table(
        [_labelled(result.test, labels)], "best setting on the test targets (evaluated once)",
        keys=keys, label_columns=labels))
    if result.heatmap_png:
        console.print(f"heat map of {result.sort}: {result.heatmap_png}", highlight=False)
    elif result.heatmap is not None:
        console.print(heat_grid(result.heatmap))
    console.print(f"saved grid.csv, grid.json and runs/ in {result.out}", highlight=False)


def _labelled(row: dict, labels: tuple[str, ...]) -> dict:
    from basketcli.grid import format_value

    return {**row, **{k: format_value(row[k]) for k in labels}}


def heat_grid(heatmap: HeatMap) -> Table:
    """The heat map as a coloured Rich table (when matplotlib is not installed)."""
    from basketcli.render import new_table

    table = new_table(f"{heatmap.metric} (validation)")
    table.add_column(f"{heatmap.row_name} \\ {heatmap.col_name}", no_wrap=True)
    for label in heatmap.col_labels:
        table.add_column(label, justify="right")
    present = [v for row in heatmap.values for v in row if v is not None]
    low, high = (min(present), max(present)) if present else (0.0, 0.0)
    for label, values in zip(heatmap.row_labels, heatmap.values, strict=True):
        cells = []
        for value in values:
            if value is None:
                cells.append("-")
                continue
            share = 0.0 if high == low else (value - low) / (high - low)
            colour = HEAT_COLOURS[min(int(share * len(HEAT_COLOURS)), len(HEAT_COLOURS) - 1)]
            style = f"bold {colour}" if value == high else colour
            cells.append(f"[{style}]{value:.4f}[/]")
        table.add_row(label, *cells)
    return table
