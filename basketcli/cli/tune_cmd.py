"""`basket tune`: search a model's hyperparameters on the validation targets (Optuna)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from basketcli.cli.options import (
    BudgetOpt,
    DeviceOpt,
    ForceOpt,
    FormatOpt,
    JsonOpt,
    ModelOpt,
    PatienceOpt,
    TrialsOpt,
    data_options,
    output_format,
    settings_options,
)
from basketcli.cli.ui import emit_result, progress_bars

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
@settings_options
def tune_command(
    model: ModelOpt,
    budget: BudgetOpt = None, trials: TrialsOpt = None, patience: PatienceOpt = 100,
    out: Annotated[Path | None, typer.Option(
        "--out", help="run directory for study.db, best.json, trials.csv, tune.json "
        "(default: tuned/MODEL)")] = None,
    monitor: Annotated[str, typer.Option(
        "--monitor", help="validation metric to maximise")] = "ndcg@10",
    storage: Annotated[str | None, typer.Option(
        "--storage", help="the study's database as an Optuna/SQLAlchemy URL (default: SQLite "
        "in --out); workers on several machines running the same command with one URL "
        "share the study")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", min=1, help="processes running trials at once on this machine (they share "
        "the study and the CPU cores)")] = 1,
    resume: Annotated[bool, typer.Option(
        "--resume",
        help="continue the study in --out (a killed tune keeps its trials)")] = False,
    force: ForceOpt = False, seed: Annotated[int, typer.Option(
        "--seed", help="seed of the sampler")] = 0,
    device: DeviceOpt = "auto", fmt: FormatOpt = "table", json_out: JsonOpt = False,
    *, spec: DataSpec, settings: dict[str, Any],
) -> None:
    """Search MODEL's hyperparameters on the validation targets (never the test targets);
    write the best settings as a --config file for `basket train`.

    Each model declares its search space ('basket models --params MODEL'); --set fixes other
    settings. The first trial of a new study is the model's defaults. Trials that validate
    while training (neural models) stop early when they fall behind the median.
    """
    from basketcli.protocol import FitContext
    from basketcli.render import tune_report
    from basketcli.workflows.tune import parse_budget, tune

    fmt = output_format(fmt, json_out)
    seconds = parse_budget(budget)
    with progress_bars(bars=fmt == "table") as progress:
        result = tune(model, spec, out or Path("tuned") / model, budget=seconds, trials=trials,
                      patience=patience,
                      fixed=settings, monitor=monitor, storage=storage, jobs=jobs,
                      resume=resume, force=force, seed=seed, progress=progress,
                      ctx=FitContext(device=device))
    emit_result(fmt, result.model_dump(), result.rows, lambda width: tune_report(result, width))
