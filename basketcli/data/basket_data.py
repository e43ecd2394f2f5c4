"""BasketData: every customer's baskets in time order, held as flat CSR-style arrays."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from itertools import chain
from pathlib import Path

import numpy as np

from basketcli.data.ids import as_ids, find, id_array
from basketcli.errors import DataError

# Optional per-order and per-line side information; None when the source lacks it.
ORDER_FIELDS = ("days_since_prior", "order_dow", "order_hour")
LINE_FIELDS = ("cart_position",)


@dataclass(frozen=True, eq=False)
class BasketData:
    """Users -> ordered baskets of vocabulary indices.

    The orders of user ``u`` are ``user_offsets[u]:user_offsets[u + 1]``; the items of order ``o``
    are ``items[order_offsets[o]:order_offsets[o + 1]]``, distinct, in add-to-cart order when
    known. ``items`` holds indices into ``item_ids`` (the vocabulary), never raw product ids.
    """

    user_ids: np.ndarray  # (U,) external customer ids: int64, or text (basketcli.data.ids)
    user_offsets: np.ndarray  # (U + 1,) int64
    order_offsets: np.ndarray  # (O + 1,) int64
    items: np.ndarray  # (L,) int32 vocabulary indices
    item_ids: np.ndarray  # (I,) sorted product id of each vocabulary index: int64, or text
    days_since_prior: np.ndarray | None = None  # (O,) float32, NaN when unknown
    order_dow: np.ndarray | None = None  # (O,) int8, -1 when unknown
    order_hour: np.ndarray | None = None  # (O,) int8, -1 when unknown
    cart_position: np.ndarray | None = None  # (L,) int16, 1-based add-to-cart position

    # --- sizes -------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_orders(self) -> int:
        return len(self.order_offsets) - 1

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_lines(self) -> int:
        return len(self.items)

    def orders_per_user(self) -> np.ndarray:
        return np.diff(self.user_offsets)

    def basket_sizes(self) -> np.ndarray:
        return np.diff(self.order_offsets)

    # --- index maps ----------------------------------------------------------------------------
    def order_user(self) -> np.ndarray:
        """User index of every order."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.orders_per_user())

    def order_rank(self) -> np.ndarray:
        """0-based position of every order within its user's history."""
        starts = np.repeat(self.user_offsets[:-1], self.orders_per_user())
        return np.arange(self.n_orders, dtype=np.int64) - starts

    def line_order(self) -> np.ndarray:
        """Order index of every line (item occurrence)."""
        return np.repeat(np.arange(self.n_orders, dtype=np.int64), self.basket_sizes())

    def line_user(self) -> np.ndarray:
        return self.order_user()[self.line_order()]

    # --- access ------------------------------------------------------------------------------
    def basket(self, order: int) -> np.ndarray:
        return self.items[self.order_offsets[order] : self.order_offsets[order + 1]]

    def baskets_of(self, user: int) -> list[np.ndarray]:
        lo, hi = self.user_offsets[user], self.user_offsets[user + 1]
        return [self.basket(o) for o in range(lo, hi)]

    def product_ids_of(self, user: int) -> list[list[int]]:
        return [self.item_ids[b].tolist() for b in self.baskets_of(user)]

    def user_line_offsets(self) -> np.ndarray:
        """(U + 1,) offsets of each user's lines in ``items`` (a user's orders are contiguous)."""
        return self.order_offsets[self.user_offsets]

    def user_item_counts(self, order_weights: np.ndarray | None = None):
        """Sparse (users x items) matrix: number (or weighted sum) of baskets holding each item."""
        from scipy import sparse

        weights = (
            np.ones(self.n_lines, dtype=np.float32)
            if order_weights is None
            else np.repeat(np.asarray(order_weights, dtype=np.float32), self.basket_sizes())
        )
        # Lines are already grouped by user: build the CSR arrays directly (no COO round trip);
        # summing the duplicates of a row gives the same values as a COO conversion would.
        # The copy matters: summing sorts the index array in place.
        matrix = sparse.csr_matrix(
            (weights, self.items.copy(), self.user_line_offsets()),
            shape=(self.n_users, self.n_items),
        )
        matrix.sum_duplicates()
        return matrix

    def user_item_last(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every distinct (user, item) pair, user-major and item-sorted within a user, with the
        number of the user's baskets holding it and the 1-based rank of the latest one.

        Returns (users, items, counts, last_rank) as int64, int32, int64, int64 arrays.
        """
        line_user = np.repeat(np.arange(self.n_users, dtype=np.int64),
                              np.diff(self.user_line_offsets()))
        key = line_user * np.int64(self.n_items) + self.items
        # Stable: within a pair, lines stay in time order, so a run's last line is the latest.
        order = np.argsort(key, kind="stable")
        key = key[order]
        end = np.ones(len(key), dtype=bool)
        end[:-1] = key[1:] != key[:-1]
        ends = np.flatnonzero(end)
        counts = np.diff(ends, prepend=-1)
        rank = self.order_rank() + 1
        last_rank = rank[self.line_order()[order[ends]]]
        pair = key[ends]
        return pair // self.n_items, (pair % self.n_items).astype(np.int32), counts, last_rank

    def bought_mask(self) -> np.ndarray:
        """(users x items) bool: the products in any of each user's orders."""
        mask = np.zeros((self.n_users, self.n_items), dtype=bool)
        mask[self.line_user(), self.items] = True
        return mask

    def item_basket_counts(self) -> np.ndarray:
        """Number of baskets (all users) that contain each item."""
        return np.bincount(self.items, minlength=self.n_items).astype(np.int64)

    # --- subsets -----------------------------------------------------------------------------
    def select_orders(self, keep: np.ndarray) -> BasketData:
        """Keep the orders where ``keep`` is True; users stay (possibly with no orders)."""
        keep = np.asarray(keep, dtype=bool)
        sizes = self.basket_sizes()[keep]
        line_keep = np.repeat(keep, self.basket_sizes())
        kept_per_user = np.bincount(self.order_user()[keep], minlength=self.n_users)
        return replace(
            self,
            user_offsets=_offsets(kept_per_user),
            order_offsets=_offsets(sizes),
            items=self.items[line_keep],
            **{f: _take(getattr(self, f), keep) for f in ORDER_FIELDS},
            **{f: _take(getattr(self, f), line_keep) for f in LINE_FIELDS},
        )

    def select_users(self, users: np.ndarray) -> BasketData:
        """A BasketData holding only the given users (by index), in the given order."""
        users = np.asarray(users, dtype=np.int64)
        counts = self.orders_per_user()[users]
        order_idx = ranges(self.user_offsets[users], counts)
        sizes = self.basket_sizes()[order_idx]
        line_idx = ranges(self.order_offsets[order_idx], sizes)
        return replace(
            self,
            user_ids=self.user_ids[users],
            user_offsets=_offsets(counts),
            order_offsets=_offsets(sizes),
            items=self.items[line_idx],
            **{f: _take(getattr(self, f), order_idx) for f in ORDER_FIELDS},
            **{f: _take(getattr(self, f), line_idx) for f in LINE_FIELDS},
        )

    def last_orders(self, n_last: int) -> BasketData:
        """Keep only each user's most recent ``n_last`` orders."""
        counts = self.orders_per_user()
        rank_from_end = np.repeat(counts, counts) - self.order_rank()
        return self.select_orders(rank_from_end <= n_last)

    # --- persistence (numpy only, no pickle) --------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    def save_npz(self, path: Path) -> None:
        from basketcli.artifacts import atomic_write_npz

        atomic_write_npz(path, self.arrays())

    @classmethod
    def load_npz(cls, path: Path) -> BasketData:
        with np.load(path, allow_pickle=False) as npz:
            return cls(**{k: npz[k] for k in npz.files})

    def validate(self) -> None:
        """Check internal consistency (used after loading from disk)."""
        ok = (
            self.user_offsets[0] == 0
            and self.user_offsets[-1] == self.n_orders
            and self.order_offsets[0] == 0
            and self.order_offsets[-1] == self.n_lines
            and (self.n_lines == 0 or (self.items.min() >= 0 and self.items.max() < self.n_items))
        )
        if not ok:
            raise DataError("basket arrays are inconsistent: delete the cache and load again")


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for every (s, c), without a Python loop: the positions
    of runs of rows (a customer's orders, an order's lines, a sparse matrix's rows)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    index = np.arange(total, dtype=np.int64)
    return index - np.repeat(ends - counts, counts) + np.repeat(starts, counts)


def _take(array: np.ndarray | None, index: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[index]


def from_baskets(
    user_baskets: dict[int, list[list[int]]] | list[list[list[int]]],
    item_ids: np.ndarray | None = None,
) -> BasketData:
    """Build BasketData from nested lists of product ids (tests, examples, predict input).

    A product repeated within a basket is kept once, at its first position; empty baskets stay.
    """
    if isinstance(user_baskets, dict):
        user_ids = as_ids(list(user_baskets.keys()))
        histories = list(user_baskets.values())
    else:
        user_ids = np.arange(len(user_baskets), dtype=np.int64)
        histories = list(user_baskets)
    # Flattened with C-level iteration (chain, map): no Python code runs per basket or product.
    baskets = list(chain.from_iterable(histories))
    sizes = np.fromiter(map(len, baskets), dtype=np.int64, count=len(baskets))
    flat = as_ids(list(chain.from_iterable(baskets)))
    item_ids = np.unique(flat) if item_ids is None else id_array(item_ids)
    index, found = find(item_ids, flat)
    if not found.all():
        raise DataError("a basket holds a product outside the vocabulary")
    orders_per_user = np.fromiter(map(len, histories), dtype=np.int64, count=len(histories))
    return from_flat(user_ids, orders_per_user, sizes, index, item_ids)


def from_flat(
    user_ids: np.ndarray, orders_per_user: np.ndarray, basket_sizes: np.ndarray,
    items: np.ndarray, item_ids: np.ndarray,
) -> BasketData:
    """BasketData from flat arrays: ``items`` holds the vocabulary indices of every basket in
    turn, users in turn. A product repeated within a basket is kept once, at its first place."""
    items, basket_sizes = _distinct_in_baskets(
        np.asarray(items, dtype=np.int64), np.asarray(basket_sizes, dtype=np.int64), len(item_ids))
    return BasketData(
        user_ids=id_array(user_ids),
        user_offsets=_offsets(np.asarray(orders_per_user, dtype=np.int64)),
        order_offsets=_offsets(basket_sizes),
        items=items.astype(np.int32),
        item_ids=id_array(item_ids),
    )


def _distinct_in_baskets(
    items: np.ndarray, sizes: np.ndarray, n_items: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the repeats of a product within a basket (keeping the first); (items, sizes)."""
    if len(items) < 2:
        return items, sizes
    line_order = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    # Stable: within a (basket, product) run, the first line is the earliest occurrence.
    key = line_order * n_items + items
    order = np.argsort(key, kind="stable")
    key = key[order]
    repeated = key[1:] == key[:-1]
    if not repeated.any():
        return items, sizes
    keep = np.ones(len(items), dtype=bool)
    keep[order[1:][repeated]] = False
    return items[keep], np.bincount(line_order[keep], minlength=len(sizes)).astype(np.int64)
