"""Boosting the xgboost plugin's trees on a Dask cluster (`basket train --dask-scheduler`).

Rows are built on this machine in chunks of customers, as for a local fit; each chunk goes to
one worker (in turn) as soon as it is built, and the dask arrays made of those chunks feed the
workers' DaskQuantileDMatrix. Every worker boosts on its own rows; XGBoost's collective joins
their histograms, so the booster is one model, saved as usual. dask, distributed and
xgboost.dask are imported only here, inside the calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from basketcli.errors import ConfigError
from basketcli.protocol import ProgressFactory

DASK_CONNECT_SECONDS = 20  # how long --dask-scheduler waits for the scheduler to answer
NO_ROWS = "xgboost: no training rows (customers need at least two orders before the validation " \
          "target)"

# parts -> (features, labels, query groups); a chunk holds whole query groups (customers)
Batches = Callable[[int], Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class Boosted:
    """What a boosting run (here or on a cluster) hands back to ``fit``."""

    booster: Any  # xgboost.Booster
    log: dict[str, dict[str, list[float]]]  # evals_result: {"valid": {METRIC: [...]}}
    train_rows: int
    positive_rate: float
    valid_rows: int
    workers: int = 0  # Dask workers that boosted (0: this machine)


def boost_on_dask(
    address: str, params: dict[str, Any], train: Batches, valid: Batches | None,
    feature_names: list[str], rounds: int, early_stopping_rounds: int | None,
    progress: ProgressFactory,
) -> Boosted:
    """Boost with ``xgboost.dask`` on the cluster whose scheduler is at ``address``.

    ``train(parts)`` and ``valid(parts)`` yield (features, labels, query groups) in at least
    ``parts`` chunks, so that every worker holds rows; a query group never spans two chunks, as
    ranking objectives on Dask need.
    """
    import xgboost

    da, dxgb, client = _dask_client(address)
    with client:
        workers = sorted(client.scheduler_info().get("workers", {}))
        if not workers:
            raise ConfigError(f"--dask-scheduler {address}: the cluster has no workers; start "
                              f"some with 'dask worker {address}'")
        train_x, train_y, train_q, n_train, positives = _scatter(client, da, workers, train)
        if n_train == 0:
            raise ConfigError(NO_ROWS)
        dtrain = dxgb.DaskQuantileDMatrix(client, train_x, train_y, qid=train_q,
                                          feature_names=feature_names)
        evals, n_valid = [], 0
        if valid is not None:
            valid_x, valid_y, valid_q, n_valid, _ = _scatter(client, da, workers, valid)
            if n_valid:
                evals = [(dxgb.DaskQuantileDMatrix(client, valid_x, valid_y, qid=valid_q,
                                                   ref=dtrain, feature_names=feature_names),
                          "valid")]
        with progress(f"boosting rounds on {len(workers)} Dask workers", rounds) as task:
            with xgboost.config_context(verbosity=0):  # workers take this config
                result = dxgb.train(client, params, dtrain, num_boost_round=rounds, evals=evals,
                                    verbose_eval=False,
                                    early_stopping_rounds=early_stopping_rounds if evals else None)
            task.advance(result["booster"].num_boosted_rounds())
    return Boosted(result["booster"], result.get("history") or {}, n_train, positives / n_train,
                   n_valid, len(workers))


def _scatter(client, da, workers: list[str], batches: Batches):
    """(features, labels, query groups) dask arrays of the rows, their count and the
    positives; chunk i goes to worker i mod n."""
    columns: tuple[list, list, list] = ([], [], [])
    n_rows, positives = 0, 0.0
    for number, chunk in enumerate(batches(len(workers))):
        owner = [workers[number % len(workers)]]
        futures = client.scatter(list(chunk), workers=owner, hash=False)
        for column, array, future in zip(columns, chunk, futures, strict=True):
            column.append(da.from_delayed(future, shape=array.shape, dtype=array.dtype))
        n_rows, positives = n_rows + len(chunk[1]), positives + float(chunk[1].sum())
    if not columns[0]:
        return None, None, None, 0, 0.0
    return (*(da.concatenate(column) for column in columns), n_rows, positives)


def _dask_client(address: str):
    """(dask.array, xgboost.dask, a Client connected to ``address``); one-line errors for a
    missing package or a scheduler that does not answer."""
    try:
        import dask.array as da
        import distributed
        import xgboost.dask as dxgb
    except ImportError as exc:
        raise ConfigError(
            f"--dask-scheduler needs the dask and distributed packages ({exc.name or exc} is "
            "missing); pip install 'basket[dask]'"
        ) from None
    try:
        # The default client while it is open: xgboost.dask looks the client up globally.
        client = distributed.Client(address, timeout=DASK_CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"--dask-scheduler {address}: no Dask scheduler answered ({reason}); start one with "
            "'dask scheduler' or check the address (tcp://HOST:8786)"
        ) from None
    return da, dxgb, client
