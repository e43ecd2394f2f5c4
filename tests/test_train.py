"""`basket train`: every model, the run directory, refusals, Ctrl-C and --resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import one_line_error

from basketcli import registry
from basketcli.artifacts import load_bundle
from basketcli.errors import ArtifactError, PluginLoadError
from basketcli.workflows.run_dirs import read_run_info

# Settings that keep a fit to a second or two (each used only by models that have the key).
FAST = {"embedding_dim": 8, "order_hidden": 16, "repeat_hidden": 8, "n_layers": 1,
        "epochs": 2, "n_estimators": 10, "max_depth": 3}
NEURAL = ("--set", "embedding_dim=8", "--set", "order_hidden=16", "--set", "repeat_hidden=8",
          "--set", "n_layers=1")


def fast_sets(name: str) -> list[str]:
    fields = registry.get_model_class(name).Config.model_fields
    return [arg for k, v in FAST.items() if k in fields for arg in ("--set", f"{k}={v}")]


def builtin_models() -> list[str]:
    return sorted(name for name, entry in registry.entries().items() if entry.builtin)


@pytest.mark.parametrize("name", builtin_models())
def test_train_writes_a_complete_run_for_every_model(invoke, tiny_csv, tmp_path, name):
    try:
        sets = fast_sets(name)
    except PluginLoadError as exc:
        pytest.skip(exc.message)
    run = tmp_path / "run"
    r = invoke("train", "--model", name, "--data", tiny_csv, *sets, "--out", run, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    info = read_run_info(run)
    assert info.complete and info.model == name and info.plugin_distribution == "basket"
    assert info.schema_version >= 1 and len(info.vocabulary) == 40
    assert info.metrics["validation"]["recall@10"] == result["validation"]["recall@10"]
    assert info.timings["fit_seconds"] > 0
    assert not (run / "checkpoint.pt").exists() and not (run / "best.pt").exists()
    if name in ("cnngru", "attngru"):
        assert (run / "model.npz").is_file() and (run / "curves.csv").is_file()
        assert [row["epoch"] for row in info.model_extra["history"]] == [1, 2]
    r = invoke("evaluate", str(run), "--json")
    assert r.exit_code == 0, r.output


def test_out_holding_a_run_needs_force(invoke, tiny_csv, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", run).exit_code == 0
    before = (run / "basket.json").read_text()
    r = invoke("train", "--model", "gtopfreq", "--data", tiny_csv, "--out", run)
    one_line_error(r, "already holds a run", "--force")
    assert (run / "basket.json").read_text() == before
    r = invoke("train", "--model", "gtopfreq", "--data", tiny_csv, "--out", run, "--force")
    assert r.exit_code == 0, r.output
    assert read_run_info(run).model == "gtopfreq"
    assert sorted(p.name for p in run.iterdir()) == ["basket.json", "model.json", "model.npz"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left beside


def test_force_never_replaces_a_folder_that_is_not_a_run(invoke, tiny_csv, tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("precious")
    r = invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", folder, "--force")
    one_line_error(r, "not a basket run")
    assert (folder / "chapter1.tex").read_text() == "precious"


@pytest.mark.parametrize("args, words", [
    (("--set", "hidden=3"), ("unknown setting 'hidden'", "did you mean")),
    (("--set", "lr=-0.01"), ("lr", "greater than 0")),
    (("--set", "monitor=auc"), ("monitor",)),
    (("--device", "tpu"), ("--device", "expected auto, cpu or cuda")),
])
def test_bad_settings_are_refused_before_anything_is_written(invoke, tiny_csv, tmp_path, args,
                                                              words):
    run = tmp_path / "run"
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, *args, "--out", run)
    one_line_error(r, *words)
    assert not run.exists()


def interrupt_in_epoch(monkeypatch, epoch_index: int) -> None:
    """Make the engine raise KeyboardInterrupt (as Ctrl-C would) when epoch_index starts."""
    from basketcli.engine import trainer

    original = trainer.Trainer._run_epoch

    def run_epoch(self, epoch, *args, **kwargs):
        if epoch == epoch_index:
            raise KeyboardInterrupt
        return original(self, epoch, *args, **kwargs)

    monkeypatch.setattr(trainer.Trainer, "_run_epoch", run_epoch)


def test_ctrl_c_keeps_the_best_checkpoint_and_resume_matches_a_straight_run(
    invoke, tiny_csv, tmp_path, monkeypatch,
):

    settings = (*NEURAL, "--set", "epochs=3", "--set", "patience=none")
    straight, run = tmp_path / "straight", tmp_path / "run"
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, *settings, "--out", straight)
    assert r.exit_code == 0, r.output

    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 2)
        r = invoke("train", "--model", "cnngru", "--data", tiny_csv, *settings, "--out", run)
    one_line_error(r, "interrupted", "--resume", code=130)
    info = read_run_info(run, allow_incomplete=True)
    assert not info.complete and info.model_extra["status"] == "interrupted"
    assert (run / "best.pt").is_file() and (run / "checkpoint.pt").is_file()
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ArtifactError, match="incomplete"):
        read_run_info(run)
    one_line_error(invoke("evaluate", str(run)), "incomplete")

    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--resume",
               "--json")
    assert r.exit_code == 0, r.output
    resumed, reference = read_run_info(run), read_run_info(straight)
    assert resumed.model_extra["fit"]["resumed_from_epoch"] == 2
    assert resumed.metrics == reference.metrics
    assert resumed.model_extra["history"][-1]["train_loss"] == (
        reference.model_extra["history"][-1]["train_loss"])
    a, b = load_bundle(run).arrays, load_bundle(straight).arrays
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in b)
    assert not (run / "checkpoint.pt").exists()


def test_ctrl_c_before_the_first_epoch_ends(invoke, tiny_csv, tmp_path, monkeypatch):
    run = tmp_path / "run"
    interrupt_in_epoch(monkeypatch, 0)
    r = invoke("train", "--model", "attngru", "--data", tiny_csv, *NEURAL, "--out", run)
    one_line_error(r, "marked incomplete", code=130)
    assert not read_run_info(run, allow_incomplete=True).complete


def test_resume_refusals(invoke, tiny_csv, tmp_path, monkeypatch):
    run = tmp_path / "run"
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--resume")
    one_line_error(r, "no interrupted run")
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 1)
        r = invoke("train", "--model", "cnngru", "--data", tiny_csv, *NEURAL, "--out", run)
        assert r.exit_code == 130
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--resume",
               "--set", "lr=0.1")
    one_line_error(r, "other settings (lr)")
    r = invoke("train", "--model", "attngru", "--data", tiny_csv, "--out", run, "--resume")
    one_line_error(r, "cnngru run")
    assert invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", run,
                  "--resume").exit_code == 0
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--resume")
    one_line_error(r, "already complete")


@pytest.mark.slow  # a subprocess that imports torch: several seconds even on a quiet machine
def test_sigkill_during_training_then_resume(invoke, tiny_csv, tmp_path):
    """A crash (SIGKILL) mid-training leaves an incomplete run that --resume finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # Many short epochs: the kill lands just after the first checkpoint, long before the end.
    settings = [*NEURAL, "--set", "epochs=30", "--set", "patience=none"]
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert invoke("train", "--model", "cnngru", "--data", tiny_csv, *settings,
                  "--out", straight).exit_code == 0
    command = [sys.executable, "-c", "from basketcli.cli import main; main()", "train",
               "--model", "cnngru", "--data", str(tiny_csv), *settings, "--out", str(run)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.pt").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    info = read_run_info(run, allow_incomplete=True)
    assert not info.complete, "the kill landed after the whole run finished"
    one_line_error(invoke("evaluate", str(run)), "incomplete")
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--resume")
    assert r.exit_code == 0, r.output
    assert read_run_info(run).metrics == read_run_info(straight).metrics
    assert not list(run.glob(".*.tmp"))


def test_a_saved_torch_run_scores_on_the_device_asked_for(invoke, tiny_csv, tmp_path):
    import torch

    from basketcli.workflows.run_dirs import load_run

    run = tmp_path / "run"
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, *fast_sets("cnngru"),
               "--out", run)
    assert r.exit_code == 0, r.output
    model, _ = load_run(run, "cpu")
    assert model.device.type == "cpu"
    assert {p.device.type for p in model.net.parameters()} == {"cpu"}
    r = invoke("evaluate", run, "--device", "cpu", "--json")
    assert r.exit_code == 0, r.output
    orders = tmp_path / "orders.json"
    orders.write_text("[[1, 2, 3], [2, 4]]")
    commands = [("evaluate", run),
                ("compare", "--models", run, "--no-reference", "--data", tiny_csv),
                ("predict", "--run", run, "--orders", orders)]
    for command in commands:
        one_line_error(invoke(*command, "--device", "tpu"), "expected auto, cpu or cuda")
        if not torch.cuda.is_available():  # asked for, a missing GPU is an error, not the CPU
            one_line_error(invoke(*command, "--device", "cuda"), "no CUDA device")
