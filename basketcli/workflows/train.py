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
    RunTarget,
    begin_run,
    check_run_target,
    discard_run,
    new_run_info,
    next_dir,
    put_in_place,
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

    A complete run in ``out`` (``force``) is never touched until its successor is complete:
    the retrain writes (and checkpoints) in ``.OUT.next`` beside it, where ``resume``
    continues it, and replaces ``out`` once complete; a failed, interrupted or killed retrain
    leaves ``out`` as it was.

    With ``ctx.distributed`` (under torchrun) every rank runs this: all of them load the data
    and train together, rank 0 alone writes ``out``.
    """
    out = Path(out)
    _finished.discard(_key(out))
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


# The run directories this process completed: an interrupt that lands after that (and, for a
# retrain, after it was put in place) is reported as what it is, not as an interrupted run.
_finished: set[str] = set()


def _key(out: Path) -> str:
    return str(Path(out).absolute())


def _state(run_dir: Path) -> str | None:
    """Whether ``run_dir`` holds a "complete" or an "incomplete" run (None: no readable run)."""
    try:
        return "complete" if read_run_info(run_dir, allow_incomplete=True).complete \
            else "incomplete"
    except ArtifactError:
        return None


def interrupted_note(out: Path) -> str:
    """What an interrupted `basket train` left in ``out`` (and beside it, for a retrain of a
    complete run), and how to go on."""
    out = Path(out)
    if _key(out) in _finished and not next_dir(out).exists():
        return f"the run had finished: {out} holds it, complete"
    state = _state(out)
    if state == "complete":  # a retrain: the previous run stays until the new one is complete
        kept = f"{out} still holds the previous run, unchanged"
        retrain = next_dir(out)
        progress = _state(retrain)
        if progress is None:
            return f"nothing was written; {kept}"
        if progress == "complete":
            return (f"{kept}; the retrain finished in {retrain}: --resume puts it in place, "
                    "--force trains again")
        if has_checkpoint(retrain):
            return (f"{kept}; the retrain keeps its best weights so far and the last "
                    f"checkpoint in {retrain} (marked incomplete); continue with --resume")
        return (f"{kept}; the retrain in {retrain} is marked incomplete (no epoch had "
                "finished); train again with --force")
    if state is None:
        return "nothing was written"
    if has_checkpoint(out):
        return (f"{out} keeps the best weights so far and the last checkpoint (marked "
                "incomplete); continue with --resume")
    return f"{out} is marked incomplete (no epoch had finished); train again with --force"


def _train(name: str, spec: DataSpec, settings: dict[str, Any], out: Path, force: bool,
           resume: bool, ctx: FitContext) -> TrainResult:
    main = ranks.is_main()
    target = ranks.from_main(lambda: check_run_target(out, force=force, resume=resume))
    work, previous = target.work, target.previous
    if previous is not None:
        if previous.model != name:
            raise ArtifactError(
                f"{_interrupted(target)} is a {previous.model} run, not {name}; "
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
        _check_resumable(previous, config, dataset, target)
        if previous.complete:  # a retrain that finished but was never put in place
            if main:
                remove_checkpoints(work)
                _finished.add(_key(out))
                put_in_place(target)
            return _result(out, previous)
    info = new_run_info(name, config, dataset, complete=False, status="training",
                        created=previous.created if previous is not None else now_iso())
    if main:
        begin_run(target, info)
    ctx = replace(ctx, work_dir=work, resume=previous is not None)
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
            model.save(work)
            written = write_curves(work, report.history)
            if report.history and len(written) < 2:
                ctx.log("matplotlib is not installed, so no curves.png: install basket[plot] "
                        "for PNG plots")
            return validation

        validation = ranks.from_main(save)
    except KeyboardInterrupt:
        # Keep what the fit checkpointed (its best weights so far) for --resume.
        if main:
            write_run_info(work, info.model_copy(update={"status": "interrupted"}))
        raise
    except BasketError:
        if main and previous is None:
            discard_run(work)
        elif main:
            write_run_info(work, info.model_copy(update={"status": "failed"}))
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
        write_run_info(work, finished)  # the run is complete from this moment
        remove_checkpoints(work)
        _finished.add(_key(out))
        put_in_place(target)  # a retrain replaces the previous run only now, whole
    return _result(out, finished)


def _result(out: Path, info: RunInfo) -> TrainResult:
    extra = info.model_extra or {}
    return TrainResult(
        run_dir=str(out), model=info.model, validation=info.metrics.get("validation", {}),
        fit_seconds=info.timings.get("fit_seconds", 0.0), fit_info=extra.get("fit") or {},
    )


def _interrupted(target: RunTarget) -> str:
    """How errors name the run being resumed: the run in --out, or the retrain beside it."""
    if target.replaces:
        return f"{target.out}: the interrupted retrain (in {target.work})"
    return f"{target.out}: the interrupted run"


def _check_resumable(
    previous: RunInfo, config: dict[str, Any], dataset: Dataset, target: RunTarget
) -> None:
    changed = sorted(k for k in set(config) | set(previous.config)
                     if config.get(k) != previous.config.get(k))
    if changed:
        raise ArtifactError(
            f"{_interrupted(target)} used other settings ({', '.join(changed)}); resume "
            "without changing them, or train again with --force"
        )
    if previous.data_fingerprint != dataset.fingerprint:
        source = previous.data.get("source", "its data")
        raise ArtifactError(
            f"{_interrupted(target)} was trained on other data; resume it with --data {source}"
        )
