"""Memory budget of data loading: estimate before allocating, refuse with a message.

The estimate is rows x peak bytes per row. CSV rows are counted from the file size and the mean
line length of the first 256 KiB; Parquet rows come from the file's metadata. The bytes per row
are the measured peaks of the loaders at the full Instacart size (`bench/ingest.py`), rounded up.
The budget is `--max-memory`, else $BASKET_MAX_MEMORY, else the memory available on the machine.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from basketcli.errors import DataError

MEMORY_ENV = "BASKET_MAX_MEMORY"
GIB = 1 << 30
SAMPLE_BYTES = 256 << 10
BASE_BYTES = 200 << 20  # interpreter, numpy, pyarrow and pandas themselves
# Peak bytes per row: the measured peak / rows at the full Instacart size (34 M lines), rounded up
# with headroom: Instacart folder 2.5 GiB, long CSV 4.2 GiB, long Parquet 5.0 GiB.
BYTES_PER_ROW = {
    "instacart_order": 110,  # orders.csv: order table, lookup, sort keys
    "instacart": 90,  # order_products__*.csv lines: read blocks, joined arrays, sort keys
    "long": 160,  # one long CSV line: compact columns, frame, time ranks and sort keys
    "parquet": 180,  # one long Parquet row: the same, from decoded row groups
}
_UNITS = {"": GIB, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": GIB, "t": 1 << 40}


def parse_memory(text: str | int | float | None) -> int | None:
    """'4G', '512M', '1.5GiB', '2000000000' (bytes when it has no unit and is >= 1 MiB), or a
    plain number of GiB ('6') -> bytes."""
    if text is None or text == "":
        return None
    if isinstance(text, int | float):
        return _positive(int(text * GIB) if text < (1 << 20) else int(text), str(text))
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtb]?)(?:i?b)?\s*", str(text).lower())
    if not match:
        raise DataError(
            f"--max-memory {text!r}: not a size; use a number of GiB or a size such as 4G or 512M"
        )
    number, unit = float(match.group(1)), match.group(2)
    if unit == "" and number >= (1 << 20):
        unit = "b"  # a large bare number is bytes
    return _positive(int(number * _UNITS[unit]), str(text))


def _positive(value: int, text: str) -> int:
    if value <= 0:
        raise DataError(f"--max-memory {text!r}: must be more than 0")
    return value


def available_memory() -> int:
    """Memory this process may take without swapping others out (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def budget_bytes(max_memory: int | None) -> tuple[int, str]:
    """The budget and how to name it in a message."""
    if max_memory is not None:
        return max_memory, "the --max-memory budget of"
    env = os.environ.get(MEMORY_ENV)
    if env:
        return parse_memory(env) or available_memory(), f"${MEMORY_ENV} ="
    return available_memory(), "the memory available,"


def csv_rows(path: Path) -> int:
    """Rows of a CSV estimated from its size and the mean length of its first lines."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    lines = head.count(b"\n")
    if size <= len(head) or lines <= 1:
        return max(lines, 1)
    return int(size / (len(head) / lines)) + 1


def parquet_rows(path: Path) -> int:
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # not Parquet: the reader says so in its own words
        return 0


def estimate_bytes(kind: str, order_files: list[Path], line_files: list[Path]) -> int:
    """Peak bytes a loader of ``kind`` needs for these files."""
    orders = sum(csv_rows(p) for p in order_files)
    if kind == "parquet":
        lines = sum(parquet_rows(p) for p in line_files)
    else:
        lines = sum(csv_rows(p) for p in line_files)
    per_line = BYTES_PER_ROW[kind]
    return BASE_BYTES + orders * BYTES_PER_ROW["instacart_order"] + lines * per_line


def check_budget(
    kind: str, order_files: list[Path], line_files: list[Path], max_memory: int | None,
) -> int:
    """Raise a DataError when loading these files would exceed the budget; return the estimate."""
    need = estimate_bytes(kind, order_files, line_files)
    budget, named = budget_bytes(max_memory)
    if need > budget:
        files = line_files or order_files
        where = files[0].parent if kind == "instacart" else files[0]
        raise DataError(
            f"{where}: loading it needs about {human_size(need)}, over {named} "
            f"{human_size(budget)}; pass a larger --max-memory or load a smaller extract "
            "(fewer customers)"
        )
    return need


def human_size(n_bytes: int) -> str:
    if n_bytes >= GIB:
        return f"{n_bytes / GIB:.1f} GiB"
    return f"{n_bytes / (1 << 20):.0f} MiB"
