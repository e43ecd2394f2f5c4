"""Loading never runs code: a malicious pickle planted where a model file is read is refused."""

import json
import pickle

import pytest

from basketcli.errors import BasketError
from basketcli.workflows import load_run


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
    plant(ptopfreq_run / "state.npz", marker)
    with pytest.raises(BasketError):
        load_run(ptopfreq_run)
    r = invoke("evaluate", ptopfreq_run)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert not marker.exists()


def test_npz_holding_an_object_array_is_refused(ptopfreq_run, tmp_path):
    import numpy as np

    marker = tmp_path / "pwned"
    np.savez(ptopfreq_run / "state.npz", popularity=np.array([_Exploit(marker)], dtype=object),
             n_baskets=np.array(1))
    with pytest.raises(BasketError):
        load_run(ptopfreq_run)
    assert not marker.exists()


def test_run_file_is_plain_json(ptopfreq_run):
    info = json.loads((ptopfreq_run / "basket.json").read_text())
    assert info["complete"] is True and info["model"] == "ptopfreq"
