"""Models inside models: the one way a model (``stack``, xgboost's neighbour features) builds
and fits others, by registered name and settings, with the context its own fit was given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from basketcli.data.basket_data import BasketData
from basketcli.data.split import EvalSet
from basketcli.protocol import BasketModel, FitContext
from basketcli.registry import create_model


def fit_submodels(models: Sequence[tuple[str, dict[str, Any] | None]], train: BasketData,
                  valid: EvalSet | None, ctx: FitContext) -> list[BasketModel]:
    """Each (name, settings) built by ``create_model`` and fitted on ``train`` (``valid`` for
    early stopping). They share the outer fit's catalog, device, threads, log and progress;
    never its run directory, resumption, ranks or Dask cluster, which belong to the outer
    model alone."""
    child = FitContext(catalog=ctx.catalog, device=ctx.device, n_threads=ctx.n_threads,
                       log=ctx.log, progress=ctx.progress)
    fitted = []
    for name, settings in models:
        model = create_model(name, settings)
        model.fit(train, valid, child)
        fitted.append(model)
    return fitted
