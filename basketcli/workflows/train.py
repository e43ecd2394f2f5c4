"""`basket train`: fit one model and save a resumable run directory."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from basketcli.artifacts import now_iso
from basketcli.data.prepare import Dataset
from basketcli.data.source import DataSpec
from basketcli.engine import ranks
from basketcli.engine.checkpoints import has_checkpoint, remove_checkpoints
from basketcli.engine.distributed import launch_rank, process_group
from basketcli.errors import ArtifactError, BasketError, ConfigError, ReportedElsewhere
from basketcli.evaluation.scoring import evaluate_model
from basketcli.protocol import FitContext
from basketcli.registry import create_model
from basketcli.reports import write_curves
from basketcli.workflows.run_dirs import (
    RunInfo,
    begin_run,
    check_run_target,
    discard_run,
    new_run_info,
    read_run_info,
    write_run_info,
)
from basketcli.workflows.steps import check_device_name, fit_model, prepare


class TrainResult(BaseModel):
    run_dir: str
    model: str
    validation: dict[str, float]
    fit_seconds: float
    fit_info: dict[str, Any] = {}


def train(
    name: str, spec: DataSpec, settings: dict[str, Any], out: Path, *, force: bool = False,
    resume: bool = False, ctx: FitContext | None = None,
) -> TrainResult:
    """Fit a model on the training part, score the validation targets, save a run directory.

    The run directory exists from the start with basket.json marked incomplete; torch models
    checkpoint into it after every epoch, so an interrupted run (Ctrl-C, a crash, a sleeping
    laptop) keeps its best weights and continues with ``resume``. basket.json is marked
    complete last. A bad-input error during a fresh run removes the folder again.

    With ``ctx.distributed`` (under torchrun) every rank runs this: all of them load the data
    and train together, rank 0 alone writes ``out``.
    """
    out = Path(out)
    ctx = ctx or FitContext()
    rank = launch_rank() if ctx.distributed else 0
    try:
        check_device_name(ctx.device)
        if ctx.distributed:
            with process_group(ctx) as rank_ctx:
                return _train(name, spec, settings, out, force, resume, rank_ctx)
        return _train(name, spec, settings, out, force, resume, ctx)
    except BasketError as exc:
        if rank == 0 or isinstance(exc, ReportedElsewhere):
            raise
        raise type(exc)(f"rank {rank}: {exc.message}") from None


def prints(distributed: bool) -> bool:
    """Whether this process reports: always, except the ranks other than 0 of a --distributed
    run that torchrun started."""
    return not distributed or launch_rank() == 0


def interrupted_note(out: Path) -> str:
    """What an interrupted `basket train` left in ``out``, and how to go on."""
    try:
        started = not read_run_info(out, allow_incomplete=True).complete
    except ArtifactError:
        started = False
    if not started:
        return "nothing was written"
    if has_checkpoint(out):
        return (f"{out} keeps the best weights so far and the last checkpoint (marked "
                "incomplete); continue with --resume")
    return f"{out} is marked incomplete (no epoch had finished); train again with --force"


def _train(name: str, spec: DataSpec, settings: dict[str, Any], out: Path, force: bool,
           resume: bool, ctx: FitContext) -> TrainResult:
    main = ranks.is_main()
    previous = ranks.from_main(lambda: check_run_target(out, force=force, resume=resume))
    if previous is not None:
        if previous.model != name:
            raise ArtifactError(
                f"{out}: the interrupted run is a {previous.model} run, not {name}; "
                f"resume it with --model {previous.model}"
            )
        # Resuming reuses the interrupted run's settings; --set may only repeat them.
        settings = {**previous.config, **settings}
    model = create_model(name, settings)
    if ctx.dask_scheduler and not getattr(model, "trains_on_dask", False):
        raise ConfigError(f"--dask-scheduler: model {name} does not train on Dask (xgboost does)")
    config = model.config.model_dump(mode="json")
    dataset, split = prepare(spec)
    if previous is not None:
        _check_resumable(previous, config, dataset, out)
    info = new_run_info(name, config, dataset, complete=False, status="training",
                        created=previous.created if previous is not None else now_iso())
    if main:
        begin_run(out, info, resume=previous is not None)
    ctx = replace(ctx, work_dir=out, resume=previous is not None)
    try:
        report, fit_seconds = fit_model(model, dataset, split, ctx)
        if ctx.distributed and "world_size" not in report.info:
            ctx.log(f"warning: {name} does not train with the torch engine; every process "
                    "fitted it alone and rank 0 saves its fit")

        # Ranks that trained one model together (same weights) share its validation
        # scoring; otherwise rank 0 scores the fit it saves.
        together = ctx.distributed and "world_size" in report.info
        shared = (evaluate_model(model, split.valid, progress=ctx.progress,
                                 across_ranks=True)[0] if together else None)

        def save() -> Any:
            validation = shared or evaluate_model(model, split.valid, progress=ctx.progress)[0]
            model.save(out)
            written = write_curves(out, report.history)
            if report.history and len(written) < 2:
                ctx.log("matplotlib is not installed, so no curves.png: install basket[plot] "
                        "for PNG plots")
            return validation

        validation = ranks.from_main(save)
    except KeyboardInterrupt:
        # Keep what the fit checkpointed (its best weights so far) for --resume.
        if main:
            write_run_info(out, info.model_copy(update={"status": "interrupted"}))
        raise
    except BasketError:
        if main and previous is None:
            discard_run(out)
        elif main:
            write_run_info(out, info.model_copy(update={"status": "failed"}))
        raise
    finished = info.model_copy(update={
        "complete": True,
        "status": "complete",
        "metrics": {"validation": validation.metrics},
        "timings": {"fit_seconds": fit_seconds, "validation_seconds": validation.score_seconds},
        "fit": report.info,
        "history": report.history,
        "finished": now_iso(),
    })
    if main:
        write_run_info(out, finished)  # the run is complete from this moment
        remove_checkpoints(out)
    return TrainResult(
        run_dir=str(out), model=name, validation=validation.metrics,
        fit_seconds=fit_seconds, fit_info=report.info,
    )


def _check_resumable(
    previous: RunInfo, config: dict[str, Any], dataset: Dataset, out: Path
) -> None:
    changed = sorted(k for k in set(config) | set(previous.config)
                     if config.get(k) != previous.config.get(k))
    if changed:
        raise ArtifactError(
            f"{out}: the interrupted run used other settings ({', '.join(changed)}); resume "
            "without changing them, or train again with --force"
        )
    if previous.data_fingerprint != dataset.fingerprint:
        source = previous.data.get("source", "its data")
        raise ArtifactError(
            f"{out}: the interrupted run was trained on other data; resume it with --data {source}"
        )
