"""The split, pinned on a hand-made data set: training sees only the baskets before the
validation target, the validation target is the second-last basket, the test history is every
basket but the last, and every command hands each model exactly that (train, evaluate, compare,
grid and embed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from basketcli import registry
from basketcli.data.basket_data import from_baskets
from basketcli.data.split import leave_last_out
from basketcli_models.topfreq import PTopFreq

# customer -> orders (oldest first); every basket is told apart by its products
HISTORIES = {
    7: [[1, 2], [2, 3], [1, 4], [5, 6], [2, 7], [8, 9]],
    8: [[3, 4], [4, 5], [3, 10], [11, 12], [4, 1]],
    9: [[6, 1], [1, 2], [6, 7], [2, 8], [9, 10], [6, 11], [12, 3]],
    10: [[5, 8], [8, 9], [5, 10], [9, 11]],
}
HISTORIES = {u: [sorted(b) for b in orders] for u, orders in HISTORIES.items()}
TRAIN = {u: orders[:-2] for u, orders in HISTORIES.items()}
VALID_TARGET = {u: [orders[-2]] for u, orders in HISTORIES.items()}
TEST_HISTORY = {u: orders[:-1] for u, orders in HISTORIES.items()}
TEST_TARGET = {u: [orders[-1]] for u, orders in HISTORIES.items()}


def baskets(data) -> dict[int, list[list[int]]]:
    return {int(u): [sorted(map(int, b)) for b in data.product_ids_of(i)]
            for i, u in enumerate(data.user_ids)}


@pytest.fixture
def hand_csv(tmp_path):
    rows = ["user_id,order_number,product_id"]
    for user, orders in HISTORIES.items():
        for number, basket in enumerate(orders, start=1):
            rows += [f"{user},{number},{p}" for p in basket]
    path = tmp_path / "hand.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_leave_last_out_by_hand():
    split = leave_last_out(from_baskets(HISTORIES))
    assert baskets(split.train) == TRAIN
    assert baskets(split.valid.history) == TRAIN
    assert baskets(split.valid.target) == VALID_TARGET
    assert baskets(split.test.history) == TEST_HISTORY
    assert baskets(split.test.target) == TEST_TARGET


FAST = {
    "cnngru": ["--set", "epochs=1", "--set", "embedding_dim=4", "--set", "order_hidden=8",
               "--set", "n_layers=1", "--set", "repeat_hidden=4", "--set", "head_hidden=4"],
    "attngru": ["--set", "epochs=1", "--set", "embedding_dim=4", "--set", "order_hidden=8",
                "--set", "n_layers=1", "--set", "repeat_hidden=4", "--set", "head_hidden=4",
                "--set", "attn_heads=2"],
    "xgboost": ["--set", "n_estimators=3", "--set", "max_depth=2"],
}


def spy_on_fit(monkeypatch, cls) -> list:
    """Record what every fit of ``cls`` receives: (training baskets, validation histories,
    validation targets)."""
    seen = []
    real = cls.fit

    def fit(self, train, valid, ctx):
        seen.append((baskets(train), baskets(valid.history), baskets(valid.target)))
        return real(self, train, valid, ctx)

    monkeypatch.setattr(cls, "fit", fit)
    return seen


@pytest.mark.parametrize("name", sorted(n for n, e in registry.entries().items() if e.builtin))
def test_train_hands_every_model_the_training_split(invoke, hand_csv, tmp_path, monkeypatch,
                                                    name):
    seen = spy_on_fit(monkeypatch, registry.get_model_class(name))
    r = invoke("train", "--model", name, "--data", hand_csv, "--out", tmp_path / "run",
               *FAST.get(name, []))
    assert r.exit_code == 0, r.output
    assert seen == [(TRAIN, TRAIN, VALID_TARGET)]


class Recorder(PTopFreq):
    """P-TopFreq that records the histories it is asked to score."""

    name = "recorder"
    scored: list = []

    def score(self, histories):
        Recorder.scored.append(baskets(histories))
        return super().score(histories)


@pytest.mark.parametrize("command", [["evaluate", "--model", "recorder"],
                                     ["compare", "--models", "recorder", "--no-reference"]])
def test_evaluate_and_compare_score_every_basket_but_the_last(invoke, hand_csv, command):
    registry.register(Recorder)
    Recorder.scored = []
    r = invoke(*command, "--data", hand_csv, "--json", "--bootstrap", "0")
    assert r.exit_code == 0, r.output
    scored = {u: b for batch in Recorder.scored for u, b in batch.items()}
    assert scored == TEST_HISTORY
    assert json.loads(r.stdout)["data"]["users"] == len(HISTORIES)


def test_grid_fits_on_the_training_split(invoke, hand_csv, tmp_path, monkeypatch):
    from basketcli_models.topfreq import GPTopFreq

    seen = spy_on_fit(monkeypatch, GPTopFreq)
    r = invoke("grid", "--model", "gptopfreq", "--param", "prior_strength=1,2", "--jobs", "1",
               "--data", hand_csv, "--out", tmp_path / "grid", "--json")
    assert r.exit_code == 0, r.output
    assert seen == [(TRAIN, TRAIN, VALID_TARGET)] * 2


def test_embed_learns_from_the_training_baskets_only(invoke, hand_csv, tmp_path, monkeypatch):
    import basketcli.workflows.embed as embed_workflow

    seen = []
    real = embed_workflow.cooccurrence_inputs

    def recording(train, *args, **kwargs):
        seen.append(baskets(train))
        return real(train, *args, **kwargs)

    monkeypatch.setattr(embed_workflow, "cooccurrence_inputs", recording)
    r = invoke("embed", "--data", hand_csv, "--out", tmp_path / "ev.npz", "--dim", "2",
               "--epochs", "1", "--json")
    assert r.exit_code == 0, r.output
    assert seen == [TRAIN]
    ev = np.load(tmp_path / "ev.npz")
    assert len(ev["product_ids"]) == 12
