"""Product names or ids given by a user -> product ids of a model's vocabulary.

Names are resolved case- and space-insensitively through the run's catalog names and/or a
products.csv; an unknown name or a product outside the model's vocabulary is a one-line error
naming the closest known products (or, with ``skip_unknown``, a warning and the product is
dropped).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from basketcli.data.catalog import Catalog, normalize_name, read_catalog
from basketcli.data.ids import find, is_text
from basketcli.errors import DataError

Warn = Callable[[str], None]


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

    def product_id_of(self, product: str | int, where: str) -> int | str | None:
        """The product id, or None when the product is skipped (``skip_unknown``)."""
        if not isinstance(product, str) and is_text(self.vocabulary):
            raise DataError(f"{where}: product {product!r} is a number, but {self.run_dir} was "
                            f'trained on text product ids; give ids as strings ("{product}")')
        # A text id is matched exactly, a name whatever its case and spacing.
        key = (product if self._is_exact_id(product) else normalize_name(product)) \
            if isinstance(product, str) else int(product)
        found = self._cache.get(key)
        if found is None:
            found = self._resolve(product if isinstance(product, str) else int(product))
            self._cache[key] = found
        if isinstance(found, int):
            pid = self.vocabulary[found].item()
            if pid not in (0, 1) or isinstance(product, str):
                self.fast[product] = pid
            return pid
        if not self.skip_unknown:
            raise DataError(f"{where}: {found} (fix it or pass --skip-unknown)")
        self.warn(f"{where}: skipped {found}")
        return None

    def row_of(self, reference: str) -> int | None:
        """The vocabulary row of a product name or id written as text, or None when the model
        does not know it (no message: the caller says what to do with it)."""
        key = reference if self._is_exact_id(reference) else normalize_name(reference)
        found = self._cache.get(key)
        if found is None:
            try:
                found = self._resolve(reference)
            except DataError:  # no names to look it up in
                found = f"unknown product {reference!r}"
            self._cache[key] = found
        return found if isinstance(found, int) else None

    def learn(self, names: Iterable[str]) -> None:
        """Resolve new spellings ahead, without a message: one that fails is reported where
        it occurs, when its customer is checked one product at a time."""
        for name in names:
            if not name.strip():
                continue
            key = name if self._is_exact_id(name) else normalize_name(name)
            found = self._cache.get(key)
            if found is None:
                try:
                    found = self._resolve(name)
                except DataError:  # no names to look it up in: said where the name occurs
                    continue
                self._cache[key] = found
            if isinstance(found, int):
                self.fast[name] = self.vocabulary[found].item()

    def _is_exact_id(self, product: str) -> bool:
        return is_text(self.vocabulary) and bool(find(self.vocabulary, [product])[1][0])

    def _resolve(self, product: str | int) -> int | str:
        if isinstance(product, str) and self._is_exact_id(product):
            return int(find(self.vocabulary, [product])[0][0])
        if isinstance(product, str):
            pid = self.known.id_of(product) if self.known is not None else None
            if pid is None and self.catalog is not None:
                pid = self.catalog.id_of(product)
            if pid is None and product.strip().isdigit() and not is_text(self.vocabulary):
                pid = int(product.strip())
            if pid is None:
                if self.known is None and self.catalog is None and not is_text(self.vocabulary):
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


def _row_of(sorted_ids: np.ndarray, product_id: int | str) -> int | None:
    rows, found = find(sorted_ids, [product_id])
    return int(rows[0]) if found[0] else None


def read_exclusions(path: Path, resolver: ProductResolver, warn: Warn) -> np.ndarray:
    """(vocabulary size,) bool: the products ``path`` lists (one name or id per line; blank
    lines and lines starting with # are ignored). Products the model does not know are named in
    a warning and ignored; excluding every product is a DataError."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--exclude {path}: cannot read it ({exc.__class__.__name__})") from None
    wanted = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    excluded = np.zeros(len(resolver.vocabulary), dtype=bool)
    unknown = []
    for reference in wanted:
        row = resolver.row_of(reference)
        if row is None:
            unknown.append(reference)
        else:
            excluded[row] = True
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        warn(f"--exclude {path}: {len(unknown)} products are unknown to the model and ignored "
             f"({shown})")
    if excluded.all():
        raise DataError(f"--exclude {path}: excludes every product the model knows; nothing "
                        "would be left to recommend")
    return excluded
