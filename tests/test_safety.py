"""Loading never runs code: a malicious pickle planted where a model file is read is refused."""

import hashlib
import json
import pickle

import pytest

from basketcli.errors import BasketError
from basketcli.workflows.run_dirs import load_run


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, marker):
    path.write_bytes(pickle.dumps(_Exploit(marker)))


@pytest.fixture
def ptopfreq_run(invoke, tiny_csv, tmp_path):
    run = tmp_path / "run"
    r = invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", run)
    assert r.exit_code == 0, r.output
    return run


def test_pickled_state_file_is_refused(ptopfreq_run, tmp_path, invoke):
    marker = tmp_path / "pwned"
    plant(ptopfreq_run / "model.npz", marker)
    with pytest.raises(BasketError):
        load_run(ptopfreq_run)
    r = invoke("evaluate", ptopfreq_run)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert not marker.exists()


def test_npz_holding_an_object_array_is_refused(ptopfreq_run, tmp_path):
    import numpy as np

    marker = tmp_path / "pwned"
    np.savez(ptopfreq_run / "model.npz", popularity=np.array([_Exploit(marker)], dtype=object),
             n_baskets=np.array(1))
    with pytest.raises(BasketError):
        load_run(ptopfreq_run)
    # ... even when its record in model.json is forged to match the planted file
    record = json.loads((ptopfreq_run / "model.json").read_text())
    data = (ptopfreq_run / "model.npz").read_bytes()
    record["files"]["model.npz"] = {"bytes": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest()}
    (ptopfreq_run / "model.json").write_text(json.dumps(record))
    with pytest.raises(BasketError, match="not a valid numpy archive"):
        load_run(ptopfreq_run)
    assert not marker.exists()


def test_run_file_is_plain_json(ptopfreq_run):
    info = json.loads((ptopfreq_run / "basket.json").read_text())
    assert info["complete"] is True and info["model"] == "ptopfreq"


NEURAL_FAST = ["--set", "embedding_dim=8", "--set", "order_hidden=16", "--set", "repeat_hidden=8",
               "--set", "n_layers=1", "--set", "epochs=1", "--set", "head_hidden=8"]


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """One small saved run per model family whose files are read on load."""
    from typer.testing import CliRunner

    from basketcli.cli import app
    from tests.conftest import make_tiny_data, write_long_csv

    root = tmp_path_factory.mktemp("runs")
    csv = write_long_csv(make_tiny_data(), root / "tiny.csv")
    runs = {}
    for model, extra in {"cnngru": NEURAL_FAST,
                         "xgboost": ["--set", "n_estimators=5", "--set", "max_depth=2"]}.items():
        runs[model] = root / model
        result = CliRunner().invoke(app, ["train", "--model", model, "--data", str(csv),
                                          "--out", str(runs[model]), *extra])
        assert result.exit_code == 0, result.output
    return runs


@pytest.mark.parametrize(("model", "filename"), [
    ("cnngru", "model.npz"), ("cnngru", "model.json"), ("xgboost", "model.ubj"),
    ("xgboost", "model.npz"),
])
def test_pickle_planted_in_a_model_file_is_refused(trained_runs, tmp_path, model, filename):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_runs[model], run)
    assert (run / filename).is_file(), sorted(p.name for p in run.iterdir())
    marker = tmp_path / "pwned"
    plant(run / filename, marker)
    with pytest.raises(BasketError):
        load_run(run)
    assert not marker.exists()


def _load_checkpoint(path):
    from basketcli.engine.checkpoints import load_torch

    return load_torch(path)


def _load_ev(path):
    from basketcli.data.ev_file import read_ev

    return read_ev(path)


@pytest.mark.parametrize(("filename", "loader"), [
    ("checkpoint.pt", _load_checkpoint),  # what --resume reads
    ("ev.npz", _load_ev),  # an EV file given with --set embeddings=PATH
])
# torch warns about the planted file's pickle protocol before refusing it: expected here.
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_pickle_planted_in_a_training_input_is_refused(tmp_path, filename, loader):
    marker = tmp_path / "pwned"
    plant(tmp_path / filename, marker)
    with pytest.raises(BasketError):
        loader(tmp_path / filename)
    assert not marker.exists()
