"""Catalog: product id <-> name, with aisle and department when known."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from basketcli.data.ids import find, parse_ids
from basketcli.errors import DataError

CATALOG_ENV = "BASKET_CATALOG"


def normalize_name(name: str) -> str:
    """Case- and whitespace-insensitive key for product names."""
    return " ".join(str(name).split()).casefold()


@dataclass(frozen=True, eq=False)
class Catalog:
    product_ids: np.ndarray  # (P,) sorted ascending: int64, or text (basketcli.data.ids)
    names: list[str]
    aisle_ids: np.ndarray | None = None  # (P,) int64
    department_ids: np.ndarray | None = None  # (P,) int64
    aisle_names: dict[int, str] = field(default_factory=dict)
    department_names: dict[int, str] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for pid, name in zip(self.product_ids.tolist(), self.names, strict=True):
            index.setdefault(normalize_name(name), pid)
        object.__setattr__(self, "_by_name", index)

    def __len__(self) -> int:
        return len(self.product_ids)

    def name_of(self, product_id: int | str) -> str:
        return self.names_of(np.asarray([product_id]))[0]

    def names_of(self, product_ids: np.ndarray) -> list[str]:
        rows, found = find(self.product_ids, product_ids)
        return [self.names[row] if hit else f"product {pid}"
                for row, hit, pid in zip(rows.tolist(), found.tolist(), product_ids.tolist(),
                                         strict=True)]

    def id_of(self, name: str) -> int | str | None:
        return self._by_name.get(normalize_name(name))  # type: ignore[attr-defined]

    def closest_names(self, name: str, n: int = 3) -> list[str]:
        names = self._by_name.keys()  # type: ignore[attr-defined]
        keys = difflib.get_close_matches(normalize_name(name), names, n=n, cutoff=0.6)
        return [self.name_of(self._by_name[k]) for k in keys]  # type: ignore[attr-defined]

    def attribute_codes(self, product_ids: np.ndarray, which: str) -> np.ndarray:
        """Aisle or department id for each product id (-1 when unknown)."""
        values = self.aisle_ids if which == "aisle" else self.department_ids
        out = np.full(len(product_ids), -1, dtype=np.int64)
        if values is not None:
            rows, found = find(self.product_ids, product_ids)
            out[found] = values[rows[found]]
        return out


def read_catalog(path: Path) -> Catalog:
    """Read a products.csv (product_id, product_name[, aisle_id, department_id]).

    aisles.csv and departments.csv beside it are read when present.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / "products.csv"
    if not path.is_file():
        raise DataError(f"{path}: catalog file not found; pass --catalog PATH/TO/products.csv")
    try:  # ids as text first, so that 0012 keeps its zeros until parse_ids decides
        frame = pd.read_csv(path, dtype={"product_id": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read catalog CSV ({exc})") from None
    missing = {"product_id", "product_name"} - set(frame.columns)
    if missing:
        raise DataError(
            f"{path}: catalog lacks column(s) {', '.join(sorted(missing))}; "
            "expected product_id,product_name[,aisle_id,department_id]"
        )
    values, labels = parse_ids(frame["product_id"].to_numpy(), f"{path}: column product_id")
    product_ids = values if labels is None else labels[values]
    order = np.argsort(product_ids, kind="stable")
    frame, product_ids = frame.iloc[order], product_ids[order]
    first = np.ones(len(product_ids), dtype=bool)
    first[1:] = product_ids[1:] != product_ids[:-1]
    frame, product_ids = frame[first], product_ids[first]
    return Catalog(
        product_ids=product_ids,
        names=frame["product_name"].astype(str).tolist(),
        aisle_ids=_optional_ids(frame, "aisle_id"),
        department_ids=_optional_ids(frame, "department_id"),
        aisle_names=_lookup(path.parent / "aisles.csv", "aisle_id", "aisle"),
        department_names=_lookup(path.parent / "departments.csv", "department_id", "department"),
        source=str(path),
    )


def read_complete_journey_catalog(path: Path, transactions: Path | None = None) -> Catalog:
    """Complete Journey's products.parquet as a catalog. It has no product names, so a name is
    made of the product type, brand and package size ("Bananas (National, 40 LB)"); where
    several products would share a name, the most bought (in ``transactions``) keeps it and
    the others get their product id ("... #123"). Product categories stand for aisles,
    departments for departments."""
    import pandas as pd

    frame = pd.read_parquet(path).drop_duplicates("product_id")
    bought = pd.Series(0, index=frame["product_id"])
    if transactions is not None:
        bought = pd.read_parquet(transactions, columns=["product_id"])["product_id"]
        bought = bought.value_counts().reindex(frame["product_id"], fill_value=0)
    # The most bought first, so that it is the one of a shared name that keeps it.
    frame = frame.assign(bought=bought.to_numpy()).sort_values(
        ["bought", "product_id"], ascending=[False, True])

    def text(column: str) -> pd.Series:
        return frame[column].fillna("").astype(str).str.strip()

    kind = text("product_type").where(text("product_type") != "", text("product_category"))
    kind = kind.where(kind != "", "Product").str.title()
    details = (text("brand").str.title() + ", " + text("package_size")).str.strip(", ")
    names = kind.where(details == "", kind + " (" + details + ")")
    names = names.where(~names.duplicated(), names + " #" + frame["product_id"].astype(str))
    order = np.argsort(frame["product_id"].to_numpy(), kind="stable")
    frame, names = frame.iloc[order], names.iloc[order]
    aisle, aisles = pd.factorize(text("product_category"))
    department, departments = pd.factorize(text("department"))
    return Catalog(
        product_ids=frame["product_id"].to_numpy(np.int64), names=names.tolist(),
        aisle_ids=aisle.astype(np.int64), department_ids=department.astype(np.int64),
        aisle_names={i: name.title() for i, name in enumerate(aisles.tolist())},
        department_names={i: name.title() for i, name in enumerate(departments.tolist())},
        source=str(path),
    )


def _optional_ids(frame, column: str) -> np.ndarray | None:
    import pandas as pd

    if column not in frame.columns:
        return None
    return pd.to_numeric(frame[column], errors="coerce").fillna(-1).to_numpy(np.int64)


def _lookup(path: Path, key: str, value: str) -> dict[int, str]:
    import pandas as pd

    if not path.is_file():
        return {}
    try:
        frame = pd.read_csv(path)
        return dict(zip(frame[key].astype(int), frame[value].astype(str), strict=True))
    except (KeyError, ValueError, pd.errors.ParserError):
        return {}


def default_catalog_path(explicit: Path | None, data_dir: Path | None = None) -> Path | None:
    """The catalog to use: --catalog, then BASKET_CATALOG, then products.csv in the data folder."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CATALOG_ENV)
    if env:
        return Path(env)
    if data_dir is not None and (data_dir / "products.csv").is_file():
        return data_dir / "products.csv"
    return None
