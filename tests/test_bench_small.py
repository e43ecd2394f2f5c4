"""The scale benchmarks run at their small size and print their tables (the full size is a
benchmark, run by hand: python bench/ingest.py --size full)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-data")


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ingest_small(data_dir):
    out = run("ingest.py", "--size", "small", "--users", "400", "--data-dir", str(data_dir))
    assert "ingest, size small" in out
    for step in ("bare pyarrow read_csv", "ingest, cold cache", "load from cache"):
        assert step in out
    assert "400 customers" in out


def test_baselines_small(data_dir):
    out = run("baselines.py", "--size", "small", "--users", "400", "--data-dir", str(data_dir),
              "--set", "tifuknn.exact_pool=100")  # the clustered neighbour search, too
    assert "baselines, size small" in out
    assert "ptopfreq" in out and "tifuknn" in out and "recall@10" in out
    assert "400 customers" in out


def test_train_throughput_small(data_dir):
    out = run("train_throughput.py", "--size", "small", "--users", "400", "--data-dir",
              str(data_dir), "--models", "attngru", "--examples", "300",
              "--set", "order_hidden=16", "--set", "embedding_dim=8", "--threads", "1")
    assert "training throughput: small (400 customers" in out
    assert "attngru" in out and "examples/s" in out
    assert "~" in out  # 300 timed examples of several thousand: the epoch is extrapolated


def test_train_throughput_small_on_two_ranks(data_dir):
    out = run("train_throughput.py", "--size", "small", "--users", "400", "--data-dir",
              str(data_dir), "--models", "cnngru,attngru", "--examples", "300", "--ranks", "2",
              "--set", "order_hidden=16", "--set", "embedding_dim=8", "--threads", "1")
    words = " ".join(out.split())  # the title may wrap
    assert "2 ranks x 1 threads" in words
    assert out.count("training throughput") == 1  # rank 0 alone prints
    # Both models are timed in one process group (a second group in the same processes
    # could hang: it did once, at the sample size).
    assert "cnngru" in out and "attngru" in out and "examples/s" in out


def test_ablation_on_a_tiny_data_set(tmp_path, tiny_csv):
    out = tmp_path / "ablation.json"
    printed = run("ablation.py", "--data", str(tiny_csv), "--json", str(out))
    assert "each part against xgboost's defaults" in printed
    result = json.loads(out.read_text())[str(tiny_csv)]
    assert list(result["trained"]) == ["defaults", "1 off: no repurchase timing",
                                       "2 off: binary objective", "2 on: neighbours, explore 10",
                                       "3 off: one training target", "4: stack"]
    rows = result["compare"]["models"]
    assert [row["name"] for row in rows] == ["xgboost"] * 5 + ["stack"]
    # Every row but the defaults' is paired against the defaults' run.
    assert rows[0]["source"] == result["trained"]["defaults"]["run_dir"] and not rows[0]["versus"]
    assert all(set(row["versus"]) == {"recall@10", "ndcg@10"} for row in rows[1:])
