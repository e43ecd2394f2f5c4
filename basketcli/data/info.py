"""Descriptive statistics of a data set (`basket data info`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from basketcli.data.basket_data import BasketData


def distribution(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"mean": 0.0, "min": 0.0, "p10": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0}
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {"mean": float(values.mean()), "min": float(values.min()), "p10": float(p10),
            "median": float(median), "p90": float(p90), "max": float(values.max())}


def repeat_ratio(data: BasketData) -> float:
    """Share of order lines (first orders excluded) whose product the customer bought before."""
    line_user = data.line_user()
    line_rank = data.order_rank()[data.line_order()]
    # A (user, item) pair's first purchase is at its smallest order rank.
    key = line_user * np.int64(data.n_items) + data.items
    order = np.lexsort((line_rank, key))
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    is_repeat = np.empty(len(key), dtype=bool)
    is_repeat[order] = ~first
    later = line_rank > 0
    return float(is_repeat[later].mean()) if later.any() else 0.0


def data_stats(data: BasketData) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "users": data.n_users,
        "orders": data.n_orders,
        "products": data.n_items,
        "order_lines": data.n_lines,
        "repeat_ratio": repeat_ratio(data),
        "basket_size": distribution(data.basket_sizes().astype(np.float64)),
        "orders_per_user": distribution(data.orders_per_user().astype(np.float64)),
    }
    if data.days_since_prior is not None:
        days = data.days_since_prior[~np.isnan(data.days_since_prior)]
        stats["days_between_orders"] = distribution(days.astype(np.float64))
    counts = np.sort(data.item_basket_counts())[::-1]
    if len(counts):
        top = max(1, len(counts) // 100)
        stats["top_1pct_products_share_of_lines"] = float(counts[:top].sum() / max(counts.sum(), 1))
    return stats
