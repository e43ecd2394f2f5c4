"""Orders and lines as read -> BasketData, vectorised; cached on disk by source fingerprint."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from basketcli.artifacts import atomic_write_json
from basketcli.data.basket_data import BasketData, _offsets
from basketcli.data.catalog import (
    Catalog,
    default_catalog_path,
    read_catalog,
    read_complete_journey_catalog,
)
from basketcli.data.ids import check_same_kind
from basketcli.data.readers import (
    RawOrders,
    complete_journey_path,
    read_frame,
    read_raw,
    source_files,
)
from basketcli.data.source import COMPLETE_JOURNEY, DataSpec
from basketcli.errors import DataError

CACHE_ENV = "BASKET_CACHE_DIR"
PREPARE_VERSION = "3"  # bump when the prepared arrays change meaning (3: text ids, the report)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Prepared data plus what is needed to name products and to reproduce it."""

    data: BasketData
    catalog: Catalog | None
    spec: DataSpec
    fingerprint: str
    dropped_users: int = 0  # customers with fewer than spec.min_orders orders
    report: DataReport | None = None  # what reading changed


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "basket"
    return Path(root)


@dataclass(frozen=True)
class DataReport:
    """What reading had to change in the data, each counted: never silently."""

    merged_orders: int = 0  # orders sharing a customer's order number, merged into one
    repeated_lines: int = 0  # a product listed again in one order (kept once)
    empty_orders: int = 0  # orders without a line (left out)
    blank_id_lines: int = 0  # lines without a customer or product id (left out)
    orphan_lines: int = 0  # lines of orders the orders file does not have (left out)
    short_customers: int = 0  # customers with fewer orders than --min-orders (dropped)

    def problems(self, min_orders: int) -> list[str]:
        counted = [
            (self.merged_orders, "orders merged into another of the customer's with the same "
                                 "order number"),
            (self.repeated_lines, "products listed again in the same order (kept once)"),
            (self.empty_orders, "orders without a product (left out)"),
            (self.blank_id_lines, "lines without a customer or product id (left out)"),
            (self.orphan_lines, "lines of orders the orders file does not have (left out)"),
            (self.short_customers, f"customers with fewer than {min_orders} orders (dropped; "
                                   "--min-orders)")]
        return [f"{n:,} {what}" for n, what in counted if n]


def raw_to_baskets(raw: RawOrders) -> BasketData:
    """``prepare_raw``'s baskets."""
    return prepare_raw(raw)[0]


def prepare_raw(raw: RawOrders) -> tuple[BasketData, DataReport]:
    """Group lines into orders by (user, order_seq), sort them by cart position (stable: ties
    keep file order), drop repeated products within an order, index the vocabulary; and what
    that changed.

    Vectorised with packed-key sorts (see `sort_permutation`), never a data-frame sort.
    """
    if raw.n_lines == 0:
        raise DataError("the data holds no order lines")
    # 1. Order rows in (user, order_seq) order; equal pairs form one order ("group").
    row_perm = sort_permutation(raw.user_id, raw.order_seq)
    user_sorted = raw.user_id if row_perm is None else raw.user_id[row_perm]
    seq_sorted = raw.order_seq if row_perm is None else raw.order_seq[row_perm]
    new_group = np.ones(len(user_sorted), dtype=bool)
    new_group[1:] = (user_sorted[1:] != user_sorted[:-1]) | (seq_sorted[1:] != seq_sorted[:-1])
    del user_sorted, seq_sorted
    group_sorted = np.cumsum(new_group, dtype=np.int64) - 1
    n_groups = int(group_sorted[-1]) + 1 if len(group_sorted) else 0
    merged = 0
    if raw.order_key is not None:  # distinct orders (keys) per group, beyond the first
        keys = raw.order_key if row_perm is None else raw.order_key[row_perm]
        merged = len(np.unique(group_sorted * np.int64(keys.max() + 1) + keys)) - n_groups
        del keys
    del new_group
    if row_perm is None:
        group_of_row = group_sorted
    else:
        group_of_row = np.empty_like(group_sorted)
        group_of_row[row_perm] = group_sorted
        del group_sorted, row_perm

    # 2. Lines by (group, cart position), stable.
    line_group = group_of_row[raw.line_row]
    del group_of_row
    cart_key = None if raw.cart_position is None else _cart_sort_key(raw.cart_position)
    keys = (line_group,) if cart_key is None else (line_group, cart_key)
    line_perm = sort_permutation(*keys)
    del cart_key, keys
    if line_perm is not None:
        line_group = line_group[line_perm]
    products = raw.product_id if line_perm is None else raw.product_id[line_perm]

    # 3. Vocabulary: sorted distinct product ids, lines as indices into it.
    item_ids, items = vocabulary(products)
    del products

    # 4. A product bought twice in one order counts once (its first cart position).
    keep = first_in_group(line_group, items, len(item_ids))
    repeated = 0 if keep is None else int((~keep).sum())
    if keep is not None:
        line_group, items = line_group[keep], items[keep]
        line_perm = np.flatnonzero(keep) if line_perm is None else line_perm[keep]

    # 5. Offsets, and per-order fields from the row of each order's first line.
    new_order = np.ones(len(line_group), dtype=bool)
    new_order[1:] = line_group[1:] != line_group[:-1]
    order_starts = np.flatnonzero(new_order)
    del new_order, line_group
    first_line = order_starts if line_perm is None else line_perm[order_starts]
    rep_row = raw.line_row[first_line]
    order_user = raw.user_id[rep_row]
    new_user = np.ones(len(order_starts), dtype=bool)
    new_user[1:] = order_user[1:] != order_user[:-1]
    user_starts = np.flatnonzero(new_user)

    def per_order(values: np.ndarray | None, dtype, fill):
        if values is None:
            return None
        picked = values[rep_row]
        return np.where(np.isnan(picked), fill, picked).astype(dtype)

    cart = None
    if raw.cart_position is not None:
        raw_cart = raw.cart_position if line_perm is None else raw.cart_position[line_perm]
        cart = np.clip(np.nan_to_num(raw_cart, nan=0.0), 0, np.iinfo(np.int16).max)
        cart = cart.astype(np.int16)
        del raw_cart
    if raw.product_labels is not None:  # text ids: the codes index their sorted labels
        item_ids = raw.product_labels[item_ids]
    user_ids = order_user[user_starts]
    data = BasketData(
        user_ids=user_ids if raw.user_labels is None else raw.user_labels[user_ids],
        user_offsets=np.append(user_starts, len(order_starts)).astype(np.int64),
        order_offsets=np.append(order_starts, len(items)).astype(np.int64),
        items=items,
        item_ids=item_ids,
        days_since_prior=per_order(raw.days_since_prior, np.float32, np.nan),
        order_dow=per_order(raw.order_dow, np.int8, -1),
        order_hour=per_order(raw.order_hour, np.int8, -1),
        cart_position=cart,
    )
    data.validate()
    report = DataReport(merged_orders=merged, repeated_lines=repeated,
                        empty_orders=n_groups - len(order_starts),
                        blank_id_lines=raw.blank_id_lines, orphan_lines=raw.orphan_lines)
    return data, report


def _cart_sort_key(cart: np.ndarray) -> np.ndarray:
    """Cart positions as sortable integers; unknown ones after every known one (as pandas)."""
    known = ~np.isnan(cart)
    if known.all():
        return cart.astype(np.int64)
    top = int(np.nanmax(cart)) + 1 if known.any() else 0
    return np.where(known, cart, top).astype(np.int64)


def sort_permutation(*keys: np.ndarray) -> np.ndarray | None:
    """Stable lexicographic order of integer keys (the first most significant); None when the
    rows are already in order.

    When the key ranges and the row index fit in 63 bits together, the keys are packed into one
    int64 with the row index in the low bits and sorted by value (numpy's SIMD sort, many times
    faster than an argsort); otherwise np.lexsort.
    """
    n = len(keys[0])
    if n <= 1:
        return None
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - low for k, low in zip(keys, lows, strict=True)]
    key_bits = [max(span.bit_length(), 1) for span in spans]
    index_bits = max((n - 1).bit_length(), 1)
    if sum(key_bits) + index_bits > 63:
        if _is_sorted(*keys):
            return None
        return np.lexsort(keys[::-1])
    packed = np.zeros(n, dtype=np.int64)
    for key, low, bits in zip(keys, lows, key_bits, strict=True):
        packed <<= bits
        packed |= key - low if low else key
    if (packed[1:] >= packed[:-1]).all():
        return None
    packed <<= index_bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << index_bits) - 1
    return packed


def _is_sorted(*keys: np.ndarray) -> bool:
    previous_equal = np.ones(len(keys[0]) - 1, dtype=bool)
    for key in keys:
        less = key[1:] < key[:-1]
        if (less & previous_equal).any():
            return False
        previous_equal &= key[1:] == key[:-1]
    return True


def vocabulary(product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct ids, int32 index of each id in them)."""
    low, high = int(product_ids.min()), int(product_ids.max())
    if low >= 0 and high < max(4 * len(product_ids), 1 << 24):
        # Ids of a catalog: a presence table instead of a sort.
        present = np.zeros(high + 1, dtype=bool)
        present[product_ids] = True
        item_ids = np.flatnonzero(present).astype(np.int64)
        index = np.cumsum(present, dtype=np.int32) - 1
        return item_ids, index[product_ids]
    item_ids = np.unique(product_ids)
    return item_ids, np.searchsorted(item_ids, product_ids).astype(np.int32)


def first_in_group(groups: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray | None:
    """Mask keeping the first line of every repeated (group, item) pair; None when none repeats.

    ``groups`` is sorted, so one sort of the (group, item) key finds repeats."""
    key = groups * np.int64(n_items) + items
    ordered = np.sort(key)
    if not (ordered[1:] == ordered[:-1]).any():
        return None
    del ordered
    _, first = np.unique(key, return_index=True)  # stable: the earliest line of each pair
    keep = np.zeros(len(key), dtype=bool)
    keep[first] = True
    return keep


def restrict_vocabulary(
    data: BasketData, min_item_count: int = 1, top_items: int | None = None
) -> BasketData:
    """Keep products in >= min_item_count baskets (and the top_items most frequent); drop
    orders left empty. The vocabulary stays sorted by product id."""
    counts = data.item_basket_counts()
    keep = counts >= min_item_count
    if top_items is not None and top_items < keep.sum():
        # Stable ranking: frequency, then smaller product id.
        order = np.lexsort((data.item_ids, -counts))
        keep = np.zeros(data.n_items, dtype=bool)
        keep[order[:top_items]] = True
        keep &= counts >= min_item_count
    if keep.all():
        return data
    if not keep.any():
        raise DataError("no product is left after --min-item-count/--top-items; loosen them")
    new_index = np.cumsum(keep) - 1
    line_keep = keep[data.items]
    sizes = np.bincount(data.line_order()[line_keep], minlength=data.n_orders)
    filtered = BasketData(
        user_ids=data.user_ids,
        user_offsets=data.user_offsets,
        order_offsets=_offsets(sizes),
        items=new_index[data.items[line_keep]].astype(np.int32),
        item_ids=data.item_ids[keep],
        days_since_prior=data.days_since_prior,
        order_dow=data.order_dow,
        order_hour=data.order_hour,
        cart_position=None if data.cart_position is None else data.cart_position[line_keep],
    )
    nonempty = filtered.select_orders(sizes > 0)
    has_orders = nonempty.orders_per_user() > 0
    return nonempty.select_users(np.flatnonzero(has_orders))


def content_fingerprint(data: BasketData) -> str:
    digest = hashlib.sha256()
    for name, array in sorted(data.arrays().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _source_key(spec: DataSpec) -> str:
    digest = hashlib.sha256(PREPARE_VERSION.encode())
    for path in source_files(spec):
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    fields = spec.model_dump(exclude={"catalog", "min_item_count", "top_items", "min_orders",
                                      "max_memory"})
    digest.update(repr(sorted(fields.items())).encode())
    return digest.hexdigest()[:24]


def load_baskets(spec: DataSpec, use_cache: bool = True) -> BasketData:
    """Prepared baskets for ``spec`` before vocabulary restriction, from the cache when valid."""
    return load_prepared(spec, use_cache)[0]


def load_prepared(spec: DataSpec, use_cache: bool = True) -> tuple[BasketData, DataReport]:
    """``load_baskets`` and the report of what preparing changed (cached beside them)."""
    cached = cache_dir() / f"baskets-{_source_key(spec)}.npz"
    report_file = cached.with_suffix(".json")
    if use_cache and cached.is_file() and report_file.is_file():
        try:
            data = BasketData.load_npz(cached)
            data.validate()
            return data, DataReport(**json.loads(report_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, DataError):
            pass  # a damaged cache is rebuilt, never trusted
    raw = read_raw(spec)
    if raw.n_lines == 0:
        raise DataError(f"{spec.source}: holds no order lines (or none that match an order)")
    data, report = prepare_raw(raw)
    if use_cache:
        with contextlib.suppress(OSError):  # a read-only cache folder only costs speed
            data.save_npz(cached)
            atomic_write_json(report_file, asdict(report))
    return data, report


def load_dataset(spec: DataSpec, use_cache: bool = True, frame=None) -> Dataset:
    """The data set of ``spec``, prepared and filtered (from ``frame``, a pandas DataFrame of
    order lines, when given: ``spec.source`` is then FRAME and nothing is cached). What reading
    changed is said in one warning (a DataWarning), or with ``spec.strict`` refused."""
    baskets, report = prepare_raw(read_frame(frame, spec)) if frame is not None else \
        load_prepared(spec, use_cache)
    data = restrict_vocabulary(baskets, spec.min_item_count, spec.top_items)
    data, dropped = drop_short_histories(data, spec.min_orders)
    report = replace(report, short_customers=dropped)
    problems = report.problems(spec.min_orders)
    if problems and spec.strict:
        raise DataError(f"{spec.describe()}: {'; '.join(problems)} (--strict refuses data "
                        "that must be changed to be read)")
    if problems:
        warnings.warn(f"{spec.describe()}: {'; '.join(problems)}", DataWarning, stacklevel=2)
    catalog = dataset_catalog(spec)
    if catalog is not None:
        check_same_kind(data.item_ids, catalog.product_ids, f"{catalog.source}: product_id")
    return Dataset(data=data, catalog=catalog, spec=spec, fingerprint=content_fingerprint(data),
                   dropped_users=dropped, report=report)


class DataWarning(UserWarning):
    """The data had to be changed to be read (counted in the message)."""


def dataset_catalog(spec: DataSpec) -> Catalog | None:
    """The catalog of ``spec``'s data: --catalog, the one its package ships (Complete Journey),
    $BASKET_CATALOG, or products.csv in its folder; None when there is none."""
    if spec.source == COMPLETE_JOURNEY and not spec.catalog:
        return read_complete_journey_catalog(complete_journey_path("products"),
                                             complete_journey_path("transactions"))
    path = spec.source_path()
    folder = path if path is not None and path.is_dir() else None
    catalog_path = default_catalog_path(Path(spec.catalog) if spec.catalog else None, folder)
    return read_catalog(catalog_path) if catalog_path is not None else None


def drop_short_histories(data: BasketData, min_orders: int) -> tuple[BasketData, int]:
    """Only the customers with at least ``min_orders`` orders; and how many were dropped."""
    kept = data.orders_per_user() >= min_orders
    if not kept.any():
        raise DataError(f"no customer has {min_orders} or more orders; lower --min-orders (the "
                        "split needs 3: one basket of history, a validation and a test target)")
    dropped = int((~kept).sum())
    return (data.select_users(np.flatnonzero(kept)) if dropped else data), dropped
