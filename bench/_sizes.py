"""Data sizes shared by the scale benchmarks (bench/ingest.py, bench/baselines.py).

sample: the bundled Instacart slice (592 customers); small: a synthetic folder of 2,000
customers; full: a synthetic folder of the full Instacart size (206,209 customers, 49,688
products, about 34 M order lines). Synthetic folders are generated once into --data-dir and
reused (their synth.json records the parameters).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

SIZES = {"sample": None, "small": 2_000, "full": 206_209}
PRODUCTS = 49_688
SEED = 0


def default_data_dir() -> Path:
    from basketcli.data.prepare import cache_dir

    return cache_dir() / "bench-data"


def run_child(script: str, args: list[str], label: str) -> dict:
    """``python SCRIPT ARGS`` in its own process (so that its peak memory is its own); the
    JSON object it prints last."""
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
