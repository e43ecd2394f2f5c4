"""`basket train --model xgboost --dask-scheduler ADDRESS`: boosting through xgboost.dask.

The cluster is a distributed.LocalCluster with two single-thread workers inside the test
process (processes=False: no worker processes to spawn on a 2-core runner); the command
connects to it by its scheduler address as it would to a real cluster.
"""

from __future__ import annotations

import json
import re
import sys

import pytest
from conftest import one_line_error

from basketcli.errors import ConfigError
from basketcli.workflows.run_dirs import read_run_info

FAST = ["--set", "n_estimators=40", "--set", "max_depth=4", "--set", "learning_rate=0.3"]


@pytest.fixture
def cluster():
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.array")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local:
        yield local


@pytest.mark.parametrize("objective", ["rank:pairwise", "binary"])  # ranking: query groups
def test_xgboost_trains_on_a_dask_cluster_and_evaluates(invoke, tmp_path, cluster, objective):
    run = tmp_path / "run"
    r = invoke("train", "--model", "xgboost", "--dask-scheduler", cluster.scheduler_address,
               *FAST, "--set", f"objective={objective}", "--out", run, "--json")
    assert r.exit_code == 0, r.output
    fit = json.loads(r.stdout)["fit_info"]
    assert fit["dask_workers"] == 2 and fit["train_rows"] > 100_000 and fit["valid_rows"] > 0
    assert 1 <= fit["best_round"] <= fit["rounds"] <= 40
    assert ("calibration" in fit) == (objective != "binary")
    info = read_run_info(run)
    assert info.complete and (run / "model.ubj").is_file()

    # The saved booster is the usual UBJ model: evaluate needs no cluster.
    r = invoke("evaluate", str(run), "--json")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)["models"][0]["metrics"]
    assert metrics["recall@10"] > 0.25  # G-TopFreq: 0.07, P-TopFreq: 0.36 on the sample


def test_missing_dask_packages_name_the_extra(invoke, tmp_path, monkeypatch):
    from basketcli_models.xgboost.dask import _dask_client

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(ConfigError, match=re.escape("pip install 'basket[dask]'")):
        _dask_client("tcp://127.0.0.1:8786")
    run = tmp_path / "run"
    r = invoke("train", "--model", "xgboost", "--dask-scheduler", "tcp://127.0.0.1:8786",
               *FAST, "--out", run)
    one_line_error(r, "--dask-scheduler needs the dask and distributed packages",
                   "pip install 'basket[dask]'")
    assert not run.exists()


def test_a_scheduler_that_does_not_answer_is_a_one_line_error(invoke, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import basketcli_models.xgboost.dask

    monkeypatch.setattr(basketcli_models.xgboost.dask, "DASK_CONNECT_SECONDS", 1)
    run = tmp_path / "run"
    r = invoke("train", "--model", "xgboost", "--dask-scheduler", "tcp://127.0.0.1:9",
               *FAST, "--out", run)
    one_line_error(r, "--dask-scheduler tcp://127.0.0.1:9", "no Dask scheduler answered")
    assert not run.exists()


def test_models_that_cannot_use_dask_refuse_the_option(invoke, tmp_path):
    r = invoke("train", "--model", "ptopfreq", "--dask-scheduler", "tcp://127.0.0.1:8786",
               "--out", tmp_path / "run")
    one_line_error(r, "--dask-scheduler", "ptopfreq", "xgboost")
