"""Model inputs built straight from BasketData's CSR arrays (never a users x products matrix).

An *example* is a history (a contiguous range of one customer's orders, ``start:end``) and,
for training, the order right after it as the target. Items are shifted by one in padded
tensors so that 0 can mean "no item".
"""

from __future__ import annotations

import numpy as np

from basketcli.data.basket_data import BasketData, ranges


def sliding_examples(data: BasketData) -> tuple[np.ndarray, np.ndarray]:
    """Every order after a customer's first, as (history start, target order) pairs.

    The history of the example is orders ``start:target`` of the same customer.
    """
    rank = data.order_rank()
    targets = np.flatnonzero(rank >= 1).astype(np.int64)
    starts = data.user_offsets[:-1][data.order_user()[targets]]
    return starts.astype(np.int64), targets


def example_runs(starts: np.ndarray, run: int) -> np.ndarray:
    """Offsets cutting examples grouped by customer (as ``sliding_examples`` gives them) into
    runs of at most ``run`` consecutive examples of one customer.

    Training on whole runs lets a step encode each order once although the windows of
    consecutive examples overlap; ``run`` 1 gives one example per run.
    """
    n = len(starts)
    position = np.arange(n)
    new_customer = np.ones(n, dtype=bool)
    new_customer[1:] = starts[1:] != starts[:-1]
    first = np.maximum.accumulate(np.where(new_customer, position, 0))
    cuts = np.flatnonzero((position - first) % run == 0)
    return np.append(cuts, n).astype(np.int64)


def runs_examples(offsets: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """The example indices of the runs ``runs`` (offsets from ``example_runs``), in order."""
    return ranges(offsets[runs], offsets[runs + 1] - offsets[runs])


def distinct_orders(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(orders, index): the distinct entries of ``windows`` (-1, no order, included) and where
    each window entry is among them, so that each order is encoded once."""
    orders, index = np.unique(windows, return_inverse=True)
    return orders, index.reshape(windows.shape)


def whole_histories(data: BasketData) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of every customer's full history, for scoring."""
    return data.user_offsets[:-1].astype(np.int64), data.user_offsets[1:].astype(np.int64)


def last_order_windows(starts: np.ndarray, ends: np.ndarray, n_last: int) -> np.ndarray:
    """(E, n_last) order indices of each history's last orders, oldest first, right-aligned.

    Histories shorter than ``n_last`` are padded with -1 on the left, so the most recent order
    is always the last step.
    """
    offsets = np.arange(-n_last, 0, dtype=np.int64)[None, :]
    orders = ends[:, None] + offsets
    return np.where(orders >= starts[:, None], orders, -1)


def padded_baskets(
    data: BasketData, orders: np.ndarray, max_items: int | None = None
) -> np.ndarray:
    """(*orders.shape, L) int64 item indices + 1 of each order (0 = padding or no order).

    Items keep their add-to-cart order; L is the largest basket among ``orders`` (at most
    ``max_items``, keeping the first items of longer baskets).
    """
    flat = orders.reshape(-1)
    present = flat >= 0
    sizes = np.zeros(len(flat), dtype=np.int64)
    sizes[present] = data.order_offsets[flat[present] + 1] - data.order_offsets[flat[present]]
    if max_items is not None:
        sizes = np.minimum(sizes, max_items)
    width = max(int(sizes.max(initial=0)), 1)
    out = np.zeros((len(flat), width), dtype=np.int64)
    rows = np.repeat(np.arange(len(flat)), sizes)
    cols = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    starts = np.where(present, data.order_offsets[np.maximum(flat, 0)], 0)
    out[rows, cols] = data.items[ranges(starts, sizes)].astype(np.int64) + 1
    return out.reshape(*orders.shape, width)


def basket_lines(data: BasketData, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, item) of every item in ``orders[row]``: the sparse targets of a batch."""
    sizes = (data.order_offsets[orders + 1] - data.order_offsets[orders]).astype(np.int64)
    rows = np.repeat(np.arange(len(orders), dtype=np.int64), sizes)
    items = data.items[ranges(data.order_offsets[orders], sizes)].astype(np.int64)
    return rows, items


def epoch_order(n_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled example order of one epoch: a function of (seed, epoch) alone, so a
    resumed run sees exactly the batches an uninterrupted one would."""
    return np.random.default_rng([seed, epoch]).permutation(n_examples)
