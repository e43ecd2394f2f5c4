"""Synthetic Instacart-shaped data of any size (`basket data synth`).

The generator writes the Instacart layout: ``orders.csv`` (order_id, user_id, eval_set,
order_number, order_dow, order_hour_of_day, days_since_prior_order), ``order_products__prior.csv``
and ``order_products__train.csv`` (order_id, product_id, add_to_cart_order, reordered),
``products.csv`` (product_id, product_name, aisle_id, department_id), ``aisles.csv`` and
``departments.csv``. Every customer's last order is in the ``train`` set, the others ``prior``.

The model behind it, chosen so that the statistics resemble Instacart's:

- **Popularity.** Product popularity is Zipf-Mandelbrot, ``p(rank) ~ 1 / (rank + 5) ** 0.9``,
  over a random permutation of the product ids (so ids carry no popularity): with 49,688
  products the top product takes about 1.1 % of the lines, the top ten 7 % and the top 1 %
  of products 38 % (Instacart: 1.5 % and 7 % for the top one and ten). Each product
  belongs to one of 134 aisles, each aisle to one of 21 departments.
- **Customers.** A customer places ``3 + Geometric(1 / 13.6)`` orders, clipped to 4-100 (mean
  about 16.6, as Instacart's 3.4 M orders over 206,209 customers). Each has a mean basket size
  drawn from a Gamma distribution (baskets average about 10 products, 10 % of them 3 or fewer,
  10 % 19 or more), and 5 + Poisson(20) favourite products drawn from the popularity
  distribution.
- **Baskets.** Each line of a basket is a favourite with the customer's own probability
  (Beta(5.5, 2), mean 0.73), favourites skewed to the first few (slot ``F * u ** 2``), and
  otherwise a product drawn from global popularity. A product appears at most once per basket.
  Favourites bought again and again make about 60 % of the lines after a customer's first order
  repeat purchases (Instacart: 59 %), which `basket data info` reports as ``repeat_ratio``.
- **Timing.** Days between orders are Gamma distributed around a per-customer mean and capped
  at 30 (a spike at 30 days, as in Instacart); the first order has none. ``order_dow`` is the
  customer's preferred weekday 40 % of the time, otherwise any day; ``order_hour_of_day`` is
  normal around a per-customer hour near 13:30.

Generation is vectorised over blocks of customers and written block by block with pyarrow's
CSV writer, so memory stays flat and the full Instacart size (206,209 customers, about 34 M order
lines) takes minutes. The same seed and sizes give byte-identical files: every block draws from
its own generator seeded by (seed, block index), and block boundaries do not depend on the machine.
The folder is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from basketcli.artifacts import atomic_folder
from basketcli.errors import DataError

N_AISLES = 134
N_DEPARTMENTS = 21
ZIPF_EXPONENT = 0.9
ZIPF_OFFSET = 5.0
MIN_ORDERS, MAX_ORDERS = 4, 100
MEAN_EXTRA_ORDERS = 13.6  # orders beyond the first three, geometric
BASKET_SHAPE, BASKET_MEAN = 2.5, 10.2  # Gamma of a customer's mean basket size
FAVOURITES_BASE, FAVOURITES_MEAN = 5, 20.0
FAVOURITE_SHARE_A, FAVOURITE_SHARE_B = 5.5, 2.0  # Beta: chance a line is a favourite
MAX_DAYS = 30
SUMMARY_FILE = "synth.json"  # the parameters and counts, written last
USERS_PER_BLOCK = 16_384  # fixed, so the output never depends on the machine


@dataclass(frozen=True)
class SynthSummary:
    """What was written: counts and the folder."""

    out: str
    users: int
    products: int
    orders: int
    order_lines: int
    seed: int


def popularity(n_products: int) -> np.ndarray:
    """Zipf-Mandelbrot probabilities by popularity rank (rank 0 the most popular)."""
    weights = 1.0 / (np.arange(1, n_products + 1, dtype=np.float64) + ZIPF_OFFSET) ** ZIPF_EXPONENT
    return weights / weights.sum()


def synthesize(
    out: Path, users: int, products: int, seed: int = 0, *, force: bool = False,
) -> SynthSummary:
    """Write an Instacart-layout folder of ``users`` customers and ``products`` products."""
    if users < 1:
        raise DataError(f"--users {users}: needs at least 1 customer")
    if products < 2:
        raise DataError(f"--products {products}: needs at least 2 products")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DataError(
            f"{out}: already exists and is not empty; choose another --out or pass --force"
        )
    with atomic_folder(out) as tmp:
        summary = SynthSummary(out=str(out), seed=seed, **_write_folder(tmp, users, products, seed))
        (tmp / SUMMARY_FILE).write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def ensure_synthetic(out: Path, users: int, products: int, seed: int = 0) -> SynthSummary:
    """The folder ``out`` made with these parameters: reused when its synth.json matches,
    written (replacing it) otherwise."""
    try:
        recorded = json.loads((Path(out) / SUMMARY_FILE).read_text())
        summary = SynthSummary(**recorded)
        if (summary.users, summary.products, summary.seed) == (users, products, seed):
            return summary
    except (OSError, ValueError, TypeError):
        pass
    return synthesize(out, users, products, seed, force=True)


def _write_folder(folder: Path, n_users: int, n_products: int, seed: int) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng([seed, 0])
    # Product ids 1..P; popularity rank r belongs to product_by_rank[r].
    product_by_rank = rng.permutation(n_products).astype(np.int64) + 1
    cumulative = np.cumsum(popularity(n_products))
    cumulative[-1] = 1.0
    _write_catalog(folder, n_products, rng, pa, pacsv)

    orders_per_user = np.clip(
        MIN_ORDERS - 1 + rng.geometric(1.0 / MEAN_EXTRA_ORDERS, n_users), MIN_ORDERS, MAX_ORDERS
    ).astype(np.int64)
    n_orders = int(orders_per_user.sum())
    order_ids = rng.permutation(n_orders).astype(np.int64) + 1  # ids carry no order

    plain = pacsv.WriteOptions(quoting_style="none", quoting_header="none")  # as Instacart's
    n_lines = 0
    with contextlib.ExitStack() as stack:
        orders_out = stack.enter_context(pacsv.CSVWriter(
            folder / "orders.csv", _orders_schema(pa), write_options=plain))
        writers = {
            name: stack.enter_context(pacsv.CSVWriter(
                folder / f"order_products__{name}.csv", _lines_schema(pa), write_options=plain))
            for name in ("prior", "train")
        }
        first_order = 0
        for block, lo in enumerate(range(0, n_users, USERS_PER_BLOCK)):
            hi = min(lo + USERS_PER_BLOCK, n_users)
            counts = orders_per_user[lo:hi]
            ids = order_ids[first_order:first_order + int(counts.sum())]
            first_order += len(ids)
            block_rng = np.random.default_rng([seed, 1, block])
            orders, lines = _block(block_rng, lo, counts, ids, product_by_rank, cumulative)
            orders_out.write_table(pa.table(orders, schema=_orders_schema(pa)))
            is_train = lines.pop("is_train")
            for name, mask in (("prior", ~is_train), ("train", is_train)):
                table = pa.table({k: v[mask] for k, v in lines.items()}, schema=_lines_schema(pa))
                writers[name].write_table(table)
            n_lines += len(is_train)
    return {"users": n_users, "products": n_products, "orders": n_orders, "order_lines": n_lines}


def _orders_schema(pa):
    return pa.schema([
        ("order_id", pa.int64()), ("user_id", pa.int64()), ("eval_set", pa.string()),
        ("order_number", pa.int16()), ("order_dow", pa.int8()), ("order_hour_of_day", pa.int8()),
        ("days_since_prior_order", pa.int8()),
    ])


def _lines_schema(pa):
    return pa.schema([
        ("order_id", pa.int64()), ("product_id", pa.int64()), ("add_to_cart_order", pa.int16()),
        ("reordered", pa.int8()),
    ])


def _write_catalog(folder: Path, n_products: int, rng: np.random.Generator, pa, pacsv) -> None:
    plain = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
    aisle_department = rng.integers(1, N_DEPARTMENTS + 1, N_AISLES)
    aisle_department[:N_DEPARTMENTS] = np.arange(1, N_DEPARTMENTS + 1)  # no empty department
    aisle = rng.integers(1, N_AISLES + 1, n_products)
    ids = np.arange(1, n_products + 1)
    pacsv.write_csv(pa.table({
        "product_id": ids,
        "product_name": [f"Synthetic product {i}" for i in ids.tolist()],
        "aisle_id": aisle,
        "department_id": aisle_department[aisle - 1],
    }), folder / "products.csv", write_options=plain)
    pacsv.write_csv(pa.table({
        "aisle_id": np.arange(1, N_AISLES + 1),
        "aisle": [f"aisle {i}" for i in range(1, N_AISLES + 1)],
    }), folder / "aisles.csv", write_options=plain)
    pacsv.write_csv(pa.table({
        "department_id": np.arange(1, N_DEPARTMENTS + 1),
        "department": [f"department {i}" for i in range(1, N_DEPARTMENTS + 1)],
    }), folder / "departments.csv", write_options=plain)


def _block(
    rng: np.random.Generator, first_user: int, orders_per_user: np.ndarray, order_ids: np.ndarray,
    product_by_rank: np.ndarray, cumulative: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Orders and order lines of one block of customers, all drawn at once."""
    n_users = len(orders_per_user)
    n_orders = int(orders_per_user.sum())
    order_user = np.repeat(np.arange(n_users), orders_per_user)
    user_start = np.cumsum(orders_per_user) - orders_per_user
    order_number = np.arange(n_orders) - np.repeat(user_start, orders_per_user) + 1
    is_last = order_number == orders_per_user[order_user]

    # Timing: a per-customer rhythm, weekday and hour.
    mean_gap = 3.0 + 25.0 * rng.beta(2.0, 3.0, n_users)
    days = np.minimum(np.rint(rng.gamma(2.0, mean_gap[order_user] / 2.0)), MAX_DAYS)
    days[order_number == 1] = -1  # written as empty: no previous order
    usual_day = rng.integers(0, 7, n_users)
    dow = np.where(rng.random(n_orders) < 0.4, usual_day[order_user], rng.integers(0, 7, n_orders))
    usual_hour = 13.5 + rng.normal(0.0, 2.0, n_users)
    hour = np.clip(np.rint(rng.normal(usual_hour[order_user], 3.0)), 0, 23)

    # Basket sizes around a per-customer mean; draw extra candidates to absorb repeats.
    mean_size = rng.gamma(BASKET_SHAPE, (BASKET_MEAN - 1.0) / BASKET_SHAPE, n_users)
    size = 1 + rng.poisson(mean_size[order_user])
    drawn = size + size // 2 + 2
    line_order = np.repeat(np.arange(n_orders), drawn)
    line_user = order_user[line_order]

    # Favourites: slots 0..F-1 per customer, ranks drawn from popularity.
    n_fav = FAVOURITES_BASE + rng.poisson(FAVOURITES_MEAN, n_users)
    fav_start = np.cumsum(n_fav) - n_fav
    fav_rank = np.searchsorted(cumulative, rng.random(int(n_fav.sum())))
    share = rng.beta(FAVOURITE_SHARE_A, FAVOURITE_SHARE_B, n_users)
    n_drawn = len(line_order)
    pick_fav = rng.random(n_drawn) < share[line_user]
    slot = np.minimum((n_fav[line_user] * rng.random(n_drawn) ** 2).astype(np.int64),
                      n_fav[line_user] - 1)
    global_rank = np.searchsorted(cumulative, rng.random(n_drawn))
    rank = np.where(pick_fav, fav_rank[fav_start[line_user] + slot], global_rank)
    product = product_by_rank[np.minimum(rank, len(product_by_rank) - 1)]

    # One line per (order, product), first draw wins; then keep the first `size` of each order.
    n_products = np.int64(len(product_by_rank) + 1)
    key = line_order * n_products + product
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(n_drawn, dtype=bool)
    keep[first] = True
    line_order, product, line_user = line_order[keep], product[keep], line_user[keep]
    starts = np.searchsorted(line_order, np.arange(n_orders))
    cart = np.arange(len(line_order)) - starts[line_order] + 1
    keep = cart <= size[line_order]
    line_order, product, line_user, cart = (
        line_order[keep], product[keep], line_user[keep], cart[keep])

    # reordered: the customer bought the product in an earlier order (lines are in time order).
    user_key = line_user * n_products + product
    _, first = np.unique(user_key, return_index=True)
    reordered = np.ones(len(user_key), dtype=np.int8)
    reordered[first] = 0

    orders = {
        "order_id": order_ids,
        "user_id": np.arange(first_user, first_user + n_users, dtype=np.int64)[order_user] + 1,
        "eval_set": np.where(is_last, "train", "prior"),
        "order_number": order_number.astype(np.int16),
        "order_dow": dow.astype(np.int8),
        "order_hour_of_day": hour.astype(np.int8),
        "days_since_prior_order": days.astype(np.int8),
    }
    import pyarrow as pa

    orders["days_since_prior_order"] = pa.array(
        orders["days_since_prior_order"], mask=order_number == 1, type=pa.int8()
    )
    lines = {
        "order_id": order_ids[line_order],
        "product_id": product,
        "add_to_cart_order": cart.astype(np.int16),
        "reordered": reordered,
        "is_train": is_last[line_order],
    }
    return orders, lines
