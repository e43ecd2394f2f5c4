"""Candidates and user x product features for the gradient-boosted model (``model``).

Everything is computed from BasketData's CSR arrays with whole-array numpy operations: sorts,
``bincount`` and ``searchsorted`` over order lines, never a Python loop per row or per user.

A candidate is a (customer, product) pair: every product in the customer's history, plus
optionally the most popular products they never bought. Features describe the history BEFORE
a target order, so the same code builds training rows (several past targets per customer),
validation rows (early stopping) and scoring rows.

The target order's day of week and hour are not used: ``score`` receives only histories, so
they are unknown when predicting. The customer's last order's day and hour stand in for them,
and "days since" features count up to the customer's latest history order, not the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from basketcli.data.basket_data import BasketData

# Bump when a feature is added, removed, reordered or changes meaning: saved runs record it.
FEATURE_SET_VERSION = 3  # 2: undefined values are MISSING, not NaN; 3: repurchase timing
# Undefined values (the gap of a product bought once, days without days_since_prior, aisles
# without a catalog) become MISSING. Every real feature value is >= 0, so a tree separates them
# as it would NaN, and with no NaN XGBoost keeps its quantised matrix dense: 1 byte per cell
# instead of a 4-byte bin id plus row pointers (RSS 1.17 instead of 1.78 GiB for 8.4 M rows).
MISSING = -1.0
RECENT_ORDERS = 5  # window of up_recent_share
DECAY = 0.8  # per-order decay of up_decayed_count

FEATURES: dict[str, str] = {
    # customer x product
    "up_orders": "orders of the customer that hold the product",
    "up_order_share": "up_orders / the customer's orders",
    "up_share_since_first": "up_orders / the customer's orders since the first one holding it",
    "up_orders_since_last": "orders placed after the last one holding it (0: in the last order)",
    "up_days_since_last": "days from the last order holding it to the customer's latest order",
    "up_streak": "consecutive orders holding it in the run that ends at its last purchase",
    "up_recent_share": f"share of the customer's last {RECENT_ORDERS} orders that hold it",
    "up_decayed_count": f"sum over orders holding it of {DECAY}^(orders placed since)",
    "up_mean_gap": "mean orders between consecutive purchases (undefined if bought once)",
    "up_overdue": "(up_orders_since_last + 1) / up_mean_gap: >1 means due",
    "up_mean_gap_days": "mean days between consecutive purchases (undefined without days)",
    "up_overdue_days": "(up_days_since_last + the customer's mean days between orders) / "
                       "up_mean_gap_days: >1 means due, in days",
    "up_overdue_population": "(up_orders_since_last + 1) / p_mean_gap: due by the product's "
                             "usual rhythm over all customers",
    "up_overdue_population_days": "the same in days (undefined without days)",
    "up_mean_cart_position": "mean add-to-cart position (undefined without cart positions)",
    "up_mean_cart_share": "mean add-to-cart position / basket size",
    # product (population statistics of the histories being scored)
    "p_basket_share": "share of all customers' history baskets that hold the product",
    "p_reorder_rate": "share of its purchases that repeat an earlier purchase by that customer",
    "p_repeat_buyer_share": "share of its buyers who bought it in two or more orders",
    "p_mean_cart_position": "mean add-to-cart position over all customers",
    "p_mean_gap": "mean orders between a customer's consecutive purchases of it, all customers",
    "p_mean_gap_days": "the same in days (undefined without days)",
    # customer
    "u_orders": "number of history orders",
    "u_mean_basket": "mean basket size",
    "u_last_basket": "size of the latest basket",
    "u_distinct_products": "number of distinct products bought",
    "u_reorder_ratio": "share of the customer's order lines that repeat an earlier purchase",
    "u_mean_days": "mean days between orders (undefined without days_since_prior)",
    "u_last_dow": "day of week of the latest order (stands in for the target's, unknown)",
    "u_last_hour": "hour of the latest order (stands in for the target's, unknown)",
    # catalog (undefined without a catalog)
    "aisle": "the product's aisle id",
    "department": "the product's department id",
    "ua_order_share": "share of the customer's orders holding any product of its aisle",
    "ud_order_share": "share of the customer's orders holding any product of its department",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
# The repurchase-timing features (feature set 3): gaps between purchases and how overdue a
# product is, by the customer's own and the population's rhythm (bench/ablation.py drops them).
REPURCHASE_TIMING: tuple[str, ...] = (
    "up_mean_gap", "up_overdue", "up_mean_gap_days", "up_overdue_days", "up_overdue_population",
    "up_overdue_population_days", "p_mean_gap", "p_mean_gap_days")


@dataclass(frozen=True, eq=False)
class ProductStats:
    """Population statistics of every product, from the histories of all customers."""

    basket_share: np.ndarray  # (I,) float64
    reorder_rate: np.ndarray  # (I,) float64, NaN for products never bought
    repeat_buyer_share: np.ndarray  # (I,) float64, NaN for products never bought
    mean_cart_position: np.ndarray  # (I,) float64, NaN when unknown
    mean_gap: np.ndarray  # (I,) float64 orders between repurchases, NaN when never repurchased
    mean_gap_days: np.ndarray  # (I,) float64 days between repurchases, NaN when unknown

    @classmethod
    def from_histories(cls, hist: BasketData) -> ProductStats:
        pairs = _Pairs.of(hist)
        n_items = hist.n_items
        lines = np.bincount(hist.items, minlength=n_items).astype(np.float64)
        repeats = np.bincount(pairs.line_item, weights=~pairs.first_line, minlength=n_items)
        buyers = np.bincount(pairs.item, minlength=n_items).astype(np.float64)
        repeat_buyers = np.bincount(pairs.item, weights=pairs.count >= 2, minlength=n_items)
        cart = np.full(n_items, np.nan)
        if hist.cart_position is not None:
            sums = np.bincount(hist.items, weights=hist.cart_position, minlength=n_items)
            cart = _ratio(sums, lines)
        # Repurchase gaps: between consecutive lines of a (customer, product) pair.
        rank = hist.order_rank()[hist.line_order()[pairs.order]].astype(np.float64)
        day = _order_days(hist)[hist.line_order()[pairs.order]]
        repeat = ~pairs.first_line
        gaps = np.bincount(pairs.line_item[1:], weights=np.diff(rank) * repeat[1:],
                           minlength=n_items) if len(rank) > 1 else np.zeros(n_items)
        day_gaps = (np.bincount(pairs.line_item[1:], weights=np.nan_to_num(np.diff(day)) *
                                repeat[1:], minlength=n_items)
                    if len(day) > 1 else np.zeros(n_items))
        return cls(
            basket_share=lines / max(hist.n_orders, 1),
            reorder_rate=_ratio(repeats, lines),
            repeat_buyer_share=_ratio(repeat_buyers, buyers),
            mean_cart_position=cart,
            mean_gap=_ratio(gaps, repeats),
            mean_gap_days=(_ratio(day_gaps, repeats) if hist.days_since_prior is not None
                           else np.full(n_items, np.nan)),
        )

    def arrays(self, prefix: str = "stats_") -> dict[str, np.ndarray]:
        return {prefix + k: v for k, v in vars(self).items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "stats_") -> ProductStats:
        names = ("basket_share", "reorder_rate", "repeat_buyer_share", "mean_cart_position",
                 "mean_gap", "mean_gap_days")
        return cls(**{n: np.asarray(arrays[prefix + n], dtype=np.float64) for n in names})

    def popular(self, n: int) -> np.ndarray:
        """The n products in most baskets (ties to the lower index)."""
        n = min(n, len(self.basket_share))
        return np.lexsort((np.arange(len(self.basket_share)), -self.basket_share))[:n]


@dataclass(frozen=True, eq=False)
class Candidates:
    """Rows of the model: one (customer, product) pair each, sorted by customer then product."""

    user: np.ndarray  # (R,) int64 customer index in the histories
    item: np.ndarray  # (R,) int64 vocabulary index
    features: np.ndarray  # (R, F) float32, columns in the order of the names asked for

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True, eq=False)
class _Pairs:
    """Order lines grouped by (customer, product) with a stable sort (rank order kept)."""

    order: np.ndarray  # (L,) line indices sorted by pair key
    first_line: np.ndarray  # (L,) bool, in sorted order: first line of its pair
    group: np.ndarray  # (L,) pair index of each sorted line
    starts: np.ndarray  # (P,) first sorted line of each pair
    ends: np.ndarray  # (P,) last sorted line of each pair
    user: np.ndarray  # (P,) int64
    item: np.ndarray  # (P,) int64
    count: np.ndarray  # (P,) int64 lines (orders) of each pair
    line_item: np.ndarray  # (L,) item of each sorted line

    @classmethod
    def of(cls, hist: BasketData) -> _Pairs:
        n_items = np.int64(max(hist.n_items, 1))
        key = hist.line_user() * n_items + hist.items
        # Lines are stored in time order, so a stable sort keeps each pair's lines in order.
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_key[1:] != sorted_key[:-1]
        starts = np.flatnonzero(first)
        ends = (np.append(starts[1:], len(order)) - 1 if len(starts)
                else np.zeros(0, dtype=np.int64))  # no lines: no pairs
        pair_key = sorted_key[starts]
        return cls(
            order=order, first_line=first, group=np.cumsum(first) - 1, starts=starts, ends=ends,
            user=pair_key // n_items, item=pair_key % n_items,
            count=np.diff(np.append(starts, len(order))), line_item=hist.items[order],
        )


def item_attributes(catalog, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(aisle, department) id of every vocabulary product; -1 when unknown or no catalog."""
    if catalog is None:
        unknown = np.full(len(item_ids), -1, dtype=np.int64)
        return unknown, unknown.copy()
    return (catalog.attribute_codes(item_ids, "aisle"),
            catalog.attribute_codes(item_ids, "department"))


def build_candidates(
    hist: BasketData, stats: ProductStats, aisle: np.ndarray, department: np.ndarray,
    explore: int = 0, extra: tuple[np.ndarray, np.ndarray] | None = None,
    names: tuple[str, ...] = FEATURE_NAMES,
) -> Candidates:
    """Candidate rows with the features ``names`` (every one by default), in that order, for
    the customers of ``hist``: the products of each customer's history, plus ``extra``
    (customer, product) pairs, or else the ``explore`` most popular products, when the
    customer never bought them."""
    pairs = _Pairs.of(hist)
    n_orders = hist.orders_per_user().astype(np.int64)
    order_user = hist.order_user()
    rank = hist.order_rank()
    from_end = n_orders[order_user] - 1 - rank  # 0: the customer's latest order
    line_order = hist.line_order()[pairs.order]
    line_from_end = from_end[line_order]
    line_rank = rank[line_order]

    user, item = pairs.user, pairs.item
    cols: dict[str, np.ndarray] = {}
    count = pairs.count.astype(np.float64)
    first_rank = line_rank[pairs.starts]
    last_rank = line_rank[pairs.ends]
    since_last = n_orders[user] - 1 - last_rank
    cols["up_orders"] = count
    cols["up_order_share"] = count / n_orders[user]
    cols["up_share_since_first"] = count / (n_orders[user] - first_rank)
    cols["up_orders_since_last"] = since_last.astype(np.float64)
    cols["up_days_since_last"] = _days_to_latest(hist, from_end)[line_order][pairs.ends]
    cols["up_streak"] = _streaks(pairs, line_rank)
    recent = np.minimum(n_orders[user], RECENT_ORDERS)
    cols["up_recent_share"] = _group_sum(pairs, line_from_end < RECENT_ORDERS) / recent
    cols["up_decayed_count"] = _group_sum(pairs, DECAY ** line_from_end.astype(np.float64))
    gap = _ratio((last_rank - first_rank).astype(np.float64), count - 1)
    cols["up_mean_gap"] = gap
    cols["up_overdue"] = _ratio(since_last + 1.0, gap)
    day = _order_days(hist)[line_order]
    gap_days = _ratio(day[pairs.ends] - day[pairs.starts], count - 1)
    cols["up_mean_gap_days"] = gap_days
    rhythm = _mean_days(hist)[user]
    cols["up_overdue_days"] = _ratio(cols["up_days_since_last"] + rhythm, gap_days)
    cols["up_overdue_population"] = _ratio(since_last + 1.0, stats.mean_gap[item])
    cols["up_overdue_population_days"] = _ratio(cols["up_days_since_last"] + rhythm,
                                                stats.mean_gap_days[item])
    if hist.cart_position is not None:
        cart = hist.cart_position[pairs.order].astype(np.float64)
        size = hist.basket_sizes()[line_order].astype(np.float64)
        cols["up_mean_cart_position"] = _group_sum(pairs, cart) / count
        cols["up_mean_cart_share"] = _group_sum(pairs, cart / size) / count
    else:
        cols["up_mean_cart_position"] = cols["up_mean_cart_share"] = np.full(len(user), np.nan)

    if extra is not None:
        user, item, cols = _add_explore(hist, pairs, extra[0], extra[1], cols)
    elif explore > 0:
        active = np.flatnonzero(hist.orders_per_user() > 0)
        popular = stats.popular(explore).astype(np.int64)
        user, item, cols = _add_explore(hist, pairs, np.repeat(active, len(popular)),
                                        np.tile(popular, len(active)), cols)
    cols.update(_product_columns(stats, item))
    cols.update(_user_columns(hist, pairs, n_orders, user))
    cols.update(_catalog_columns(hist, n_orders, aisle, department, user, item))
    features = np.empty((len(user), len(names)), dtype=np.float32)
    for column, name in enumerate(names):
        features[:, column] = cols[name]
    np.nan_to_num(features, copy=False, nan=MISSING)
    return Candidates(user=user, item=item, features=features)


def labels(candidates: Candidates, target: BasketData) -> np.ndarray:
    """1.0 where the candidate product is in the customer's target basket, else 0.0."""
    n_items = np.int64(max(target.n_items, 1))
    wanted = _sorted_unique(target.line_user() * n_items + target.items)
    keys = candidates.user * n_items + candidates.item
    return _is_in(keys, wanted).astype(np.float32)


def training_levels(train: BasketData, n_targets: int) -> Iterator[tuple[BasketData, BasketData]]:
    """(histories, targets) for each of the customers' last ``n_targets`` training orders.

    Level j takes each customer's j-th order from the end of ``train`` as the target and
    everything before it as the history; customers with no history at that level add no rows.
    """
    counts = train.orders_per_user()
    from_end = np.repeat(counts, counts) - train.order_rank()  # 1: latest
    for level in range(1, n_targets + 1):
        if not (from_end > level).any():
            return
        yield train.select_orders(from_end > level), train.select_orders(from_end == level)


# --- helpers -------------------------------------------------------------------------------------
def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)


def _group_sum(pairs: _Pairs, values: np.ndarray) -> np.ndarray:
    return np.bincount(pairs.group, weights=values, minlength=len(pairs.starts))


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy's hash-based unique is far slower on these keys)."""
    values = np.sort(values)
    if len(values) == 0:
        return values
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def _is_in(keys: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    if len(sorted_unique) == 0:
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_unique, keys), len(sorted_unique) - 1)
    return sorted_unique[pos] == keys


def _order_days(hist: BasketData) -> np.ndarray:
    """(O,) day of each order from its customer's first (NaN without days_since_prior)."""
    if hist.days_since_prior is None:
        return np.full(hist.n_orders, np.nan)
    gaps = np.nan_to_num(hist.days_since_prior.astype(np.float64), nan=0.0)
    total = np.cumsum(gaps)
    first = hist.user_offsets[:-1][hist.order_user()]
    return total - total[first]


def _days_to_latest(hist: BasketData, from_end: np.ndarray) -> np.ndarray:
    """(O,) days from each order to its customer's latest order; NaN without the data."""
    if hist.days_since_prior is None:
        return np.full(hist.n_orders, np.nan)
    gaps = np.nan_to_num(hist.days_since_prior.astype(np.float64), nan=0.0)
    total = np.cumsum(gaps)
    latest = np.arange(hist.n_orders) + from_end  # index of each order's customer's latest
    return total[latest] - total


def _streaks(pairs: _Pairs, line_rank: np.ndarray) -> np.ndarray:
    """Length of the run of consecutive orders that ends at each pair's last purchase."""
    n = len(line_rank)
    consecutive = np.zeros(n, dtype=bool)
    consecutive[1:] = ~pairs.first_line[1:] & (line_rank[1:] == line_rank[:-1] + 1)
    run_start = np.maximum.accumulate(np.where(consecutive, 0, np.arange(n)))
    return (pairs.ends - run_start[pairs.ends] + 1).astype(np.float64)


def _add_explore(
    hist: BasketData, pairs: _Pairs, new_user: np.ndarray, new_item: np.ndarray,
    cols: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Append (customer, product never bought) rows and re-sort by customer, product."""
    n_items = np.int64(max(hist.n_items, 1))
    new_user, new_item = new_user.astype(np.int64), new_item.astype(np.int64)
    history_keys = pairs.user * n_items + pairs.item  # already sorted
    new_keys = new_user * n_items + new_item
    fresh = ~_is_in(new_keys, history_keys)
    new_user, new_item, new_keys = new_user[fresh], new_item[fresh], new_keys[fresh]
    # Never bought: counts and shares are 0, "since"/gap/cart features are undefined.
    zero_features = {"up_orders", "up_order_share", "up_share_since_first", "up_streak",
                     "up_recent_share", "up_decayed_count"}
    order = np.argsort(np.concatenate([history_keys, new_keys]), kind="stable")
    merged = {}
    for name, values in cols.items():
        fill = np.zeros(len(new_user)) if name in zero_features else np.full(len(new_user), np.nan)
        merged[name] = np.concatenate([values, fill])[order]
    user = np.concatenate([pairs.user, new_user])[order]
    item = np.concatenate([pairs.item, new_item])[order]
    return user, item, merged


def _product_columns(stats: ProductStats, item: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "p_basket_share": stats.basket_share[item],
        "p_reorder_rate": stats.reorder_rate[item],
        "p_repeat_buyer_share": stats.repeat_buyer_share[item],
        "p_mean_cart_position": stats.mean_cart_position[item],
        "p_mean_gap": stats.mean_gap[item],
        "p_mean_gap_days": stats.mean_gap_days[item],
    }


def _user_columns(
    hist: BasketData, pairs: _Pairs, n_orders: np.ndarray, user: np.ndarray
) -> dict[str, np.ndarray]:
    n_lines = np.bincount(hist.line_user(), minlength=hist.n_users).astype(np.float64)
    distinct = np.bincount(pairs.user, minlength=hist.n_users).astype(np.float64)
    latest = np.maximum(hist.user_offsets[1:] - 1, 0)  # only read for customers with orders
    sizes = hist.basket_sizes()
    per_user = {
        "u_orders": n_orders.astype(np.float64),
        "u_mean_basket": _ratio(n_lines, n_orders),
        "u_last_basket": sizes[latest].astype(np.float64) if len(sizes) else n_lines * 0,
        "u_distinct_products": distinct,
        "u_reorder_ratio": _ratio(n_lines - distinct, n_lines),
        "u_mean_days": _mean_days(hist),
        "u_last_dow": _latest_field(hist.order_dow, latest, hist.n_users),
        "u_last_hour": _latest_field(hist.order_hour, latest, hist.n_users),
    }
    return {name: values[user] for name, values in per_user.items()}


def _mean_days(hist: BasketData) -> np.ndarray:
    if hist.days_since_prior is None:
        return np.full(hist.n_users, np.nan)
    days = hist.days_since_prior.astype(np.float64)
    known = ~np.isnan(days)
    order_user = hist.order_user()
    sums = np.bincount(order_user[known], weights=days[known], minlength=hist.n_users)
    return _ratio(sums, np.bincount(order_user[known], minlength=hist.n_users))


def _latest_field(values: np.ndarray | None, latest: np.ndarray, n_users: int) -> np.ndarray:
    if values is None or len(values) == 0:
        return np.full(n_users, np.nan)
    out = values[latest].astype(np.float64)
    return np.where(out < 0, np.nan, out)


def _catalog_columns(
    hist: BasketData, n_orders: np.ndarray, aisle: np.ndarray, department: np.ndarray,
    user: np.ndarray, item: np.ndarray,
) -> dict[str, np.ndarray]:
    out = {}
    for name, share_name, codes in (("aisle", "ua_order_share", aisle),
                                    ("department", "ud_order_share", department)):
        code = codes[item].astype(np.float64)
        out[name] = np.where(code < 0, np.nan, code)
        out[share_name] = _group_order_share(hist, n_orders, codes, user, item)
    return out


def _group_order_share(
    hist: BasketData, n_orders: np.ndarray, codes: np.ndarray, user: np.ndarray,
    item: np.ndarray,
) -> np.ndarray:
    """Share of each candidate's customer's orders holding any product of its group."""
    result = np.full(len(user), np.nan)
    if (codes < 0).all():
        return result
    groups, compact = np.unique(codes, return_inverse=True)
    n_groups = np.int64(len(groups))
    # Distinct (order, group) pairs, then orders per (customer, group).
    order_group = _sorted_unique(hist.line_order() * n_groups + compact[hist.items])
    user_group = hist.order_user()[order_group // n_groups] * n_groups + order_group % n_groups
    user_group = np.sort(user_group)
    keys = _sorted_unique(user_group)
    counts = np.diff(np.append(np.searchsorted(user_group, keys), len(user_group)))
    wanted = user * n_groups + compact[item]
    pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = (keys[pos] == wanted) if len(keys) else np.zeros(len(user), dtype=bool)
    share = np.where(found, counts[pos] / np.maximum(n_orders[user], 1), 0.0) if len(keys) else 0.0
    known = codes[item] >= 0
    result[known] = np.broadcast_to(share, result.shape)[known]
    return result
