"""The model contract: what a plugin implements and what the framework hands it."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from basketcli.artifacts import load_bundle, save_bundle
from basketcli.errors import ArtifactError
from basketcli.sizing import SizingRule

if TYPE_CHECKING:
    from basketcli.data.basket_data import BasketData
    from basketcli.data.catalog import Catalog
    from basketcli.data.split import EvalSet


def search(low: float | None = None, high: float | None = None, *, log: bool = False,
           choices: list[Any] | None = None) -> dict[str, Any]:
    """Field metadata declaring where `basket tune` searches a hyperparameter: a range (an
    integer range for an int field; ``log`` for scale-free ones such as a learning rate) or a
    list of ``choices``. Use as ``Field(5.0, gt=0, json_schema_extra=search(1, 20, log=True))``."""
    if choices is not None:
        return {"search": {"choices": list(choices)}}
    if low is None or high is None or not low < high:
        raise ValueError(f"search({low}, {high}): give low < high, or choices")
    return {"search": {"low": low, "high": high, "log": log}}


class ModelConfig(BaseModel):
    """Base of every model's hyperparameters: validated, documented, no unknown keys."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = Field(0, description="random seed; fixes every result on the CPU")


class ProgressTask(Protocol):
    def advance(self, steps: int = 1, **info: Any) -> None: ...

    def __enter__(self) -> ProgressTask: ...

    def __exit__(self, *exc: object) -> None: ...


class _SilentTask:
    def advance(self, steps: int = 1, **info: Any) -> None:
        pass

    def __enter__(self) -> _SilentTask:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def silent_progress(description: str, total: int | None = None) -> ProgressTask:
    return _SilentTask()


ProgressFactory = Callable[[str, int | None], ProgressTask]


@dataclass
class FitContext:
    """What the framework hands to ``fit``: everything that is not a hyperparameter."""

    catalog: Catalog | None = None
    progress: ProgressFactory = silent_progress
    device: str = "auto"
    work_dir: Path | None = None  # where a long fit may keep checkpoints
    resume: bool = False
    n_threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    log: Callable[[str], None] = lambda message: None
    # Launched under torchrun with --distributed: torch models train with DDP (the trainer
    # averages sparse tables' touched rows itself).
    distributed: bool = False
    # Address of a Dask scheduler that models able to use one (xgboost) train on.
    dask_scheduler: str | None = None
    # Called with (step, validation metrics) whenever a fit validates along the way (the torch
    # engine: after every epoch); `basket tune` stops unpromising trials from it (it may raise).
    report: Callable[[int, dict[str, float]], None] = lambda step, metrics: None


@dataclass
class FitReport:
    """What a fit tells the framework; everything in it lands in basket.json."""

    info: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch


class BasketModel(ABC):
    """A next-basket model. Subclasses set ``name`` and ``Config`` and implement fit/score.

    ``score`` returns a dense (users x items) float array for the users of ``histories``
    (the framework batches users, so this never covers the whole data set at once); higher
    means more likely. Models whose scores are probabilities set ``gives_probabilities``.
    """

    name: ClassVar[str]
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    gives_probabilities: ClassVar[bool] = False
    # How many of a customer's most recent orders the model reads (None: all of them).
    reads_last_orders: ClassVar[int | None] = None
    # A reference baseline of the field (popularity, personal frequency, neighbours): every
    # comparison tests the other models against the best of these in the run.
    reference: ClassVar[bool] = False

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @classmethod
    def search_space(cls) -> dict[str, dict[str, Any]]:
        """Where `basket tune` searches: {setting: {"low", "high", "log"} or {"choices"}}.

        By default the settings whose Field declares ``json_schema_extra=search(...)``; a model
        may override it (every name must be a setting of its Config).
        """
        space = {}
        for name, info in cls.Config.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and isinstance(extra.get("search"), dict):
                space[name] = dict(extra["search"])
        return space

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @abstractmethod
    def fit(self, train: BasketData, valid: EvalSet | None, ctx: FitContext) -> FitReport: ...

    @abstractmethod
    def score(self, histories: BasketData) -> np.ndarray: ...

    def prepare_scoring(self, histories: BasketData) -> None:  # noqa: B027 (optional hook)
        """Called once with all the histories about to be scored, before the batches.

        Population statistics (popularity, a neighbour pool) may be refreshed from them;
        targets are never passed. The default does nothing.
        """

    def explain(self, histories: BasketData, rows: np.ndarray, items: np.ndarray,
                name_of: Callable[[int], str | None]) -> list[str | None]:
        """Optional: why product ``items[j]`` (a vocabulary index) suits customer ``rows[j]``
        of ``histories``, in a short sentence (``name_of(index)`` names a product), or None to
        let `basket predict` give its own reason from the customer's orders (the default)."""
        return [None] * len(rows)

    def stands_for(self) -> str | None:
        """Optional: the model whose scores this one gives unchanged (a stack that kept its
        best base model alone), so that tables say so; None (the default): its own."""
        return None

    def use_device(self, device: str) -> None:  # noqa: B027 (optional hook)
        """Score on ``device`` (auto, cpu, cuda or cuda:N, as ``--device``) from now on.

        The framework calls it on a loaded model before scoring; a fit gets its device from
        ``FitContext`` instead. Models that run on the CPU only ignore it (the default).
        """

    def default_sizing(self) -> SizingRule:
        """The sizing rule used for basket_f1 unless the caller overrides it."""
        rule = getattr(self.config, "sizing", None)
        if isinstance(rule, SizingRule):
            return rule
        threshold = getattr(self.config, "threshold", None)
        if self.gives_probabilities and threshold is not None:
            return SizingRule(kind="threshold", threshold=threshold)
        return SizingRule(kind="top-k", k=10)

    # --- persistence: the simple path is a dict of numpy arrays ------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Fitted arrays to save; override with ``set_state`` for numpy-only models."""
        raise NotImplementedError

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def save(self, directory: Path) -> None:
        save_bundle(directory, arrays=self.state())

    @classmethod
    def load(cls, directory: Path, config: ModelConfig) -> BasketModel:
        model = cls(config)
        arrays = load_bundle(directory).arrays
        try:
            model.set_state(arrays)
        except KeyError as exc:
            raise ArtifactError(f"{directory}: model file lacks array {exc}") from None
        return model
