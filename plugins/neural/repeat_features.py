"""The customer's repeat signal: per (history, product bought in it) frequency and recency.

Computed straight from the CSR arrays for a batch of histories, as sparse rows (history,
product, features): only products the customer bought appear, so nothing is ever the size of
customers x products.
"""

from __future__ import annotations

import numpy as np

from basketcli.data.basket_data import BasketData, ranges

DECAYS = (0.5, 0.8, 0.95)
FEATURE_NAMES = (
    "share",  # baskets holding the product / baskets in the history
    "log_count",
    *(f"decayed_{d}" for d in DECAYS),  # time-decayed share (most recent basket weighs 1)
    "recency",  # 1 / (1 + baskets since the last purchase)
    "log_gap",  # log(1 + baskets since the last purchase)
    "overdue",  # baskets since the last purchase / mean gap between purchases
    "log_history",  # log(1 + baskets in the history)
)
N_FEATURES = len(FEATURE_NAMES)


def repeat_features(
    data: BasketData, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, items, features) for the histories ``starts[r]:ends[r]`` (global order indices).

    ``features`` is (N, N_FEATURES) float32, one row per distinct (history, product) pair.
    """
    lengths = (ends - starts).astype(np.int64)
    orders = ranges(starts, lengths)
    order_row = np.repeat(np.arange(len(starts), dtype=np.int64), lengths)
    order_age = np.repeat(ends - 1, lengths) - orders  # 0 = the most recent basket
    sizes = data.order_offsets[orders + 1] - data.order_offsets[orders]
    items = data.items[ranges(data.order_offsets[orders], sizes)].astype(np.int64)
    line_row = np.repeat(order_row, sizes)
    line_age_steps = np.repeat(order_age, sizes)
    line_age = line_age_steps.astype(np.float64)
    keys, inverse = np.unique(line_row * data.n_items + items, return_inverse=True)
    rows, pair_items = keys // data.n_items, keys % data.n_items
    count = np.bincount(inverse, minlength=len(keys)).astype(np.float64)
    n = lengths[rows].astype(np.float64)
    last_age = np.full(len(keys), np.inf)
    np.minimum.at(last_age, inverse, line_age)
    first_age = np.zeros(len(keys))
    np.maximum.at(first_age, inverse, line_age)
    columns = [count / n, np.log1p(count)]
    ages = np.arange(int(line_age_steps.max(initial=0)) + 1, dtype=np.float64)
    for decay in DECAYS:
        # decay ** age by table lookup: ages are whole baskets, and pow per line was the
        # costliest step of a batch.
        weight = np.bincount(inverse, weights=(decay ** ages)[line_age_steps],
                             minlength=len(keys))
        columns.append(weight * (1 - decay) / (1 - decay ** n))
    mean_gap = np.where(count > 1, (first_age - last_age) / np.maximum(count - 1, 1), n)
    columns += [
        1.0 / (1.0 + last_age),
        np.log1p(last_age),
        np.minimum(last_age / np.maximum(mean_gap, 1.0), 10.0),
        np.log1p(n),
    ]
    features = np.empty((len(keys), len(columns)), dtype=np.float32)
    for column, values in enumerate(columns):
        features[:, column] = values
    return rows, pair_items, features
