"""`basket train`: fit one model and save a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

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
from basketcli.cli.ui import EXIT_INTERRUPTED, emit_result, error_console, note, progress_bars

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
@settings_options
def train_command(
    model: ModelOpt,
    out: Annotated[Path | None, typer.Option(
        "--out", help="run directory to write (default: runs/MODEL)")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    resume: ResumeOpt = False,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="CPU threads for torch models (default: every core; with "
        "small batches on a busy machine 1 is often fastest)")] = None,
    distributed: Annotated[bool, typer.Option(
        "--distributed", help="train a torch model on every process torchrun started "
        "(DistributedDataParallel: gloo on CPUs, nccl on GPUs); rank 0 writes --out")] = False,
    dask_scheduler: Annotated[str | None, typer.Option(
        "--dask-scheduler", metavar="ADDRESS", help="train xgboost on the Dask cluster whose "
        "scheduler is at ADDRESS (e.g. tcp://host:8786); needs basket's 'dask' extra")] = None,
    fmt: FormatOpt = "table", json_out: JsonOpt = False,
    *, spec: DataSpec, settings: dict[str, Any],
) -> None:
    """Fit a model on the training part, report validation metrics, save RUN_DIR.

    Torch models checkpoint after every epoch: Ctrl-C keeps the best weights so far and
    --resume continues from the last checkpoint.
    """
    from basketcli.protocol import FitContext
    from basketcli.render import metrics_tables
    from basketcli.workflows.train import interrupted_note, prints, train

    fmt = output_format(fmt, json_out)
    out = out or Path("runs") / model
    reports = prints(distributed)  # of a --distributed run, only rank 0 prints
    try:
        with progress_bars(bars=fmt == "table", shown=reports) as progress:
            ctx = FitContext(progress=progress, device=device, distributed=distributed,
                             dask_scheduler=dask_scheduler)
            if threads is not None:
                ctx.n_threads = threads
            if reports:
                ctx.log = note
            result = train(model, spec, settings, out, force=force, resume=resume, ctx=ctx)
    except KeyboardInterrupt:
        if reports:
            error_console.print(f"[yellow]interrupted:[/] {interrupted_note(out)}",
                                highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if not reports:
        return
    row = {"model": result.model, **result.validation, "fit seconds": result.fit_seconds}
    emit_result(fmt, result.model_dump(), lambda: [row], lambda width: metrics_tables(
        [row], f"validation metrics; saved {result.run_dir}", extra_columns=("fit seconds",),
        width=width))
