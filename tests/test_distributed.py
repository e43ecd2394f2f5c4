"""`basket train --distributed`: two ranks under torchrun train one model with DDP (gloo, CPU).

One torchrun launch (two processes on this machine) runs three trainings through the real
command line on both ranks (tests/ddp_worker.py): a straight run, a run interrupted after its
first epoch, and the --resume of that run. Each rank reports a digest of the weights it ended
with, so the test checks that both ranks end with the same weights, that the resumed run ends
exactly where the straight one did, and that rank 0's run directory holds those weights.
Another launch (tests/ddp_eval_worker.py) checks that ranks sharing an evaluation's scoring
get the metrics of one process scoring it all, and stop together when one of them fails.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcli.artifacts import load_bundle
from basketcli.data.source import DataSpec
from basketcli.evaluation.scoring import evaluate_model, rank_share
from basketcli.protocol import FitContext
from basketcli.registry import create_model
from basketcli.workflows.run_dirs import read_run_info
from basketcli.workflows.steps import prepare

WORKER = Path(__file__).with_name("ddp_worker.py")
EVAL_WORKER = Path(__file__).with_name("ddp_eval_worker.py")
SMALL = ["--set", "embedding_dim=8", "--set", "order_hidden=16", "--set", "repeat_hidden=8",
         "--set", "n_layers=1", "--set", "epochs=2", "--set", "batch_size=8"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def digest(state: dict) -> str:
    sha = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        sha.update(name.encode())
        sha.update(tensor.contiguous().numpy().tobytes())
    return sha.hexdigest()


def test_two_ranks_end_with_the_same_weights_and_resume(tmp_path, tiny_csv, invoke):
    import torch

    straight, cut = tmp_path / "straight", tmp_path / "cut"
    train = ["train", "--model", "cnngru", "--data", str(tiny_csv), *SMALL, "--distributed",
             "--json"]
    plan = [
        ["straight", [*train, "--out", str(straight)], None, free_port()],
        ["cut", [*train, "--out", str(cut)], 1, free_port()],
        ["resumed", [*train, "--out", str(cut), "--resume"], None, free_port()],
    ]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node", "2", str(WORKER), str(tmp_path), json.dumps(plan)]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]

    for label, code in (("straight", 0), ("cut", 130), ("resumed", 0)):
        assert [seen[label]["exit"] for seen in ranks] == [code, code], (label, done.stderr)
        assert ranks[0][label]["digest"] == ranks[1][label]["digest"], label
    assert ranks[0]["straight"]["digest"] != ranks[0]["cut"]["digest"]  # one epoch, not two
    # Rank 0's checkpoint carried the other rank through the resume to the same weights.
    assert ranks[0]["resumed"]["digest"] == ranks[0]["straight"]["digest"]

    # Only rank 0 printed: one JSON result per finished run on stdout.
    results, text = [], done.stdout.strip()
    while text:
        result, end = json.JSONDecoder().raw_decode(text)
        results.append(result)
        text = text[end:].strip()
    assert [r["run_dir"] for r in results] == [str(straight), str(cut)]

    saved = {k: torch.from_numpy(v) for k, v in load_bundle(straight).arrays.items()}
    assert digest(saved) == ranks[0]["straight"]["digest"]
    info = read_run_info(straight)
    assert info.complete and info.model_extra["fit"]["world_size"] == 2
    assert [row["epoch"] for row in info.model_extra["history"]] == [1, 2]
    assert read_run_info(cut).model_extra["fit"]["resumed_from_epoch"] == 1
    assert not (straight / "checkpoint.pt").exists()

    r = invoke("evaluate", str(straight), "--json")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)["models"][0]["metrics"]
    assert 0.0 < metrics["recall@10"] <= 1.0


def test_ranks_share_an_evaluation_and_get_the_metrics_of_one_process(tmp_path, tiny_csv):
    batch_size = 4
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node", "2", str(EVAL_WORKER), str(tmp_path), str(tiny_csv),
              str(batch_size)]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]

    _, split = prepare(DataSpec(source=str(tiny_csv)))
    model = create_model("ptopfreq", {})
    model.fit(split.train, split.valid, FitContext())
    alone = evaluate_model(model, split.valid, batch_size=batch_size)[0].metrics
    assert ranks[0]["metrics"] == alone and ranks[1]["metrics"] == alone
    n_users = split.valid.n_users
    assert [seen["scored"] for seen in ranks] == [
        len(rank_share(n_users, batch_size, r, 2)) for r in (0, 1)]
    assert 0 < ranks[1]["scored"] < n_users

    # Rank 1's scores are broken: rank 0 reports its error, rank 1 stops quietly.
    assert ranks[0]["failure"][0] == "RankFailed"
    assert ranks[0]["failure"][1].startswith("rank 1: model ptopfreq returned NaN")
    assert ranks[1]["failure"][0] == "ReportedOnMain"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 600), st.integers(1, 8))
def test_rank_shares_are_whole_batches_covering_every_user_once(n_users, batch_size, size):
    shares = [rank_share(n_users, batch_size, rank, size) for rank in range(size)]
    assert [u for share in shares for u in share] == list(range(n_users))
    assert all(share.start % batch_size == 0 or share.start == n_users for share in shares)
    batches = [-(-len(share) // batch_size) for share in shares]
    assert max(batches) - min(batches) <= 1


@pytest.mark.parametrize("missing", ["RANK", "MASTER_ADDR"])
def test_distributed_outside_torchrun_is_a_one_line_error(invoke, tiny_csv, tmp_path,
                                                          monkeypatch, missing):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(name, {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999",
                                  "WORLD_SIZE": "2"}.get(name, "0"))
    monkeypatch.delenv(missing)
    run = tmp_path / "run"
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", run, "--distributed")
    assert r.exit_code == 2, r.output
    message = r.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in r.output
    assert missing in message and "torchrun" in message
    assert not run.exists()
