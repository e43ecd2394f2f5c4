"""No half-written output: SIGKILL a running command at random moments, then inspect the disk.

The helpers (``start``, ``kill_when``, ``run_and_kill``, ``tree_digest``) serve the other kill
tests too (tests/test_retrain.py).
"""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from basketcli.errors import ArtifactError
from basketcli.workflows.run_dirs import read_run_info

BASKET = [sys.executable, "-c", "from basketcli.cli import main; main()"]


def start(args) -> subprocess.Popen:
    """`basket ARGS` as a subprocess (its output discarded)."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen([*BASKET, *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)


def kill_when(proc, ready=None, delay=0.0, timeout=120.0) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds after ``ready()`` first holds (polled every
    millisecond; None: at once); returns whether it was still running when killed."""
    deadline = time.monotonic() + timeout
    while ready is not None and not ready() and proc.poll() is None:
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.001)
    if delay:
        time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed


def run_and_kill(args, delay):
    proc = start(args)
    kill_when(proc, delay=delay)
    return proc.returncode


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path: equal means byte for byte."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_previous_or_new_complete(run, before):
    """The run directory is absent/previous (before) or complete, or says it is incomplete."""
    if not run.exists():
        assert before is None
        return
    try:
        info = read_run_info(run)
    except ArtifactError as exc:
        assert "incomplete" in exc.message, exc.message
        return
    assert info.complete
    assert (run / "basket.json").is_file()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_during_train_leaves_a_consistent_run(tmp_path, tiny_csv, seed):
    rng = random.Random(seed)
    run = tmp_path / "run"
    # First a complete run, then a --force retrain killed at a random moment.
    subprocess.run([*BASKET, "train", "--model", "tifuknn", "--data", str(tiny_csv),
                    "--out", str(run)], check=True, capture_output=True)
    before, files = read_run_info(run), tree_digest(run)
    run_and_kill(["train", "--model", "tifuknn", "--data", str(tiny_csv), "--out", str(run),
                  "--force", "--set", "k=3"], delay=rng.uniform(0.2, 4.0))
    assert_previous_or_new_complete(run, before)
    info = read_run_info(run)  # never incomplete: the retrain wrote beside it
    if info.config["k"] == before.config["k"]:
        assert tree_digest(run) == files  # the previous run, byte for byte
    else:
        assert info.config["k"] == 3  # the retrain had finished and replaced it
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert set(leftovers) <= {"run", "tiny.csv"}


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_during_grid_keeps_finished_runs_and_resume_completes(tmp_path, tiny_csv, seed):
    import json

    out = tmp_path / "grid"
    args = ["grid", "--model", "tifuknn", "--param", "k=2,3,4,5", "--param", "alpha=0.7,0.9",
            "--data", str(tiny_csv), "--jobs", "1", "--out", str(out)]
    run_and_kill(args, delay=random.Random(seed).uniform(1.0, 6.0))
    if (out / "grid.json").exists():
        json.loads((out / "grid.json").read_text())  # complete, never half-written
    runs = out / "runs"
    for run in (runs.iterdir() if runs.exists() else []):
        if run.name.startswith("."):
            continue  # a temporary folder of the killed run, never read
        try:
            read_run_info(run)
        except ArtifactError as exc:
            assert "incomplete" in exc.message or "not a basket run" in exc.message, exc.message
    done = subprocess.run([*BASKET, *args, "--resume", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rows"]) == 8
