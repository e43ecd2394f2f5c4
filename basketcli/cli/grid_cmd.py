"""`basket grid`: the pos_weight x threshold search of the original report, for any model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from basketcli.cli.options import (
    DeviceOpt,
    ForceOpt,
    FormatOpt,
    JsonOpt,
    ModelOpt,
    ResumeOpt,
    data_options,
    output_format,
    settings_options,
)
from basketcli.cli.ui import emit_result, progress_bars, warn

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
@settings_options
def grid_command(
    model: ModelOpt,
    param: Annotated[list[str], typer.Option(
        "--param", help=escape(
            "hyperparameter and its values, e.g. pos_weight=1,5,10 (repeatable; each value is "
            "validated before anything runs); commas part the values, so bracket each value of "
            "a list setting: 'models=[upcf,taiw],[tifuknn]' (or give JSON lists)"))],
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
    device: DeviceOpt = "auto",
    fmt: FormatOpt = "table", json_out: JsonOpt = False,
    *, spec: DataSpec, settings: dict[str, Any],
) -> None:
    """Fit MODEL for every --param combination, score thresholds post hoc, test the best once.

    Rows are validation metrics; the best row (by --sort) is then evaluated on the test targets.
    """
    from basketcli.cli.parsing import parse_params, parse_sizings, parse_thresholds
    from basketcli.render import grid_report
    from basketcli.workflows.grid import grid

    fmt = output_format(fmt, json_out)
    params = parse_params(param)
    thresholds = parse_thresholds(threshold)
    sizings = parse_sizings(sizing)
    with progress_bars(bars=fmt == "table") as progress:
        result = grid(
            model, params, spec, out or Path("grids") / model,
            fixed=settings, thresholds=thresholds, sizings=sizings,
            sort=sort, jobs=jobs, resume=resume, force=force, device=device,
            progress=progress)
    for note in result.notes:
        warn(note)
    emit_result(fmt, result.payload(), lambda: result.rows,
                lambda width: grid_report(result, width))
