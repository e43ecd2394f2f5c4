"""Why a product is in a customer's predicted basket, in a short sentence.

A model may say it itself (``BasketModel.explain``: neighbours, co-occurrence, ...). Otherwise
the reason comes from the customer's own orders, for every model alike: for a product bought
before, how often and how recently ("in 8 of your last 10 orders; usually every 2 orders; last
in your latest order"); for a new one, what it shares with what the customer buys (its aisle,
when the catalog knows aisles), else that it is new to them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from basketcli.data.basket_data import BasketData
from basketcli.data.catalog import Catalog
from basketcli.protocol import BasketModel

RECENT = 10  # "in k of your last RECENT orders"


def explain(model: BasketModel, given: BasketData, rows: np.ndarray, items: np.ndarray,
            name_of: Callable[[int], str | None], catalog: Catalog | None = None) -> list[str]:
    """One reason per chosen (customer row, vocabulary index) of ``given``."""
    custom = model.explain(given, rows, items, name_of)
    history = _HistoryStats(given, rows, items)
    aisle = _AisleStats(given, rows, items, catalog)
    reasons = []
    for i in range(len(rows)):
        if custom[i]:
            reasons.append(custom[i])
        elif history.count[i] > 0:
            reasons.append(history.sentence(i))
        else:
            reasons.append(aisle.sentence(i))
    return reasons


class _HistoryStats:
    """Purchase count, recency and gaps of each chosen (customer, product), in orders."""

    def __init__(self, given: BasketData, rows: np.ndarray, items: np.ndarray) -> None:
        n_items = np.int64(max(given.n_items, 1))
        line_rank = given.order_rank()[given.line_order()]
        keys, inverse = np.unique(given.line_user() * n_items + given.items,
                                  return_inverse=True)
        first = np.full(len(keys), np.iinfo(np.int64).max)
        last = np.full(len(keys), -1)
        np.minimum.at(first, inverse, line_rank)
        np.maximum.at(last, inverse, line_rank)
        count = np.bincount(inverse, minlength=len(keys))
        n_orders = given.orders_per_user()
        recent_from = np.maximum(n_orders - RECENT, 0)
        in_recent = line_rank >= recent_from[given.line_user()]
        recent = np.bincount(inverse, weights=in_recent, minlength=len(keys))
        wanted = rows.astype(np.int64) * n_items + items
        pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = (keys[pos] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
        self.count = np.where(found, count[pos] if len(keys) else 0, 0)
        self.recent = np.where(found, recent[pos] if len(keys) else 0, 0).astype(int)
        self.window = np.minimum(n_orders[rows], RECENT)
        self.age = np.where(found, n_orders[rows] - 1 - (last[pos] if len(keys) else 0), -1)
        span = np.where(found, (last[pos] - first[pos]) if len(keys) else 0, 0)
        self.gap = np.where(self.count > 1, span / np.maximum(self.count - 1, 1), np.nan)

    def sentence(self, i: int) -> str:
        parts = [f"in {self.recent[i]} of your last {self.window[i]} orders"
                 if self.window[i] > 1 else "in your only order"]
        if not np.isnan(self.gap[i]):
            gap = self.gap[i]
            parts.append("usually in every order" if gap <= 1.05
                         else f"usually every {gap:.1f} orders".replace(".0 ", " "))
        age = int(self.age[i])
        if self.window[i] > 1:
            parts.append({0: "last in your latest order", 1: "last in the order before"}.get(
                age, f"last {age + 1} orders back"))
        return "; ".join(parts)


class _AisleStats:
    """For a new product: how many products of its aisle the customer bought."""

    def __init__(self, given: BasketData, rows: np.ndarray, items: np.ndarray,
                 catalog: Catalog | None) -> None:
        self.names = catalog.aisle_names if catalog is not None else {}
        self.same = np.zeros(len(rows), dtype=np.int64)
        self.aisle = np.full(len(rows), -1, dtype=np.int64)
        if catalog is None or catalog.aisle_ids is None or not len(rows):
            return
        codes = catalog.attribute_codes(given.item_ids, "aisle")
        pairs = np.unique(given.line_user().astype(np.int64) * given.n_items + given.items)
        bought_user, bought_item = pairs // given.n_items, pairs % given.n_items
        per_user_aisle = np.unique(bought_user * (codes.max() + 2) + codes[bought_item] + 1,
                                   return_counts=True)
        wanted = rows.astype(np.int64) * (codes.max() + 2) + codes[items] + 1
        pos = np.minimum(np.searchsorted(per_user_aisle[0], wanted),
                         max(len(per_user_aisle[0]) - 1, 0))
        found = per_user_aisle[0][pos] == wanted if len(per_user_aisle[0]) else False
        self.same = np.where(found & (codes[items] >= 0), per_user_aisle[1][pos], 0)
        self.aisle = codes[items]

    def sentence(self, i: int) -> str:
        if self.same[i] > 0:
            name = self.names.get(int(self.aisle[i]))
            where = f"aisle ({name})" if name else "aisle"
            count = self.same[i]
            return (f"new to you; same {where} as {count} product"
                    f"{'s' if count > 1 else ''} you buy")
        return "new to you; ranked from other customers' orders"
