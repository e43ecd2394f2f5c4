"""A retrain killed at a random moment: the old run loads and scores exactly as before.

The goal of issue 31, part 5 ("runs are never lost"): a nightly `basket train --force` into
the production run that is killed (SIGKILL: nothing of the process runs after it) must leave
the run in production as it was. For each model a run is trained once (the "old run"), and
a whole retrain with other settings is timed (the median of three when it is quick). Each
trial then starts `basket train --force` on the old run in a fresh process, kills it after a
seeded random time within that retrain's wall time, and checks the run: it loads
(``load_run``), every file is the old run's byte for byte, and its scores of the test
customers are the old run's, array for array. The phase the retrain had reached is read from
what it left beside the run (``.RUN.next``). Each retrain starts where a nightly scheduler's
would: beside the previous one's leftovers (which it drops).

A retrain that ends before its kill time (near the end of the range, or on a busy machine)
was not killed: its new run must load, the old run is put back, and the trial draws another
time. A kill that lands after the retrain replaced the run (while the process prints its
result) leaves the new run whole: the trial says so and checks that it loads.

    python bench/retrain_kill.py [--data sample] [--trials 20] [--seed 0] [--epochs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from basketcli.data.source import DataSpec
from basketcli.errors import BasketError
from basketcli.render import new_table
from basketcli.workflows.run_dirs import load_run, next_dir, read_run_info
from basketcli.workflows.steps import prepare

BASKET = [sys.executable, "-c", "from basketcli.cli import main; main()"]
SMALL_NEURAL = ["embedding_dim=8", "order_hidden=16", "repeat_hidden=8", "n_layers=1"]
MAX_DRAWS = 5  # kill times drawn for one trial when its retrains end before being killed


def models(epochs: int) -> dict[str, tuple[list[str], list[str]]]:
    """Per model: the old run's settings and the retrain's (other settings: other scores)."""
    return {
        "tifuknn": (["k=100"], ["k=50"]),
        "cnngru": ([*SMALL_NEURAL, "epochs=1"], [*SMALL_NEURAL, f"epochs={epochs}",
                                                "patience=none"]),
    }


def train_args(model: str, data: str, run: Path, settings: list[str]) -> list[str]:
    sets = [arg for setting in settings for arg in ("--set", setting)]
    return ["train", "--model", model, "--data", data, "--out", str(run), *sets]


def basket(args: list[str]) -> float:
    """Run `basket ARGS` to the end; its wall time."""
    started = time.perf_counter()
    subprocess.run([*BASKET, *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})
    return time.perf_counter() - started


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``: equal means byte for byte."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def scores(run: Path, history) -> np.ndarray:
    model, _ = load_run(run)
    return np.asarray(model.score(history))


def phase(run: Path, old_files: dict[str, str]) -> str:
    """How far the killed retrain of ``run`` got, from what it left on disk."""
    retrain = next_dir(run)
    if run.exists() and digest(run) != old_files:
        return "finished: replaced the run"
    if (run.parent / f".{run.name}.old").exists():
        return "between the renames"
    if not retrain.exists():
        return "starting (imports, data)"
    try:
        info = read_run_info(retrain, allow_incomplete=True)
    except BasketError:
        return "creating its folder"
    if info.complete:
        return "complete, not yet in place"
    if (retrain / "model.json").exists() or (retrain / "model.npz").exists():
        return "saving"
    checkpoint = retrain / "checkpoint.pt"
    if checkpoint.exists():
        from basketcli.engine.checkpoints import load_torch

        done = int(load_torch(checkpoint)["progress"]["epoch"])
        total = int(info.config.get("epochs", done))
        return (f"epoch {done + 1} of {total}" if done < total
                else "scoring validation, then saving")
    return "epoch 1" if "epochs" in info.config else "fitting"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of cnngru's retrain")
    parser.add_argument("--models", default="tifuknn,cnngru")
    options = parser.parse_args()
    os.environ.setdefault("COLUMNS", "120")
    rng = random.Random(options.seed)
    plan = {m: s for m, s in models(options.epochs).items() if m in options.models.split(",")}
    _, split = prepare(DataSpec(source=options.data))
    history = split.test.history
    console = Console()

    rows: list[dict] = []
    early: list[bool] = []  # retrains that ended before their kill time: did the new run load?
    with tempfile.TemporaryDirectory(prefix="basket-retrain-kill-") as scratch:
        root = Path(scratch)
        old: dict[str, tuple[Path, Path, dict[str, str], np.ndarray, float]] = {}
        for model, (settings, again) in plan.items():
            run, kept = root / "runs" / model, root / "kept" / model
            basket(train_args(model, options.data, run, settings))
            shutil.copytree(run, kept)  # to put the old run back after a finished retrain
            timed = root / "timing" / model
            shutil.copytree(run, timed)
            walls = [basket([*train_args(model, options.data, timed, again), "--force"])]
            while sum(walls) < 10 and len(walls) < 3:  # a quick retrain: the median of three
                walls.append(basket([*train_args(model, options.data, timed, again), "--force"]))
            seconds = statistics.median(walls)
            old[model] = (run, kept, digest(run), scores(run, history), seconds)
            console.print(f"{model}: old run trained; a whole retrain takes {seconds:.1f} s "
                          f"(median of {len(walls)})", highlight=False)

        names = list(plan)
        for trial in range(1, options.trials + 1):
            model = names[(trial - 1) % len(names)]
            run, kept, files, before, seconds = old[model]
            command = [*train_args(model, options.data, run, plan[model][1]), "--force"]
            for _ in range(MAX_DRAWS):
                after = rng.uniform(0.0, seconds)
                if kill_after(command, after):
                    break
                # It ended before its kill time: the new run must load; then the old run back.
                early.append(loads_ok(run, history))
                put_back(run, kept)
            reached = phase(run, files)
            try:
                now, loads = scores(run, history), "yes"
            except BasketError as exc:
                now, loads = None, f"no: {exc.message}"
            replaced = reached.startswith("finished")
            equal = (now is not None and not replaced and digest(run) == files
                     and np.array_equal(now, before))
            rows.append({"trial": trial, "model": model, "after": after, "phase": reached,
                         "loads": loads, "equal": equal, "replaced": replaced})
            if replaced:
                put_back(run, kept)

    table = new_table(f"a retrain (basket train --force) killed at a random moment: "
                      f"{options.data}, seed {options.seed}")
    for column in ("trial", "model", "kill after s", "phase reached", "old run loads",
                   "scores equal"):
        table.add_column(column, justify="right" if column in ("trial", "kill after s")
                         else "left", overflow="fold")
    for row in rows:
        table.add_row(str(row["trial"]), row["model"], f"{row['after']:.2f}", row["phase"],
                      row["loads"] if not row["replaced"] else f"{row['loads']} (the new run)",
                      "yes" if row["equal"] else ("- (replaced)" if row["replaced"] else "NO"))
    console.print(table)
    kept_rows = [r for r in rows if not r["replaced"]]
    kept_ok = sum(r["loads"] == "yes" and r["equal"] for r in kept_rows)
    late = [r for r in rows if r["replaced"]]
    summary = (f"{kept_ok} of {len(kept_rows)} killed retrains: the old run loads and scores "
               "exactly as before")
    if late:
        summary += (f"; {len(late)} killed just after replacing the run whole (the new run "
                    f"loads: {sum(r['loads'] == 'yes' for r in late)} of {len(late)})")
    if early:
        summary += (f"; {len(early)} retrains ended before their kill time and the trial drew "
                    f"again (their new run loaded: {sum(early)} of {len(early)})")
    console.print(summary, highlight=False)
    failed = kept_ok < len(kept_rows) or any(r["loads"] != "yes" for r in late) or not all(early)
    if failed:
        sys.exit(1)


def kill_after(command: list[str], seconds: float) -> bool:
    """Start `basket COMMAND`, SIGKILL it after ``seconds``; whether it was still running."""
    proc = subprocess.Popen([*BASKET, *command], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
    time.sleep(seconds)
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return running


def loads_ok(run: Path, history) -> bool:
    try:
        scores(run, history)
    except BasketError:
        return False
    return True


def put_back(run: Path, kept: Path) -> None:
    """The old run in place again, for the next trial."""
    shutil.rmtree(run)
    shutil.copytree(kept, run)

if __name__ == "__main__":
    main()
