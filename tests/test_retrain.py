"""Runs are never lost: `basket train --force` on a complete run trains beside it (in
``.RUN.next``) and replaces it only once the new run is complete; a failed, interrupted or
killed retrain leaves the run as it was, byte for byte, and --resume continues the retrain.
A crash between the replacement's two renames leaves a run that loads, put back by the next
train. (`tune --force` and `grid --force`: tests/test_tune.py, tests/test_grid.py.)"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error
from test_kill import kill_when, start, tree_digest
from test_train import interrupt_in_epoch

from basketcli.artifacts import (
    beside,
    load_bundle,
    remove_folder,
    replace_folder,
    settle_folder,
    standing_in,
)
from basketcli.data.source import DataSpec
from basketcli.errors import DataError
from basketcli.workflows import train as workflow
from basketcli.workflows.run_dirs import is_run_dir, load_run, next_dir, read_run_info
from basketcli.workflows.steps import prepare

NEURAL = ("--set", "embedding_dim=8", "--set", "order_hidden=16", "--set", "repeat_hidden=8",
          "--set", "n_layers=1")
LONG = (*NEURAL, "--set", "epochs=30", "--set", "patience=none")  # many short epochs


def train(invoke, csv, run, model, *args):
    return invoke("train", "--model", model, "--data", csv, "--out", run, *args)


def scores(run: Path, csv: Path) -> np.ndarray:
    """The run's scores of the test customers, loaded as `basket evaluate` loads it."""
    model, _ = load_run(run)
    _, split = prepare(DataSpec(source=str(csv)))
    return np.asarray(model.score(split.test.history))


def hidden(folder: Path) -> list[str]:
    """What a retrain may leave beside the run: nothing, once it is done."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- the folder swap itself ------------------------------------------------------------------
def test_settling_puts_back_or_removes_what_a_crash_left(tmp_path):
    path, old = tmp_path / "x", tmp_path / ".x.old"
    # A crash between the two renames: x is missing, the old folder is set aside whole.
    old.mkdir()
    (old / "f").write_text("old")
    assert standing_in(path) == old  # read in x's place meanwhile
    settle_folder(path)
    assert (path / "f").read_text() == "old" and not old.exists()
    # A crash after the second rename: the old folder beside x is deleted, as is a deletion a
    # crash cut short (a trash folder).
    old.mkdir()
    (old / "f").write_text("older")
    (tmp_path / "..x.old.abcd1234.trash").mkdir()
    settle_folder(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    assert standing_in(path) == path and (path / "f").read_text() == "old"

    new = beside(path, "next")
    new.mkdir()
    (new / "f").write_text("new")
    replace_folder(new, path)
    assert (path / "f").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == [
        "x"]
    remove_folder(path)
    assert list(tmp_path.iterdir()) == []


def test_a_link_to_a_folder_stays_a_link_to_the_new_folder(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("old")
    link = tmp_path / "link"
    link.symlink_to(real)
    new = beside(link, "next")
    assert new.parent == tmp_path and new.name == ".real.next"
    new.mkdir()
    (new / "f").write_text("new")
    replace_folder(new, link)
    assert link.is_symlink() and (link / "f").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


# --- retrains ----------------------------------------------------------------------------------
def test_a_retrain_writes_beside_the_run_and_replaces_it_when_complete(invoke, tiny_csv,
                                                                       tmp_path, monkeypatch):
    run = tmp_path / "run"
    seen = []
    real = workflow.fit_model

    def spy(model, dataset, split, ctx):
        incomplete = not read_run_info(ctx.work_dir, allow_incomplete=True).complete
        seen.append((ctx.work_dir, incomplete, tree_digest(run) if run.exists() else None))
        return real(model, dataset, split, ctx)

    monkeypatch.setattr(workflow, "fit_model", spy)
    assert train(invoke, tiny_csv, run, "ptopfreq").exit_code == 0
    files = tree_digest(run)
    r = train(invoke, tiny_csv, run, "gtopfreq", "--force", "--json")
    assert r.exit_code == 0, r.output
    # A fresh run trains in place (incomplete until done); the retrain trains beside the
    # untouched run.
    assert seen[0][:2] == (run, True)
    assert seen[1] == (next_dir(run), True, files)
    assert json.loads(r.stdout)["run_dir"] == str(run)
    assert read_run_info(run).model == "gtopfreq"
    assert sorted(p.name for p in run.iterdir()) == ["basket.json", "model.json", "model.npz"]
    assert hidden(tmp_path) == []  # no .run.next, .run.old or trash left


def test_a_failed_retrain_leaves_the_run_byte_for_byte(invoke, tiny_csv, tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert train(invoke, tiny_csv, run, "ptopfreq").exit_code == 0
    files, before = tree_digest(run), scores(run, tiny_csv)

    def broken(*args, **kwargs):
        raise DataError("the data broke")

    monkeypatch.setattr(workflow, "fit_model", broken)
    one_line_error(train(invoke, tiny_csv, run, "gtopfreq", "--force"), "the data broke")
    assert tree_digest(run) == files
    np.testing.assert_array_equal(scores(run, tiny_csv), before)
    assert hidden(tmp_path) == []  # the failed retrain's folder is gone too


@pytest.mark.parametrize("flags", [("--resume",), ("--force", "--resume")])
def test_ctrl_c_in_a_retrain_keeps_the_run_and_resume_finishes_the_retrain(
    invoke, tiny_csv, tmp_path, monkeypatch, flags,
):
    run, straight = tmp_path / "run", tmp_path / "straight"
    settings = (*NEURAL, "--set", "epochs=3", "--set", "patience=none")
    assert train(invoke, tiny_csv, run, "cnngru", *NEURAL, "--set", "epochs=1").exit_code == 0
    assert train(invoke, tiny_csv, straight, "cnngru", *settings).exit_code == 0
    files, before = tree_digest(run), scores(run, tiny_csv)
    retrain = next_dir(run)

    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 2)
        r = train(invoke, tiny_csv, run, "cnngru", *settings, "--force")
    one_line_error(r, f"{run} still holds the previous run, unchanged", str(retrain),
                   "--resume", code=130)
    assert tree_digest(run) == files
    np.testing.assert_array_equal(scores(run, tiny_csv), before)
    assert (retrain / "checkpoint.pt").is_file() and (retrain / "best.pt").is_file()
    assert read_run_info(retrain, allow_incomplete=True).model_extra["status"] == "interrupted"

    # Resuming the retrain with other settings or another model is refused, naming it.
    one_line_error(train(invoke, tiny_csv, run, "cnngru", *flags, "--set", "lr=0.1"),
                   "interrupted retrain", str(retrain), "other settings (lr)")
    one_line_error(train(invoke, tiny_csv, run, "attngru", *flags), "interrupted retrain",
                   "cnngru run")
    assert tree_digest(run) == files

    r = train(invoke, tiny_csv, run, "cnngru", *flags, "--json")
    assert r.exit_code == 0, r.output
    resumed, reference = read_run_info(run), read_run_info(straight)
    assert resumed.model_extra["fit"]["resumed_from_epoch"] == 2
    assert resumed.metrics == reference.metrics
    a, b = load_bundle(run).arrays, load_bundle(straight).arrays
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in b)
    assert not (run / "checkpoint.pt").exists() and hidden(tmp_path) == []
    one_line_error(train(invoke, tiny_csv, run, "cnngru", "--resume"), "already complete")


def test_force_starts_an_interrupted_retrain_again(invoke, tiny_csv, tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert train(invoke, tiny_csv, run, "ptopfreq").exit_code == 0
    files = tree_digest(run)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(workflow, "fit_model", interrupted)
        r = train(invoke, tiny_csv, run, "gtopfreq", "--force")
    one_line_error(r, "still holds the previous run, unchanged", "marked incomplete",
                   "train again with --force", code=130)
    assert tree_digest(run) == files and hidden(tmp_path) == [".run.next"]
    # Another retrain starts from nothing (the interrupted one is dropped).
    r = train(invoke, tiny_csv, run, "gptopfreq", "--force")
    assert r.exit_code == 0, r.output
    assert read_run_info(run).model == "gptopfreq" and hidden(tmp_path) == []


def test_interrupted_notes_say_where_the_runs_are(invoke, tiny_csv, tmp_path, monkeypatch):
    run = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # before anything is written: nothing is
        patch.setattr(workflow, "prepare", interrupted)
        one_line_error(train(invoke, tiny_csv, run, "ptopfreq"), "nothing was written",
                       code=130)
    assert not run.exists()
    assert train(invoke, tiny_csv, run, "ptopfreq").exit_code == 0
    with monkeypatch.context() as patch:
        patch.setattr(workflow, "prepare", interrupted)
        one_line_error(train(invoke, tiny_csv, run, "gtopfreq", "--force"),
                       "nothing was written", "still holds the previous run", code=130)
    real = workflow.put_in_place

    def late(target):  # Ctrl-C just after the retrain replaced the run
        real(target)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(workflow, "put_in_place", late)
        one_line_error(train(invoke, tiny_csv, run, "gtopfreq", "--force"),
                       "the run had finished", code=130)
    assert read_run_info(run).model == "gtopfreq" and hidden(tmp_path) == []


def crash_between_the_renames(monkeypatch, run: Path) -> None:
    """Stop the process (as a kill would) after the run was renamed aside, before the new run
    is renamed into place."""
    real = os.replace

    def replace(src, dst):
        if Path(src) == next_dir(run) and Path(dst) == run:
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize(("flags", "outcome"), [
    ((), "previous"),  # any train into the run puts it back first: here, then refused
    (("--resume",), "retrain"),  # the finished retrain goes in place
    (("--force",), "again"),  # the finished retrain is dropped, another made
])
def test_a_crash_between_the_renames_leaves_a_run_that_loads(invoke, tiny_csv, tmp_path,
                                                             monkeypatch, flags, outcome):
    run = tmp_path / "run"
    assert train(invoke, tiny_csv, run, "ptopfreq").exit_code == 0
    files, before = tree_digest(run), scores(run, tiny_csv)
    with monkeypatch.context() as patch:
        crash_between_the_renames(patch, run)
        r = train(invoke, tiny_csv, run, "gtopfreq", "--force")
    one_line_error(r, "still holds the previous run", "--resume puts it in place", code=130)
    assert not run.exists() and hidden(tmp_path) == [".run.next", ".run.old"]
    # Meanwhile the run reads as the previous one, wherever it is read.
    assert is_run_dir(run) and read_run_info(run).model == "ptopfreq"
    np.testing.assert_array_equal(scores(run, tiny_csv), before)
    r = invoke("evaluate", run, "--json")
    assert r.exit_code == 0, r.output

    r = train(invoke, tiny_csv, run, "gtopfreq", *flags)
    if outcome == "previous":
        one_line_error(r, "already holds a run")
        assert tree_digest(run) == files and hidden(tmp_path) == [".run.next"]
        return
    assert r.exit_code == 0, r.output
    assert read_run_info(run).model == "gtopfreq" and hidden(tmp_path) == []


# --- SIGKILL at chosen and at random moments ---------------------------------------------------
def phase(run: Path) -> str:
    """How far a killed retrain of ``run`` got, from what it left on disk."""
    retrain = next_dir(run)
    if not retrain.exists():
        return "replaced" if read_run_info(run).config.get("epochs") == 30 else "before the fit"
    info = read_run_info(retrain, allow_incomplete=True)
    if info.complete:
        return "complete beside the run"
    if (retrain / "model.json").exists():
        return "saving"
    return "in an epoch" if (retrain / "checkpoint.pt").exists() else "fitting"


MOMENTS = {
    "before the fit": (None, 0.4),  # still importing and reading the data
    "in an epoch": (lambda run: (next_dir(run) / "checkpoint.pt").exists(), 0.0),
    "while saving": (lambda run: (next_dir(run) / "model.npz").exists(), 0.0),
}


@pytest.fixture
def old_run(invoke, tiny_csv, tmp_path):
    """A complete cnngru run, its files' digest and its scores."""
    run = tmp_path / "run"
    assert train(invoke, tiny_csv, run, "cnngru", *NEURAL, "--set", "epochs=1").exit_code == 0
    return run, tree_digest(run), scores(run, tiny_csv)


def check_after_kill(run: Path, csv: Path, files: dict, before: np.ndarray) -> str:
    """The run loads and is the previous run byte for byte (same scores), unless the retrain
    had replaced it whole; returns the phase the retrain reached."""
    reached = phase(run)
    if reached == "replaced":
        assert read_run_info(run).complete
        load_run(run)
    else:
        assert tree_digest(run) == files, reached
        np.testing.assert_array_equal(scores(run, csv), before)
    return reached


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigkill_of_a_retrain_keeps_the_run(invoke, tiny_csv, old_run, moment):
    run, files, before = old_run
    ready, delay = MOMENTS[moment]
    proc = start(["train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--force",
                  *LONG])
    killed = kill_when(proc, ready and (lambda: ready(run)), delay=delay)
    reached = check_after_kill(run, tiny_csv, files, before)
    if moment != "while saving":  # killed at that moment for sure (the others may finish)
        # 0.4 s in, a fast machine may already have begun the retrain's folder ("fitting"):
        # either way no epoch had finished.
        expected = ("before the fit", "fitting") if moment == "before the fit" else (moment,)
        assert killed and reached in expected
    if reached in ("in an epoch", "saving", "complete beside the run"):
        r = train(invoke, tiny_csv, run, "cnngru", "--resume")  # the retrain goes on
        assert r.exit_code == 0, r.output
        assert read_run_info(run).config["epochs"] == 30
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".run.")
                and p.name != ".run.next"]


@pytest.mark.slow  # ten subprocesses that import torch
@pytest.mark.parametrize("seed", range(10))
def test_sigkill_of_a_retrain_at_a_random_moment_keeps_the_run(tiny_csv, old_run, seed):
    run, files, before = old_run
    proc = start(["train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--force",
                  *LONG])
    kill_when(proc, delay=random.Random(seed).uniform(0.5, 8.0))
    check_after_kill(run, tiny_csv, files, before)


# --- ranks ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_distributed_retrain_replaces_the_run_when_complete_and_resumes(invoke, tmp_path,
                                                                          tiny_csv):
    """Under torchrun (two ranks, rank 0 writes): a retrain interrupted after its first epoch
    keeps the run, and its --resume replaces it (tests/ddp_worker.py runs the plan)."""
    run = tmp_path / "run"
    assert train(invoke, tiny_csv, run, "cnngru", *NEURAL, "--set", "epochs=1").exit_code == 0
    train_args = ["train", "--model", "cnngru", "--data", str(tiny_csv), "--out", str(run),
                  *NEURAL, "--set", "batch_size=8", "--distributed", "--json"]
    plan = [
        ["cut", [*train_args, "--set", "epochs=2", "--force"], 1, free_port()],
        ["resumed", [*train_args, "--resume"], None, free_port()],
    ]
    worker = Path(__file__).with_name("ddp_worker.py")
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node", "2", str(worker), str(tmp_path), json.dumps(plan)]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for label, code in (("cut", 130), ("resumed", 0)):
        assert [seen[label]["exit"] for seen in ranks] == [code, code], (label, done.stderr)
    assert "still holds the previous run, unchanged" in done.stderr
    info = read_run_info(run)
    assert info.config["epochs"] == 2 and info.model_extra["fit"]["resumed_from_epoch"] == 1
    assert info.model_extra["fit"]["world_size"] == 2
    assert hidden(tmp_path) == []
