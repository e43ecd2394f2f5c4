"""Data sizes shared by the scale benchmarks (bench/ingest.py, bench/baselines.py).

sample: the bundled Instacart slice (592 customers); small: a synthetic folder of 2,000
customers; full: a synthetic folder of the full Instacart size (206,209 customers, 49,688
products, about 34 M order lines). Synthetic folders are generated once into --data-dir and
reused (their synth.json records the parameters).
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

SIZES = {"sample": None, "small": 2_000, "full": 206_209}
PRODUCTS = 49_688
SEED = 0


def default_data_dir() -> Path:
    root = os.environ.get("BASKET_CACHE_DIR") or Path.home() / ".cache" / "basket"
    return Path(root) / "bench-data"


def data_source(size: str, users: int | None, data_dir: Path) -> str:
    """--data value for a size: 'sample' or a synthetic folder (generated when missing)."""
    n_users = users or SIZES[size]
    if n_users is None:
        return "sample"
    from basketcli.data.synth import ensure_synthetic

    folder = data_dir / f"synth-{n_users}u-{PRODUCTS}p-s{SEED}"
    ensure_synthetic(folder, n_users, PRODUCTS, SEED)
    return str(folder)


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def gib(n_bytes: float) -> str:
    return f"{n_bytes / (1 << 30):.2f}"
