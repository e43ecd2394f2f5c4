"""Other models' scores as candidates and features: what similar customers buy.

The xgboost ranker learns from the customer's own history; the reference models that look at
other customers (TIFU-KNN, UP-CF@r, TAIW) know what customers like this one buy, including
products this one never bought. ``fit_models`` fits such models on a population of histories and
``score_cells`` gives, for the customers of those histories, ``NeighbourCells``:

- explore candidates: each customer's best-scored products they never bought;
- per (customer, product) cell: each model's score and that score over the customer's best
  (scores are on different scales from customer to customer; the ratio is comparable).

Scores come a block of customers at a time, so no customers x products matrix of the whole
population ever exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basketcli.data.basket_data import BasketData
from basketcli.errors import ConfigError
from basketcli.evaluation.metrics import top_k
from basketcli.protocol import BasketModel, FitContext
from basketcli.registry import get_model_class
from basketcli_models.submodels import fit_submodels

BLOCK = 256  # customers scored at once (each model's block of scores is BLOCK x products)


def feature_names(models: list[str]) -> list[str]:
    return [f"{prefix}_{name}" for name in models for prefix in ("nb", "nb_rel")]


def check_models(names: list[str], owner: str) -> None:
    """Every name is a model whose fit is kept as arrays (``BasketModel.state``): ``owner``
    saves its neighbour models that way. One line before any fit otherwise."""
    for name in names:
        if get_model_class(name).state is BasketModel.state:
            raise ConfigError(f"{owner}: neighbours cannot use {name}: only models whose fit "
                              "is kept as arrays (such as tifuknn, upcf, taiw) can")


def fit_models(names: list[str], hist: BasketData, ctx: FitContext) -> list[BasketModel]:
    """The models, with their default settings, fitted on ``hist`` and ready to score it."""
    fitted = fit_submodels([(name, None) for name in names], hist, None, ctx)
    for model in fitted:
        model.prepare_scoring(hist)
    return fitted


@dataclass(frozen=True, eq=False)
class NeighbourCells:
    """Explore candidates and the scores of the cells asked for, for one set of customers."""

    explore_user: np.ndarray  # (E,) int64 customer index
    explore_item: np.ndarray  # (E,) int64
    keys: np.ndarray  # (C,) sorted customer * n_items + item of every scored cell
    values: np.ndarray  # (C, 2 x models) float32

    def lookup(self, user: np.ndarray, item: np.ndarray, n_items: int) -> np.ndarray:
        """The values of the cells (user, item); zeros for cells not scored."""
        wanted = user.astype(np.int64) * n_items + item
        out = np.zeros((len(wanted), self.values.shape[1]), dtype=np.float32)
        if len(self.keys) == 0:
            return out
        pos = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        found = self.keys[pos] == wanted
        out[found] = self.values[pos[found]]
        return out


def score_cells(models: list[BasketModel], hist: BasketData, explore: int) -> NeighbourCells:
    """For every customer of ``hist``: the ``explore`` never-bought products the first model
    scores best, and every model's scores on those and on the customer's own products."""
    n_items = np.int64(hist.n_items)
    explore_users, explore_items, keys, values = [], [], [], []
    for lo in range(0, hist.n_users, BLOCK):
        users = np.arange(lo, min(lo + BLOCK, hist.n_users))
        block = hist.select_users(users)
        scores = [np.asarray(m.score(block), dtype=np.float32) for m in models]
        bought = block.bought_mask()
        if explore > 0 and models:
            masked = np.where(bought, -np.inf, scores[0])
            picks = top_k(masked, min(explore, hist.n_items))
            rows = np.repeat(np.arange(len(users)), picks.shape[1])
            cells = picks.reshape(-1)
            usable = np.isfinite(masked[rows, cells]) & (masked[rows, cells] > 0)
            explore_users.append(users[rows[usable]])
            explore_items.append(cells[usable].astype(np.int64))
            bought[rows[usable], cells[usable]] = True
        rows, cells = np.nonzero(bought)
        keys.append(users[rows] * n_items + cells)
        columns = []
        for matrix in scores:
            best = matrix.max(axis=1, keepdims=True)
            relative = np.divide(matrix, best, out=np.zeros_like(matrix), where=best > 0)
            columns += [matrix[rows, cells], relative[rows, cells]]
        values.append(np.column_stack(columns) if columns
                      else np.zeros((len(rows), 0), dtype=np.float32))
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    value = (np.concatenate(values) if values
             else np.zeros((0, 2 * len(models)), dtype=np.float32))
    order = np.argsort(key, kind="stable")  # already sorted in practice (blocks, then nonzero)
    return NeighbourCells(
        explore_user=np.concatenate(explore_users) if explore_users else np.zeros(0, np.int64),
        explore_item=np.concatenate(explore_items) if explore_items else np.zeros(0, np.int64),
        keys=key[order], values=value[order].astype(np.float32))
