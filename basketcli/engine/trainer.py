"""The training loop every torch model shares.

AdamW with weight decay on the weight matrices, a learning-rate schedule (warm-up then cosine
decay per step, or halving on a validation plateau), gradient clipping, early stopping on a
validation metric with the best weights kept, a checkpoint after every epoch and resume from
it. The example order of an epoch depends only on (seed, epoch) and the torch RNG state is
checkpointed, so a resumed CPU run ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from basketcli.engine.batches import epoch_order
from basketcli.engine.checkpoints import (
    BEST_FILE,
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    has_checkpoint,
    load_torch,
    save_torch,
)
from basketcli.engine.ranks import Ranks, from_main
from basketcli.engine.row_adam import RowAdam
from basketcli.errors import ArtifactError, ConfigError
from basketcli.protocol import FitContext

SCHEDULERS = ("cosine", "plateau", "none")
MIN_LR_FACTOR = 0.05  # the cosine schedule ends at this fraction of the peak rate
# epochs="auto": enough passes for AUTO_STEPS optimiser steps, within AUTO_EPOCHS. A fixed
# count of passes under-trains small data (the bundled sample has ~220 steps per pass) and
# would make a large data set's passes longer, not better.
AUTO_STEPS = 3_000
AUTO_EPOCHS = (4, 16)
PROGRESS_EVERY = 10  # steps between progress-bar refreshes
# Validation metrics kept in the history (besides the monitored one), prefixed "valid_".
HISTORY_METRICS = ("recall@10", "ndcg@10", "phr@10", "f1_micro", "basket_f1")


@dataclass(frozen=True)
class TrainSettings:
    """The engine's knobs; models fill them from their config (``from_config``)."""

    epochs: int | Literal["auto"] = 3
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup: float = 0.05  # fraction of all steps spent warming up (cosine only)
    grad_clip: float | None = 1.0
    patience: int | None = None  # epochs without improvement before stopping
    monitor: str = "ndcg@10"
    seed: int = 0

    @classmethod
    def from_config(cls, config: Any) -> TrainSettings:
        """Take every setting the model's config defines; the rest keep their defaults."""
        names = [f for f in cls.__dataclass_fields__ if hasattr(config, f)]
        return cls(**{name: getattr(config, name) for name in names})


@dataclass
class TrainOutcome:
    history: list[dict[str, float]]
    best_epoch: int
    best_metric: float | None
    epochs_planned: int
    epochs_run: int
    stopped_early: bool
    resumed_from_epoch: int | None
    seconds: float
    device: str
    world_size: int = 1  # processes that trained together (basket train --distributed)

    def info(self, monitor: str) -> dict[str, Any]:
        return {
            "epochs_planned": self.epochs_planned, "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            f"best_valid_{monitor}": self.best_metric, "stopped_early": self.stopped_early,
            "resumed_from_epoch": self.resumed_from_epoch, "train_seconds": self.seconds,
            "device": self.device,
            **({"world_size": self.world_size} if self.world_size > 1 else {}),
        }


@dataclass
class _Progress:
    """What a checkpoint carries besides the torch objects."""

    epoch: int = 0  # epochs finished
    best_metric: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


# --- set-up ------------------------------------------------------------------------------------
def resolve_device(requested: str | None) -> torch.device:
    """auto -> cuda when available, else cpu; an unavailable device is a one-line error."""
    text = (requested or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {requested}: no CUDA device is available to this torch "
                f"({torch.__version__}); use --device cpu or auto"
            )
        try:
            device = torch.device(text)
        except RuntimeError:
            raise ConfigError(f"--device {requested!r}: expected cuda or cuda:N") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
        return device
    raise ConfigError(f"--device {requested!r}: expected auto, cpu or cuda")


def thread_count(ctx: FitContext) -> int:
    """ctx.n_threads (the machine's cores by default), capped by OMP_NUM_THREADS when the user
    set it: on a machine shared with other jobs, fewer threads than cores can be much faster."""
    threads = max(1, int(ctx.n_threads))
    pinned = os.environ.get("OMP_NUM_THREADS", "").strip()
    if pinned.isdigit() and int(pinned) > 0:
        threads = min(threads, int(pinned))
    return threads


def prepare_torch(ctx: FitContext, seed: int) -> torch.device:
    """Device, thread count and seeds for a fit; call before building the network."""
    device = resolve_device(ctx.device)
    torch.set_num_threads(thread_count(ctx))
    torch.manual_seed(seed)
    return device


def sparse_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Weights that receive sparse gradients: those of every submodule with ``sparse`` set,
    such as ``nn.Embedding(sparse=True)`` or an output layer that scores sampled products."""
    return [m.weight for m in module.modules()
            if getattr(m, "sparse", False) is True
            and isinstance(getattr(m, "weight", None), torch.nn.Parameter)]


class Optimisation:
    """AdamW for the dense parameters, RowAdam (lazy Adam) for tables with sparse gradients
    (only the rows a batch touches are updated, so the cost of a step does not grow with the
    catalog), one learning-rate schedule driving both, and gradient clipping."""

    def __init__(self, module: torch.nn.Module, settings: TrainSettings, total_steps: int):
        sparse = {id(param) for param in sparse_parameters(module)}
        dense_tables = {id(m.weight) for m in module.modules()
                        if isinstance(m, torch.nn.Embedding)}
        decay, plain, sparse_params = [], [], []
        for param in module.parameters():
            if not param.requires_grad:
                continue
            if id(param) in sparse:
                sparse_params.append(param)
            elif param.ndim >= 2 and id(param) not in dense_tables:
                decay.append(param)  # biases, norms and embedding tables are not decayed
            else:
                plain.append(param)
        groups = [g for g in ({"params": decay, "weight_decay": settings.weight_decay},
                              {"params": plain, "weight_decay": 0.0}) if g["params"]]
        self.optimizers: list[torch.optim.Optimizer] = []
        if groups:
            try:  # the fused kernel is several times faster on CPU and CUDA
                self.optimizers.append(torch.optim.AdamW(groups, lr=settings.lr, fused=True))
            except (RuntimeError, TypeError, ValueError):
                self.optimizers.append(torch.optim.AdamW(groups, lr=settings.lr))
        if sparse_params:
            self.optimizers.append(RowAdam(sparse_params, lr=settings.lr))
        self.clipped = decay + plain
        self.sparse = sparse_params
        self.grad_clip = settings.grad_clip
        self.schedulers = [make_scheduler(o, settings, total_steps) for o in self.optimizers]
        self.per_step = settings.scheduler != "plateau"

    @property
    def lr(self) -> float:
        return float(self.optimizers[0].param_groups[0]["lr"]) if self.optimizers else 0.0

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        if self.grad_clip and self.clipped:
            torch.nn.utils.clip_grad_norm_(self.clipped, self.grad_clip, foreach=True)
        for optimizer in self.optimizers:
            optimizer.step()
        if self.per_step:
            for scheduler in self.schedulers:
                scheduler.step()

    def end_epoch(self, monitored: float) -> None:
        if not self.per_step:
            for scheduler in self.schedulers:
                scheduler.step(monitored)

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [o.state_dict() for o in self.optimizers],
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["optimizers"]) != len(self.optimizers):
            raise ValueError("the checkpoint holds another set of optimisers")
        for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)


def make_scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings, total_steps: int):
    if settings.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5,
                                                          patience=0)
    if settings.scheduler == "cosine":
        warmup = max(1, int(settings.warmup * total_steps))

        def factor(step: int) -> float:
            if step < warmup:
                return 0.1 + 0.9 * step / warmup
            progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            return MIN_LR_FACTOR + (1 - MIN_LR_FACTOR) * 0.5 * (1 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if settings.scheduler == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ConfigError(f"scheduler {settings.scheduler!r}: expected one of {', '.join(SCHEDULERS)}")


def _copy_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# --- the loop ----------------------------------------------------------------------------------
class Trainer:
    """Runs ``epochs`` passes of ``batch_loss`` over shuffled examples, validating after each.

    ``batch_loss(example_indices)`` returns the mean loss of those examples (the model builds
    its batch from them); ``validate()`` returns validation metrics (higher is better) with the
    module in eval mode. With ``prepare``, ``batch_loss`` receives ``prepare(example_indices)``
    instead, computed in a background thread one step ahead (it must not draw from torch's
    random generator, so that runs stay reproducible): a model's batch building (NumPy work)
    then overlaps the previous step's torch work. With ``ctx.work_dir`` set, every epoch ends
    with an atomic checkpoint there, and ``ctx.resume`` continues from it. With
    ``ctx.distributed`` the ranks of a process group train together
    (``basketcli.engine.ranks``): rank 0 alone validates, or with
    ``validate_on_every_rank`` every rank calls ``validate()``, which must then return the
    same metrics on all of them (``evaluate_model(..., across_ranks=True)`` splits the
    customers between the ranks and does).
    """

    def __init__(self, module: torch.nn.Module, settings: TrainSettings, ctx: FitContext,
                 device: torch.device) -> None:
        self.module, self.settings, self.ctx, self.device = module, settings, ctx, device
        self.ranks = Ranks.of(ctx)
        self.validate_on_every_rank = False
        # Rank 0 alone reads and writes the run directory; the others get what it read.
        self.work_dir = (Path(ctx.work_dir) if ctx.work_dir is not None and self.ranks.main
                         else None)

    def fit(
        self, n_examples: int, batch_loss: Callable[[Any], torch.Tensor],
        validate: Callable[[], dict[str, float]] | None = None,
        prepare: Callable[[np.ndarray], Any] | None = None,
        validate_on_every_rank: bool = False,
    ) -> TrainOutcome:
        self.validate_on_every_rank = validate_on_every_rank
        with self.ranks.synchronised(self.module, self.device, sparse_parameters(self.module)):
            return self._fit(n_examples, batch_loss, validate, prepare)

    def _fit(self, n_examples, batch_loss, validate, prepare) -> TrainOutcome:
        s = self.settings
        steps = math.ceil(self.ranks.shard_size(n_examples) / s.batch_size)
        if s.epochs == "auto":  # the epoch lines and the run's info show the count
            s = self.settings = replace(s, epochs=planned_epochs(steps))
        optim = Optimisation(self.module, s, total_steps=max(1, steps * s.epochs))
        state = _Progress()
        best_weights: dict[str, torch.Tensor] | None = None
        resumed_from = None
        if self.ctx.resume and from_main(lambda: has_checkpoint(self.work_dir)):
            state, best_weights = self._restore(optim)
            resumed_from = state.epoch
            self.ctx.log(f"resuming after epoch {state.epoch} of {s.epochs}")
        started = time.perf_counter()
        while state.epoch < s.epochs and not state.stopped:
            epoch = state.epoch
            epoch_started = time.perf_counter()
            loss, metrics = self._run_epoch(epoch, steps, n_examples, batch_loss, validate,
                                            prepare, optim)
            row: dict[str, float] = {
                "epoch": epoch + 1, "train_loss": loss, "lr": optim.lr,
            }
            improved = True
            if metrics is not None:
                self.ctx.report(epoch + 1, metrics)
                value = self._monitored(metrics)
                for key in dict.fromkeys((s.monitor, *HISTORY_METRICS)):
                    if key in metrics:
                        row[f"valid_{key}"] = float(metrics[key])
                improved = state.best_metric is None or value > state.best_metric
                if improved:
                    state.best_metric, state.best_epoch, state.bad_epochs = value, epoch + 1, 0
                else:
                    state.bad_epochs += 1
                optim.end_epoch(value)
                if s.patience is not None and state.bad_epochs >= s.patience:
                    state.stopped = True
            else:
                state.best_epoch = epoch + 1
            if improved:
                best_weights = _copy_state(self.module)
                if self.work_dir is not None:
                    save_torch(self.work_dir / BEST_FILE, best_weights)
            row["seconds"] = time.perf_counter() - epoch_started
            state.history.append(row)
            state.epoch = epoch + 1
            if self.work_dir is not None:
                self._checkpoint(state, optim)
            self.ctx.log(_epoch_line(row, s, improved and metrics is not None))
        if best_weights is not None:
            self.module.load_state_dict(best_weights)
        return TrainOutcome(
            history=state.history, best_epoch=state.best_epoch, best_metric=state.best_metric,
            epochs_planned=s.epochs, epochs_run=state.epoch, stopped_early=state.stopped,
            resumed_from_epoch=resumed_from,
            seconds=time.perf_counter() - started, device=str(self.device),
            world_size=self.ranks.size,
        )

    def _run_epoch(self, epoch, steps, n_examples, batch_loss, validate, prepare, optim):
        s = self.settings
        order = self.ranks.shard(epoch_order(n_examples, s.seed, epoch))
        self.ranks.seed_epoch(s.seed, epoch)
        self.module.train()
        total = torch.zeros((), device=self.device)
        total_rows = shown = 0
        description = f"epoch {epoch + 1}/{s.epochs}"
        batches = (order[step * s.batch_size:(step + 1) * s.batch_size]
                   for step in range(steps))
        with self.ctx.progress(description, steps + (1 if validate else 0)) as task, \
                _ahead(batches, prepare) as prepared:
            for step, (index, batch) in enumerate(prepared):
                optim.zero_grad()
                loss = batch_loss(batch)
                loss.backward()
                self.ranks.average_sparse_gradients(optim.sparse)
                optim.step()
                total += loss.detach() * len(index)
                total_rows += len(index)
                if (step + 1) % PROGRESS_EVERY == 0 or step + 1 == steps:
                    mean = float(total) / total_rows
                    if not math.isfinite(mean):
                        raise ConfigError(
                            f"training diverged (loss is {mean}) in epoch {epoch + 1}; "
                            "lower lr or raise grad_clip"
                        )
                    task.advance(step + 1 - shown, loss=mean)
                    shown = step + 1
            total, total_rows = self.ranks.sum(total, total_rows)
            metrics = None
            if validate is not None:
                # Every rank ends with the same metrics, so all decide alike.
                metrics = (self._validate(validate) if self.validate_on_every_rank
                           else from_main(lambda: self._validate(validate)))
                task.advance(1, loss=float(total) / max(total_rows, 1),
                             **{s.monitor: self._monitored(metrics)})
        return float(total) / max(total_rows, 1), metrics

    def _validate(self, validate: Callable[[], dict[str, float]]) -> dict[str, float]:
        self.module.eval()
        with torch.inference_mode():
            metrics = validate()
        self.module.train()
        return metrics

    def _monitored(self, metrics: dict[str, float]) -> float:
        if self.settings.monitor not in metrics:
            raise ConfigError(
                f"monitor {self.settings.monitor!r} is not a validation metric; "
                f"choose one of {', '.join(metrics)}"
            )
        return float(metrics[self.settings.monitor])

    # --- checkpoints ---------------------------------------------------------------------------
    def _checkpoint(self, state: _Progress, optim: Optimisation) -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "settings": asdict(self.settings),
            "model": self.module.state_dict(),
            "optimisation": optim.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "progress": asdict(state),
        }
        save_torch(self.work_dir / CHECKPOINT_FILE, payload)

    def _restore(self, optim: Optimisation) -> tuple[_Progress, dict[str, torch.Tensor] | None]:
        # Rank 0 reads the files and hands them to the other ranks (on the CPU, where every
        # rank can take them).
        payload, best = from_main(self._read_checkpoint)
        path = Path(self.ctx.work_dir or ".") / CHECKPOINT_FILE
        try:
            self.module.load_state_dict(payload["model"])
            optim.load_state_dict(payload["optimisation"])
            torch.set_rng_state(payload["torch_rng"].cpu())
            if payload["cuda_rng"] and self.device.type == "cuda":
                torch.cuda.set_rng_state_all([t.cpu() for t in payload["cuda_rng"]])
            state = _Progress(**payload["progress"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0][:120]
            raise ArtifactError(
                f"{path}: does not fit this model ({reason}); train again with --force"
            ) from None
        return state, best

    def _read_checkpoint(self) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
        path = self.work_dir / CHECKPOINT_FILE
        location = "cpu" if self.ranks.enabled else self.device
        payload = load_torch(path, map_location=location)
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise ArtifactError(f"{path}: not a basket checkpoint; train again with --force")
        if payload.get("settings") != asdict(self.settings):
            raise ArtifactError(
                f"{path}: made with other training settings; resume with the same settings "
                "or train again with --force"
            )
        best = None
        progress = payload.get("progress")
        if isinstance(progress, dict) and progress.get("best_epoch", 0) > 0:
            best_path = self.work_dir / BEST_FILE
            best = load_torch(best_path, map_location=location) if best_path.is_file() else None
            if best is None:
                raise ArtifactError(f"{best_path}: missing; train again with --force")
        return payload, best


@contextmanager
def _ahead(indices: Iterator[np.ndarray], prepare: Callable[[np.ndarray], Any] | None
           ) -> Iterator[Iterator[tuple[np.ndarray, Any]]]:
    """(index, prepare(index)) for each of ``indices``, the next one prepared in a worker
    thread while the caller uses the current one (NumPy and torch release the GIL in their
    heavy loops). Without ``prepare`` the batch is the index itself."""
    if prepare is None:
        yield ((index, index) for index in indices)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="basket-batches") as pool:

        def pairs() -> Iterator[tuple[np.ndarray, Any]]:
            pending = None
            for index in indices:
                future = pool.submit(prepare, index)
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = (index, future)
            if pending is not None:
                yield pending[0], pending[1].result()

        yield pairs()


def planned_epochs(steps_per_epoch: int) -> int:
    """Passes of epochs="auto": about AUTO_STEPS optimiser steps, within AUTO_EPOCHS."""
    low, high = AUTO_EPOCHS
    return min(high, max(low, math.ceil(AUTO_STEPS / max(steps_per_epoch, 1))))


def _epoch_line(row: dict[str, float], settings: TrainSettings, best: bool) -> str:
    parts = [f"epoch {int(row['epoch'])}/{settings.epochs}", f"loss {row['train_loss']:.5f}"]
    key = f"valid_{settings.monitor}"
    if key in row:
        parts.append(f"{settings.monitor} {row[key]:.4f}" + (" (best)" if best else ""))
    parts.append(f"{row['seconds']:.1f} s")
    return "  ".join(parts)
