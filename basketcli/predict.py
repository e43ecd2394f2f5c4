"""Next-basket predictions for customers given as JSON or JSON Lines.

Input formats (product references are names or integer ids; orders oldest first):

- one customer: ``[["Organic Strawberries"], ["Large Lemon", 47209], ...]`` (its id is null),
  or an object ``{"id": ..., "orders": [...]}``;
- many customers: ``{"customers": {"ID": [[...], ...], ...}}``;
- JSON Lines, one customer per line: ``{"id": "c1", "orders": [[...], ...]}`` or a bare list
  of orders (its id is the line number). Lines are read one batch at a time, so memory stays
  constant however long the file is.

Names are resolved case- and space-insensitively through the run's catalog names and/or a
products.csv; an unknown name or a product outside the model's vocabulary is a one-line error
naming the closest known products (or, with ``skip_unknown``, a warning and the product is
dropped). The model scores with the population state it was trained with: ``prepare_scoring``
is not called, since the customers given here are not a population.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any, TextIO

import numpy as np

from basketcli.artifacts import RunInfo, atomic_path
from basketcli.data.basket_data import from_flat
from basketcli.data.catalog import Catalog, default_catalog_path, normalize_name, read_catalog
from basketcli.errors import ArtifactError, ConfigError, DataError
from basketcli.metrics import top_k
from basketcli.protocol import BasketModel
from basketcli.sizing import SizingRule, select_basket

JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Customers scored together. Past a few hundred, a batch gets slower per customer: the model's
# and the basket rule's passes over its scores matrix (customers x products) leave the CPU
# caches (attngru on the sample, 1 thread: 1,411 customers per CPU second at 256, 968 at 1,024).
MAX_BATCH = 256
MIN_BATCH = 32
SCORE_CELLS = 1 << 22  # a batch's scores matrix holds at most this many floats (16 MiB)
STDIN = "-"
Warn = Callable[[str], None]


# --- reading customers -------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerOrders:
    id: Any  # str or int from the input; None for a lone customer without an id
    orders: list  # raw JSON, checked by ``check_orders``
    where: str  # how messages name this customer, e.g. "orders.json: customer 'c1'"


@contextlib.contextmanager
def open_orders(path: str | Path) -> Iterator[tuple[TextIO, str]]:
    """The orders stream and the name messages use for it ('-' is standard input)."""
    if str(path) == STDIN:
        yield sys.stdin, "stdin"
        return
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "file not found"
        raise DataError(
            f"--orders {path}: {problem}; give a JSON or JSON Lines file, or - for stdin"
        )
    with open(path, encoding="utf-8") as handle:
        yield handle, str(path)


def iter_customers(path: str | Path) -> Iterator[CustomerOrders]:
    """Customers of an orders file ('-': stdin); .jsonl/.ndjson files are always JSON Lines.

    A missing file fails here, before the model is loaded; the file is read lazily.
    """
    if str(path) != STDIN and not Path(path).is_file():
        with open_orders(path):
            pass  # raises the DataError naming the file
    jsonl = True if Path(str(path)).suffix.lower() in JSONL_SUFFIXES else None

    def customers() -> Iterator[CustomerOrders]:
        with open_orders(path) as (stream, name):
            yield from read_customers(stream, name, jsonl)

    return customers()


class _Lines:
    """Numbered lines of a text stream with one line of push-back."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.stream, self.name, self.number = stream, name, 0
        self._pushed: tuple[int, str] | None = None

    def next(self) -> tuple[int, str] | None:
        if self._pushed is not None:
            line, self._pushed = self._pushed, None
            return line
        try:
            text = self.stream.readline()
        except UnicodeDecodeError:
            raise DataError(f"{self.name}: not UTF-8 text (line {self.number + 1})") from None
        if not text:
            return None
        self.number += 1
        return self.number, text

    def next_content(self) -> tuple[int, str, str] | None:
        """The next non-blank line as (number, text, the blank lines skipped before it)."""
        skipped = []
        while (line := self.next()) is not None:
            if line[1].strip():
                return line[0], line[1], "".join(skipped)
            skipped.append(line[1])
        return None

    def push(self, line: tuple[int, str]) -> None:
        self._pushed = line

    def rest(self) -> str:
        try:
            return self.stream.read()
        except UnicodeDecodeError:
            raise DataError(f"{self.name}: not UTF-8 text") from None


def read_customers(
    stream: IO[str], name: str, jsonl: bool | None = None,
) -> Iterator[CustomerOrders]:
    """Customers from a JSON document or JSON Lines (streamed); format detected unless given."""
    lines = _Lines(stream, name)
    first = lines.next_content()
    if first is None:
        raise DataError(f"{name}: no orders (empty input); give a JSON list of orders, "
                        '{"customers": {...}} or JSON Lines')
    number, text, blank = first
    if jsonl is None:
        jsonl = _looks_like_jsonl(lines, number, text)
    if jsonl:
        lines.push((number, text))
        yield from _jsonl_customers(lines, name)
        return
    document = blank + text + lines.rest()
    try:
        value = json.loads(document)
    except json.JSONDecodeError as exc:
        raise DataError(_json_error(name, exc)) from None
    except RecursionError:
        raise DataError(f"{name}: JSON nested too deeply") from None
    yield from _document_customers(value, name)


def _looks_like_jsonl(lines: _Lines, number: int, text: str) -> bool:
    """JSON Lines if the first line is a whole customer object, or a whole value followed by
    more content; a document spread over several lines never parses on its first line."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    if isinstance(value, dict):
        return "customers" not in value
    following = lines.next_content()
    if following is None:
        return False
    lines.push((following[0], following[1]))
    return True


def _json_error(name: str, exc: json.JSONDecodeError, line: int | None = None) -> str:
    return (f"{name}: malformed JSON at line {line or exc.lineno}, column {exc.colno}: "
            f"{exc.msg}")


def _jsonl_customers(lines: _Lines, name: str) -> Iterator[CustomerOrders]:
    while (line := lines.next()) is not None:
        number, text = line
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(_json_error(name, exc, number)) from None
        except RecursionError:
            raise DataError(f"{name}: line {number}: JSON nested too deeply") from None
        where = f"{name}: line {number}"
        if isinstance(value, list):
            yield CustomerOrders(number, value, f"{where} (customer {number})")
        elif isinstance(value, dict) and "orders" in value:
            customer = _customer_id(value.get("id", number), where)
            yield CustomerOrders(customer, value["orders"], f"{where} (customer {customer!r})")
        else:
            raise DataError(f'{where}: expected {{"id": ..., "orders": [[...], ...]}} or a list '
                            f"of orders, got {_kind(value)}")


def _document_customers(value: Any, name: str) -> Iterator[CustomerOrders]:
    if isinstance(value, list):
        yield CustomerOrders(None, value, f"{name}: customer")
        return
    if isinstance(value, dict) and "orders" in value and "customers" not in value:
        customer = _customer_id(value.get("id"), name) if value.get("id") is not None else None
        yield CustomerOrders(customer, value["orders"], f"{name}: customer {customer!r}")
        return
    if isinstance(value, dict) and isinstance(value.get("customers"), dict):
        if not value["customers"]:
            raise DataError(f'{name}: "customers" is empty; give at least one customer')
        for customer, orders in value["customers"].items():
            yield CustomerOrders(customer, orders, f"{name}: customer {customer!r}")
        return
    if isinstance(value, dict) and "customers" in value:
        raise DataError(f'{name}: "customers" must map customer ids to lists of orders, '
                        f"got {_kind(value['customers'])}")
    raise DataError(f'{name}: expected a list of orders or {{"customers": {{ID: [[...], ...]}}}}, '
                    f"got {_kind(value)}")


def _customer_id(value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"{where}: customer id must be a string or an integer, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def check_orders(customer: CustomerOrders) -> list[list[str | int]]:
    """The customer's orders as lists of product references, or a DataError naming the spot."""
    orders = check_history(customer)
    for n, order in enumerate(orders, start=1):
        check_order(customer.where, n, order)
    return orders


def check_history(customer: CustomerOrders) -> list:
    orders, where = customer.orders, customer.where
    if not isinstance(orders, list):
        raise DataError(f"{where}: orders must be a list of orders (lists of product names or "
                        f"ids), got {_kind(orders)}")
    if not orders:
        raise DataError(f"{where}: empty order history; give at least one order")
    return orders


def check_order(where: str, n: int, order: Any) -> list[str | int]:
    """One order: a non-empty list of names or integer ids (24852 and 24852.0 are ids)."""
    if not isinstance(order, list):
        raise DataError(f"{where}, order {n}: an order must be a list of product names or "
                        f"ids, got {_kind(order)}")
    if not order:
        raise DataError(f"{where}, order {n}: empty order; leave it out")
    for product in order:
        if not _is_reference(product):
            raise DataError(f"{where}, order {n}: {product!r} is not a product name or id")
    return order


def _is_reference(product: Any) -> bool:
    if isinstance(product, bool):
        return False
    if isinstance(product, str):
        return bool(product.strip())
    return isinstance(product, int) or (isinstance(product, float) and product.is_integer())


# --- product names -----------------------------------------------------------------------------
class ProductResolver:
    """Product names or ids -> product ids of the model's vocabulary.

    Names come from the run (``run_names``, aligned with the vocabulary) and/or a catalog. A
    catalog needed only to explain a failure (a name the model never saw) is read lazily from
    ``catalog_path``, so predicting known products never pays for reading it.
    """

    def __init__(
        self, vocabulary: np.ndarray, run_names: list[str] | None, catalog: Catalog | None,
        skip_unknown: bool = False, warn: Warn = lambda message: None, run_dir: str = "the run",
        catalog_path: Path | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self._catalog = catalog
        self._catalog_path = catalog_path if catalog is None else None
        self.skip_unknown = skip_unknown
        self.warn = warn
        self.run_dir = run_dir
        if run_names is not None:
            self.known: Catalog | None = Catalog(vocabulary, list(run_names))
        elif catalog is not None:
            self.known = Catalog(vocabulary, catalog.names_of(vocabulary))
        else:
            self.known = None
        self._cache: dict[Any, int | str] = {}  # normalised reference -> row, or the problem
        # Exact references already resolved -> product id: the batch path's lookup. Ids 0 and 1
        # stay out, since true/false (and 0.0/1.0) would hash to them.
        self.fast: dict[Any, int] = {}

    @property
    def catalog(self) -> Catalog | None:
        if self._catalog is None and self._catalog_path is not None:
            path, self._catalog_path = self._catalog_path, None
            self._catalog = read_catalog(path)
        return self._catalog

    def name_of(self, row: int) -> str | None:
        return self.known.names[row] if self.known is not None else None

    def names_of_rows(self, rows: np.ndarray) -> list[str | None]:
        if self.known is None:
            return [None] * len(rows)
        return list(map(self.known.names.__getitem__, rows.tolist()))

    def product_id_of(self, product: str | int, where: str) -> int | None:
        """The product id, or None when the product is skipped (``skip_unknown``)."""
        key = normalize_name(product) if isinstance(product, str) else int(product)
        found = self._cache.get(key)
        if found is None:
            found = self._resolve(product if isinstance(product, str) else int(product))
            self._cache[key] = found
        if isinstance(found, int):
            pid = int(self.vocabulary[found])
            if pid not in (0, 1) or isinstance(product, str):
                self.fast[product] = pid
            return pid
        if not self.skip_unknown:
            raise DataError(f"{where}: {found} (fix it or pass --skip-unknown)")
        self.warn(f"{where}: skipped {found}")
        return None

    def learn(self, names: Iterable[str]) -> None:
        """Resolve new spellings ahead, without a message: one that fails is reported where
        it occurs, when its customer is checked one product at a time."""
        for name in names:
            if not name.strip():
                continue
            key = normalize_name(name)
            found = self._cache.get(key)
            if found is None:
                try:
                    found = self._resolve(name)
                except DataError:  # no names to look it up in: said where the name occurs
                    continue
                self._cache[key] = found
            if isinstance(found, int):
                self.fast[name] = int(self.vocabulary[found])

    def _resolve(self, product: str | int) -> int | str:
        if isinstance(product, str):
            pid = self.known.id_of(product) if self.known is not None else None
            if pid is None and self.catalog is not None:
                pid = self.catalog.id_of(product)
            if pid is None and product.strip().isdigit():
                pid = int(product.strip())
            if pid is None:
                if self.known is None and self.catalog is None:
                    raise DataError(
                        f"product name {product!r} needs a catalog: {self.run_dir} holds no "
                        "product names; pass --catalog products.csv or give product ids"
                    )
                return f"unknown product {product!r}{self._closest(product)}"
        else:
            pid = product
        row = _row_of(self.vocabulary, pid)
        if row is not None:
            return row
        if isinstance(product, str):
            return (f"product {product!r} (id {pid}) is outside the model's vocabulary (it never "
                    f"saw it in training){self._closest(product)}")
        catalog = self.catalog
        if catalog is not None and _row_of(catalog.product_ids, pid) is not None:
            return (f"product id {pid} ({catalog.name_of(pid)!r}) is outside the model's "
                    "vocabulary (it never saw it in training)")
        return f"unknown product id {pid} (not in the model's vocabulary)"

    def _closest(self, name: str) -> str:
        """'; closest: ...' from the names the model knows (else the catalog), or ''."""
        source = self.known or self.catalog
        if source is None:
            return ""
        close = source.closest_names(name, n=3)
        if not close:  # a looser search before giving up
            by_key = {normalize_name(n): n for n in source.names}
            keys = difflib.get_close_matches(normalize_name(name), by_key, n=3, cutoff=0.4)
            close = [by_key[k] for k in keys]
        return f"; closest: {', '.join(repr(c) for c in close)}" if close else ""


def _row_of(sorted_ids: np.ndarray, product_id: int) -> int | None:
    row = int(np.searchsorted(sorted_ids, product_id))
    if row < len(sorted_ids) and sorted_ids[row] == product_id:
        return row
    return None


# --- predicting --------------------------------------------------------------------------------
@dataclass
class PredictedProduct:
    product_id: int
    name: str | None
    score: float
    bought_before: bool


@dataclass
class CustomerPrediction:
    """One customer's basket, best product first, held column by column (``basket`` gives
    the rows), so that a batch of thousands is built and written without an object per
    product."""

    id: Any
    product_ids: list[int]
    names: list[str | None]
    scores: list[float]  # rounded to 6 decimals
    bought_before: list[bool]
    size_rule: str
    orders_given: int
    orders_used: int
    skipped_products: int = 0

    @property
    def basket(self) -> list[PredictedProduct]:
        return list(map(PredictedProduct, self.product_ids, self.names, self.scores,
                        self.bought_before))

    @property
    def truncated(self) -> bool:
        return self.orders_used < self.orders_given

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "basket": [{"product_id": pid, "name": name, "score": score}
                       for pid, name, score in zip(self.product_ids, self.names, self.scores,
                                                   strict=True)],
            "size_rule": self.size_rule,
        }


@dataclass
class _Resolved:
    """A batch's resolved orders as flat arrays, customers in turn."""

    customers: list[CustomerOrders]
    orders_per_customer: np.ndarray  # (C,)
    basket_sizes: np.ndarray  # (O,)
    rows: np.ndarray  # (L,) vocabulary indices, basket by basket


@dataclass
class Predictor:
    """A loaded run, ready to predict baskets for batches of customers."""

    model: BasketModel
    info: RunInfo
    run_dir: str
    resolver: ProductResolver
    rule: SizingRule
    vocabulary: np.ndarray = field(repr=False)

    @property
    def reads_last_orders(self) -> int | None:
        return self.model.reads_last_orders

    @property
    def batch_size(self) -> int:
        """Customers scored together: MAX_BATCH, fewer for a catalog so large that the scores
        matrix (batch x products floats) would pass SCORE_CELLS."""
        return max(MIN_BATCH, min(MAX_BATCH, SCORE_CELLS // max(len(self.vocabulary), 1)))

    def predict(self, customers: Iterable[CustomerOrders]) -> Iterator[CustomerPrediction]:
        """Predictions in input order, scored in batches that grow from one customer (so the
        first answer comes at once) to ``batch_size``."""
        batch: list[CustomerOrders] = []
        size, limit = 1, self.batch_size
        for customer in customers:
            batch.append(customer)
            if len(batch) >= size:
                yield from self.predict_batch(batch)
                batch, size = [], min(size * 4, limit)
        if batch:
            yield from self.predict_batch(batch)

    def predict_batch(self, customers: list[CustomerOrders]) -> list[CustomerPrediction]:
        lines = self._resolve_batch(customers)
        n = len(lines.customers)
        if not n:
            return []
        ids = [_user_id(customer.id, i) for i, customer in enumerate(lines.customers)]
        if len(set(ids)) < len(ids):  # repeated ids: rows are matched by position anyway
            ids = [-(i + 1) for i in range(len(ids))]
        given = from_flat(np.array(ids, dtype=np.int64), lines.orders_per_customer,
                          lines.basket_sizes, lines.rows, self.vocabulary)
        keep = self.reads_last_orders
        data = given.last_orders(keep) if keep else given
        scores = np.asarray(self.model.score(data), dtype=np.float32)
        expected = (n, len(self.vocabulary))
        if scores.shape != expected:
            raise ArtifactError(
                f"{self.run_dir}: model {self.model.name} returned scores of shape "
                f"{scores.shape}, expected {expected}; the run does not fit its vocabulary"
            )
        counts, columns = self._choose(scores)
        pick_rows = np.repeat(np.arange(n), counts)
        # float32 -> float64 is exact and so is x * 1e6, so this rounds exactly as round(x, 6).
        chosen = np.round(scores[pick_rows, columns].astype(np.float64), 6).tolist()
        seen = np.zeros(scores.shape, dtype=bool)  # products of each customer's whole history
        seen[given.line_user(), given.items] = True
        bought = seen[pick_rows, columns].tolist()
        product_ids = self.vocabulary[columns].tolist()
        names = self.resolver.names_of_rows(columns)
        ends = np.cumsum(counts).tolist()
        given_orders = lines.orders_per_customer.tolist()
        label = self.rule.label()
        out, start = [], 0
        for customer, end, n_orders in zip(lines.customers, ends, given_orders, strict=True):
            n_used = min(n_orders, keep) if keep else n_orders
            out.append(CustomerPrediction(
                customer.id, product_ids[start:end], names[start:end], chosen[start:end],
                bought[start:end], label, n_orders, n_used))
            start = end
        return out

    def _resolve_batch(self, customers: list[CustomerOrders]) -> _Resolved:
        """The customers' orders as vocabulary indices; customers whose every product is
        skipped (``--skip-unknown``) are left out."""
        fast = self._fast_lines([customer.orders for customer in customers])
        if fast is not None:
            return _Resolved(customers, *fast)
        # Something needs a closer look: customer by customer, in input order, so that the
        # first problem is the one reported and warnings come in input order.
        kept, parts = [], []
        for customer in customers:
            lines = self._fast_lines([customer.orders])
            if lines is None:
                orders = self._resolve(customer)
                if orders is None:
                    continue
                lines = (np.array([len(orders)]), np.array(list(map(len, orders))),
                         np.searchsorted(self.vocabulary, list(chain.from_iterable(orders))))
            kept.append(customer)
            parts.append(lines)
        if not parts:
            return _Resolved([], *(np.zeros(0, dtype=np.int64) for _ in range(3)))
        columns = zip(*parts, strict=True)
        return _Resolved(kept, *(np.concatenate(c).astype(np.int64) for c in columns))

    def _fast_lines(self, histories: list) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(orders per customer, basket sizes, vocabulary indices) when every order is a
        non-empty list of products the model knows, given as integer ids or in a spelling
        already resolved; None when anything needs checking or resolving one by one.

        Type checks and flattening run as C-level iteration (map, chain, set): no Python code
        runs per order or product."""
        if set(map(type, histories)) != {list}:
            return None
        orders = list(chain.from_iterable(histories))
        if set(map(type, orders)) != {list}:
            return None
        n_orders = np.fromiter(map(len, histories), dtype=np.int64, count=len(histories))
        sizes = np.fromiter(map(len, orders), dtype=np.int64, count=len(orders))
        if not (n_orders.all() and sizes.all()):
            return None
        products = list(chain.from_iterable(orders))
        kinds = set(map(type, products))
        if kinds != {int}:
            if not kinds <= {int, str}:
                return None  # floats, booleans, nested values: checked one by one
            # Names in a spelling already resolved become ids; ids and new names stay as given.
            fast = self.resolver.fast
            products = list(map(fast.get, products, products))
            if set(map(type, products)) != {int}:
                self.resolver.learn([p for p in set(products) if type(p) is str])
                products = list(map(fast.get, products, products))
                if set(map(type, products)) != {int}:
                    return None
        try:
            ids = np.array(products, dtype=np.int64)
        except OverflowError:
            return None
        rows = np.searchsorted(self.vocabulary, ids)
        if rows.max() >= len(self.vocabulary) or not np.array_equal(self.vocabulary[rows], ids):
            return None  # a product outside the vocabulary
        return n_orders, sizes, rows

    def _resolve(self, customer: CustomerOrders) -> list[list[int]] | None:
        """The customer's orders as product ids, checked and resolved one by one, with the
        messages (or, with --skip-unknown, warnings) that name each problem; None: skip the
        customer."""
        resolved = []
        for n, order in enumerate(check_history(customer), start=1):
            where = f"{customer.where}, order {n}"
            ids = [self.resolver.product_id_of(p, where) for p in check_order(
                customer.where, n, order)]
            kept = [pid for pid in ids if pid is not None]
            if kept:
                resolved.append(kept)
        if not resolved:  # only with --skip-unknown: every product was dropped
            self.resolver.warn(f"{customer.where}: skipped (no product the model knows)")
            return None
        return resolved

    def _choose(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(basket size of each row, the chosen columns of every row in turn, best first)."""
        n, n_items = scores.shape
        if self.rule.kind == "top-k":
            picks = top_k(scores, self.rule.k)
            return np.full(n, picks.shape[1], dtype=np.int64), picks.reshape(-1)
        # flatnonzero: a 2-D nonzero takes several times longer for the same cells.
        cells = np.flatnonzero(select_basket(scores, self.rule))
        rows, columns = np.divmod(cells, n_items)
        # Best first within each row; equal scores in column order.
        order = np.lexsort((columns, -scores.reshape(-1)[cells], rows))
        return np.bincount(rows, minlength=n), columns[order]


def _user_id(customer: Any, position: int) -> int:
    """Numeric ids keep their value (a known customer is then not their own neighbour);
    other ids get negative numbers that no training customer has."""
    if isinstance(customer, int):
        return customer
    if isinstance(customer, str) and customer.strip().isdigit():
        return int(customer.strip())
    return -(position + 1)


def sizing_rule(
    top_k_size: int | None = None, threshold: float | None = None, sizing: SizingRule | None = None,
) -> SizingRule | None:
    """One rule from --top-k / --threshold / --sizing (at most one may be given)."""
    given = [name for name, value in (("--top-k", top_k_size), ("--threshold", threshold),
                                      ("--sizing", sizing)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)}: give only one basket size rule")
    if top_k_size is not None:
        if top_k_size < 1:
            raise ConfigError(f"--top-k {top_k_size}: give at least 1")
        return SizingRule(kind="top-k", k=top_k_size)
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"--threshold {threshold}: a probability threshold lies in [0, 1]")
        return SizingRule(kind="threshold", threshold=threshold)
    return sizing


def load_predictor(
    run_dir: Path, *, catalog: Path | None = None, rule: SizingRule | None = None,
    skip_unknown: bool = False, warn: Warn = lambda message: None, device: str | None = None,
) -> Predictor:
    """Load a run directory (to score on ``device``, when given) and everything needed to name
    products and size baskets."""
    from basketcli.workflows import load_run

    model, info = load_run(Path(run_dir), device)
    vocabulary = np.asarray(info.vocabulary, dtype=np.int64)
    if len(vocabulary) == 0 or np.any(np.diff(vocabulary) <= 0):
        raise ArtifactError(f"{run_dir}: corrupt run file (vocabulary is empty or not sorted)")
    if info.catalog_names is not None and len(info.catalog_names) != len(vocabulary):
        raise ArtifactError(f"{run_dir}: corrupt run file (catalog_names and vocabulary differ "
                            "in length)")
    # Names: the run's own, else a catalog (--catalog, the one it was trained with, or
    # $BASKET_CATALOG); with the run's names, that catalog only explains unknown products.
    recorded = info.data.get("catalog")
    fallback = default_catalog_path(
        Path(recorded) if recorded and Path(recorded).is_file() else None)
    names_catalog = read_catalog(Path(catalog)) if catalog is not None else None
    if names_catalog is None and info.catalog_names is None and fallback is not None:
        names_catalog, fallback = read_catalog(fallback), None
    rule = rule or model.default_sizing()
    if rule.needs_probabilities and not model.gives_probabilities:
        raise ConfigError(f"--sizing {rule.label()}: model {model.name} ranks products but gives "
                          "no probabilities; use --top-k")
    resolver = ProductResolver(vocabulary, info.catalog_names, names_catalog, skip_unknown, warn,
                               str(run_dir), catalog_path=fallback)
    return Predictor(model, info, str(run_dir), resolver, rule, vocabulary)


# --- writing -----------------------------------------------------------------------------------
def write_json(predictions: Iterable[CustomerPrediction], stream: IO[str],
               flush: bool = False) -> int:
    """Stream ``{"customers": [...]}`` one customer per line; returns the customer count.

    Each customer's line is complete when written (the comma opens the next line), so a
    program reading line by line gets every answer at once; ``flush`` pushes each line out
    (for a pipe, which Python would otherwise buffer until exit).
    """
    count = 0
    stream.write('{"customers": [\n')
    for prediction in predictions:
        stream.write(("," if count else "") + json.dumps(prediction.to_json(), ensure_ascii=False)
                     + "\n")
        if flush:
            stream.flush()
        count += 1
    stream.write("]}\n")
    return count


def write_json_file(predictions: Iterable[CustomerPrediction], path: Path) -> int:
    """Write to a temporary file renamed into place only once every customer is done, so
    --output is never half-written, while memory stays constant."""
    with atomic_path(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        return write_json(predictions, handle)
