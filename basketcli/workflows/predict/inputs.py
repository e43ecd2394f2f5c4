"""Customers to predict for, read from JSON or JSON Lines, and their orders checked.

Input formats (product references are names or integer ids; orders oldest first):

- one customer: ``[["Organic Strawberries"], ["Large Lemon", 47209], ...]`` (its id is null),
  or an object ``{"id": ..., "orders": [...]}``;
- many customers: ``{"customers": {"ID": [[...], ...], ...}}``;
- JSON Lines, one customer per line: ``{"id": "c1", "orders": [[...], ...]}`` or a bare list
  of orders (its id is the line number). Lines are read one batch at a time, so memory stays
  constant however long the file is.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from basketcli.errors import DataError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
STDIN = "-"


@dataclass(frozen=True)
class CustomerOrders:
    id: Any  # str or int from the input; None for a lone customer without an id
    orders: list  # raw JSON, checked by ``check_history`` and ``check_order``
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


def check_history(customer: CustomerOrders) -> list:
    """The customer's orders (a non-empty list), or a DataError naming the spot."""
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
