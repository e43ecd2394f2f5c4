"""Customer and product ids as users have them: integers, or text kept exactly.

A column of ids is integers when every value is written as a plain integer (``42``, ``-7``;
not ``042``, ``+7`` or `` 42``); otherwise it is text, and every id keeps its exact spelling
(leading zeros, case, spaces inside). Inside, baskets use dense indices; the ids themselves
live in sorted arrays (int64, or numpy unicode for text) that every output maps back through.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from basketcli.errors import DataError

# A plain integer that round-trips through int64 exactly.
CANONICAL_INTEGER = r"^(0|-?[1-9][0-9]{0,17})$"


def is_text(ids: np.ndarray) -> bool:
    return np.asarray(ids).dtype.kind in "US"


def kind_of(ids: np.ndarray) -> str:
    return "text" if is_text(ids) else "integer"


def parse_ids(column: Any, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A column of ids (pyarrow, numpy or a list) as (values, labels): int64 ids and None when
    every value is a plain integer; else int64 codes into ``labels``, the sorted distinct text
    ids with their exact spellings. Blank values are a DataError naming ``what`` (callers that
    can leave such lines out find them with ``blank`` first)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column if isinstance(column, pa.Array | pa.ChunkedArray) else _to_arrow(column)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if blank(array).any():
        raise DataError(f"{what}: an id is empty")
    if pa.types.is_integer(array.type):
        return np.asarray(array.to_numpy(), dtype=np.int64), None
    if pa.types.is_floating(array.type):
        values = array.to_numpy()
        if (values == np.floor(values)).all():
            return values.astype(np.int64), None
    text = pc.cast(array, pa.string())
    if pc.all(pc.match_substring_regex(text, CANONICAL_INTEGER)).as_py():
        return np.asarray(pc.cast(text, pa.int64()).to_numpy(), dtype=np.int64), None
    # Distinct spellings through a hash table, sorted once: no Python string per line.
    encoded = pc.dictionary_encode(text)
    distinct = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=str)
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[encoded.indices.to_numpy(zero_copy_only=False)], distinct[order]


def _to_arrow(values: Any):
    import pyarrow as pa

    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return pa.array(array)
    return pa.array([None if v is None else v if isinstance(v, str) else _text(v)
                     for v in array.tolist()], type=pa.string())


def _text(value: Any) -> str:
    """A non-text id as text: whole floats lose their '.0' (CSV readers make 7 into 7.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def blank(column: Any) -> np.ndarray:
    """Mask of the blank values (null, empty or whitespace only) of a column of ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column if isinstance(column, pa.Array | pa.ChunkedArray) else _to_arrow(column)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return np.asarray(pc.is_null(array, nan_is_null=True).to_numpy(zero_copy_only=False))
    trimmed = pc.utf8_trim_whitespace(pc.cast(array, pa.string()))
    return np.asarray(pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False))


def find(sorted_ids: np.ndarray, wanted: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    """(row of each wanted id in ``sorted_ids``, whether it is there); ids of the other kind
    are never there."""
    wanted = np.asarray(wanted)
    if len(sorted_ids) == 0 or len(wanted) == 0 or is_text(sorted_ids) != is_text(wanted):
        return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    rows = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
    return rows, sorted_ids[rows] == wanted


def check_same_kind(expected: np.ndarray, given: np.ndarray, what: str) -> None:
    """A one-line DataError when ``given`` ids are not of ``expected``'s kind (ids of one data
    set are integers or text, never both)."""
    if len(given) and len(expected) and is_text(expected) != is_text(given):
        raise DataError(f"{what}: {kind_of(given)} ids where the data has {kind_of(expected)} "
                        f"ids; give {kind_of(expected)} ids (text ids are kept exactly: 0012 is "
                        "not 12)")


def as_ids(values: list) -> np.ndarray:
    """Ids from Python values (JSON, a dict's keys) as int64 when all are integers, else text."""
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    return np.asarray([str(v) for v in values], dtype=str)


def id_array(values) -> np.ndarray:
    """An array of ids as int64, or as text when it holds text."""
    array = np.asarray(values)
    return array if is_text(array) else array.astype(np.int64)
