"""Long frame of order lines -> BasketData, vectorised; cached on disk by source fingerprint."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basketcli.data.basket_data import BasketData, _offsets
from basketcli.data.catalog import Catalog, default_catalog_path, read_catalog
from basketcli.data.frames import read_lines, source_files
from basketcli.data.source import DataSpec
from basketcli.errors import DataError

CACHE_ENV = "BASKET_CACHE_DIR"
PREPARE_VERSION = "1"  # bump when the prepared arrays change meaning


@dataclass(frozen=True, eq=False)
class Dataset:
    """Prepared data plus what is needed to name products and to reproduce it."""

    data: BasketData
    catalog: Catalog | None
    spec: DataSpec
    fingerprint: str


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "basket"
    return Path(root)


def frame_to_baskets(frame) -> BasketData:
    """Sort lines by (user, order, cart position), drop repeated products within an order."""
    import pandas as pd

    if len(frame) == 0:
        raise DataError("the data holds no order lines")
    sort_cols = ["user_id", "order_seq"] + (["cart_position"] if "cart_position" in frame else [])
    frame = frame.sort_values(sort_cols, kind="stable")
    frame = frame.drop_duplicates(["user_id", "order_seq", "product_id"])
    user = frame["user_id"].to_numpy(np.int64)
    seq = frame["order_seq"].to_numpy(np.int64)
    new_order = np.ones(len(frame), dtype=bool)
    new_order[1:] = (user[1:] != user[:-1]) | (seq[1:] != seq[:-1])
    order_starts = np.flatnonzero(new_order)
    new_user = np.ones(len(order_starts), dtype=bool)
    order_user = user[order_starts]
    new_user[1:] = order_user[1:] != order_user[:-1]
    user_starts = np.flatnonzero(new_user)

    item_ids, items = np.unique(frame["product_id"].to_numpy(np.int64), return_inverse=True)

    def per_order(column: str, dtype, fill):
        if column not in frame:
            return None
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)[order_starts]
        return np.where(np.isnan(values), fill, values).astype(dtype)

    cart = None
    if "cart_position" in frame:
        raw = pd.to_numeric(frame["cart_position"], errors="coerce").fillna(0).to_numpy()
        cart = np.clip(raw, 0, np.iinfo(np.int16).max).astype(np.int16)
    data = BasketData(
        user_ids=order_user[user_starts],
        user_offsets=np.append(user_starts, len(order_starts)).astype(np.int64),
        order_offsets=np.append(order_starts, len(frame)).astype(np.int64),
        items=items.astype(np.int32),
        item_ids=item_ids,
        days_since_prior=per_order("days_since_prior", np.float32, np.nan),
        order_dow=per_order("order_dow", np.int8, -1),
        order_hour=per_order("order_hour", np.int8, -1),
        cart_position=cart,
    )
    data.validate()
    return data


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
    fields = spec.model_dump(exclude={"catalog", "min_item_count", "top_items"})
    digest.update(repr(sorted(fields.items())).encode())
    return digest.hexdigest()[:24]


def load_baskets(spec: DataSpec, use_cache: bool = True) -> BasketData:
    """Prepared baskets for ``spec`` before vocabulary restriction, from the cache when valid."""
    cached = cache_dir() / f"baskets-{_source_key(spec)}.npz"
    if use_cache and cached.is_file():
        try:
            data = BasketData.load_npz(cached)
            data.validate()
            return data
        except (OSError, ValueError, KeyError, TypeError, DataError):
            pass  # a damaged cache is rebuilt, never trusted
    data = frame_to_baskets(read_lines(spec))
    if use_cache:
        try:
            data.save_npz(cached)
        except OSError:
            pass  # a read-only cache folder only costs speed
    return data


def load_dataset(spec: DataSpec, use_cache: bool = True) -> Dataset:
    data = restrict_vocabulary(load_baskets(spec, use_cache), spec.min_item_count, spec.top_items)
    path = spec.source_path()
    folder = path if path is not None and path.is_dir() else None
    catalog_path = default_catalog_path(Path(spec.catalog) if spec.catalog else None, folder)
    catalog = read_catalog(catalog_path) if catalog_path is not None else None
    return Dataset(data=data, catalog=catalog, spec=spec, fingerprint=content_fingerprint(data))
