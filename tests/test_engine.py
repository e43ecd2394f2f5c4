"""The torch training engine: batches from CSR arrays, the loop, checkpoints and resume."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from basketcli.data.basket_data import from_baskets
from basketcli.engine.batches import (
    basket_lines,
    distinct_orders,
    epoch_order,
    example_runs,
    last_order_windows,
    padded_baskets,
    runs_examples,
    sliding_examples,
    whole_histories,
)
from basketcli.errors import ArtifactError, ConfigError
from basketcli.protocol import FitContext
from basketcli.reports import write_curves

torch = pytest.importorskip("torch")

from basketcli.engine.checkpoints import (  # noqa: E402  (after the torch skip)
    BEST_FILE,
    CHECKPOINT_FILE,
    load_torch,
    save_torch,
)
from basketcli.engine.trainer import Trainer, TrainSettings, resolve_device  # noqa: E402


@pytest.fixture
def three_users():
    # product ids 10..60; user 0 has 3 orders, user 1 has 1, user 2 has 4
    return from_baskets({
        7: [[10, 20], [30], [10, 40, 50]],
        8: [[60]],
        9: [[20], [20, 30], [40], [10, 20, 30, 40]],
    })


# --- batches -----------------------------------------------------------------------------------
def test_sliding_examples_target_every_order_but_the_first(three_users):
    starts, targets = sliding_examples(three_users)
    assert targets.tolist() == [1, 2, 5, 6, 7]  # never order 0, 3 or 4 (first orders)
    assert starts.tolist() == [0, 0, 4, 4, 4]


def test_windows_are_right_aligned_and_padded(three_users):
    starts, ends = whole_histories(three_users)
    windows = last_order_windows(starts, ends, 3)
    assert windows.tolist() == [[0, 1, 2], [-1, -1, 3], [5, 6, 7]]


def test_padded_baskets_shift_items_and_keep_cart_order(three_users):
    baskets = padded_baskets(three_users, np.array([[0, -1, 2]]))
    ids = three_users.item_ids
    assert baskets.shape == (1, 3, 3)
    assert [ids[v - 1] for v in baskets[0, 0] if v] == [10, 20]
    assert baskets[0, 1].tolist() == [0, 0, 0]
    assert [ids[v - 1] for v in baskets[0, 2]] == [10, 40, 50]
    capped = padded_baskets(three_users, np.array([[2]]), max_items=2)
    assert [ids[v - 1] for v in capped[0, 0]] == [10, 40]


def test_basket_lines_are_sparse_targets(three_users):
    rows, items = basket_lines(three_users, np.array([2, 3]))
    assert rows.tolist() == [0, 0, 0, 1]
    assert three_users.item_ids[items].tolist() == [10, 40, 50, 60]


def test_example_runs_cut_each_customer_into_consecutive_runs(three_users):
    starts, _ = sliding_examples(three_users)  # examples of user 0: 2, of user 2: 3
    assert example_runs(starts, 1).tolist() == [0, 1, 2, 3, 4, 5]
    assert example_runs(starts, 2).tolist() == [0, 2, 4, 5]  # runs never span two customers
    assert example_runs(starts, 10).tolist() == [0, 2, 5]
    offsets = example_runs(starts, 2)
    assert runs_examples(offsets, np.array([2, 0])).tolist() == [4, 0, 1]


def test_distinct_orders_index_back_to_the_windows():
    windows = np.array([[-1, 3, 4], [3, 4, 5], [4, 5, 6]])
    orders, index = distinct_orders(windows)
    assert orders.tolist() == [-1, 3, 4, 5, 6]
    assert (orders[index] == windows).all()


def test_epoch_order_depends_on_seed_and_epoch_only():
    assert np.array_equal(epoch_order(50, 3, 1), epoch_order(50, 3, 1))
    assert not np.array_equal(epoch_order(50, 3, 1), epoch_order(50, 3, 2))
    assert sorted(epoch_order(50, 3, 1).tolist()) == list(range(50))


# --- the loop ----------------------------------------------------------------------------------
class Toy:
    """A linear regression the engine can fit in milliseconds."""

    def __init__(self, init_seed: int = 0) -> None:
        data = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 4, generator=data)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        torch.manual_seed(init_seed)  # initial weights, then the dropout masks
        self.module = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(4, 1))

    def loss(self, index: np.ndarray):
        idx = torch.from_numpy(index)
        return ((self.module(self.x[idx]).squeeze(-1) - self.y[idx]) ** 2).mean()

    def validate(self) -> dict[str, float]:
        return {"ndcg@10": -float(((self.module(self.x).squeeze(-1) - self.y) ** 2).mean())}


def fit_toy(ctx: FitContext, **settings):
    toy = Toy()
    trainer = Trainer(toy.module, TrainSettings(batch_size=8, lr=0.05, **settings), ctx,
                      torch.device("cpu"))
    return toy, trainer.fit(64, toy.loss, toy.validate)


def test_loss_falls_and_history_has_a_row_per_epoch():
    lines = []
    toy, outcome = fit_toy(FitContext(log=lines.append), epochs=4)
    assert [row["epoch"] for row in outcome.history] == [1, 2, 3, 4]
    assert outcome.history[-1]["train_loss"] < outcome.history[0]["train_loss"]
    assert "valid_ndcg@10" in outcome.history[0]
    assert len(lines) == 4 and lines[0].startswith("epoch 1/4")


def test_auto_epochs_give_small_data_more_passes_within_bounds():
    from basketcli.engine.trainer import AUTO_EPOCHS, AUTO_STEPS, planned_epochs

    low, high = AUTO_EPOCHS
    assert planned_epochs(AUTO_STEPS) == low  # a large data set: the fewest passes
    assert planned_epochs(AUTO_STEPS // 10) == 10  # ten passes make the steps
    assert planned_epochs(AUTO_STEPS // 10 + 1) == 10
    assert planned_epochs(AUTO_STEPS // 10 - 1) == 11
    assert planned_epochs(1) == planned_epochs(0) == high  # tiny data: capped
    lines = []
    _, outcome = fit_toy(FitContext(log=lines.append), epochs="auto")  # 8 steps a pass
    assert outcome.epochs_planned == outcome.epochs_run == len(outcome.history) == high
    assert lines[0].startswith(f"epoch 1/{high}")
    assert outcome.info("ndcg@10")["epochs_planned"] == high


def test_batches_prepared_ahead_in_a_thread_give_the_same_run():
    plain_toy, plain = fit_toy(FitContext(), epochs=2)
    toy = Toy()
    seen: list[np.ndarray] = []

    def prepare(index: np.ndarray) -> tuple[str, np.ndarray]:
        seen.append(index.copy())
        return "prepared", index.copy()

    def loss(batch: tuple[str, np.ndarray]):
        tag, index = batch  # the loss receives what prepare made, not the index
        assert tag == "prepared"
        return toy.loss(index)

    trainer = Trainer(toy.module, TrainSettings(batch_size=8, lr=0.05, epochs=2), FitContext(),
                      torch.device("cpu"))
    outcome = trainer.fit(64, loss, toy.validate, prepare)
    assert len(seen) == 2 * 8  # every batch of both epochs, once
    assert sorted(np.concatenate(seen[:8]).tolist()) == list(range(64))
    assert [row["train_loss"] for row in outcome.history] == pytest.approx(
        [row["train_loss"] for row in plain.history], rel=1e-6)
    for a, b in zip(toy.module.parameters(), plain_toy.module.parameters(), strict=True):
        assert torch.allclose(a, b)


def test_early_stopping_restores_the_best_epoch():
    toy = Toy()
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.9])
    weights = {}

    def validate():
        value = next(scores)
        weights[value] = toy.module[1].weight.detach().clone()
        return {"ndcg@10": value}

    trainer = Trainer(toy.module, TrainSettings(epochs=5, batch_size=8, lr=0.05, patience=2),
                      FitContext(), torch.device("cpu"))
    outcome = trainer.fit(64, toy.loss, validate)
    assert outcome.stopped_early and outcome.epochs_run == 4 and outcome.best_epoch == 2
    assert torch.equal(toy.module[1].weight, weights[0.5])


def test_unknown_monitor_is_a_config_error():
    with pytest.raises(ConfigError, match="monitor"):
        fit_toy(FitContext(), epochs=1, monitor="auc")


def test_divergence_is_a_one_line_error():
    toy = Toy()
    trainer = Trainer(toy.module, TrainSettings(epochs=1, batch_size=8), FitContext(),
                      torch.device("cpu"))
    with pytest.raises(ConfigError, match="diverged"):
        trainer.fit(64, lambda index: toy.loss(index) * float("nan"))


def test_resume_ends_exactly_like_an_uninterrupted_run(tmp_path):
    toy_full, straight = fit_toy(FitContext(), epochs=4)

    class Stop(Exception):
        pass

    calls = {"n": 0}
    toy = Toy()
    original = toy.validate

    def validate_then_stop():
        calls["n"] += 1
        if calls["n"] == 3:
            raise Stop  # interrupted in epoch 3: the checkpoint holds epoch 2
        return original()

    settings = TrainSettings(epochs=4, batch_size=8, lr=0.05)
    with pytest.raises(Stop):
        Trainer(toy.module, settings, FitContext(work_dir=tmp_path), torch.device("cpu")).fit(
            64, toy.loss, validate_then_stop)
    assert (tmp_path / CHECKPOINT_FILE).is_file() and (tmp_path / BEST_FILE).is_file()

    # Other initial weights and RNG state: everything must come from the checkpoint.
    fresh = Toy(init_seed=123)
    torch.manual_seed(999)
    resumed = Trainer(fresh.module, settings, FitContext(work_dir=tmp_path, resume=True),
                      torch.device("cpu")).fit(64, fresh.loss, fresh.validate)
    assert resumed.resumed_from_epoch == 2
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
    for a, b in zip(fresh.module.parameters(), toy_full.module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resume_with_other_settings_is_refused(tmp_path):
    fit_toy(FitContext(work_dir=tmp_path), epochs=1)
    with pytest.raises(ArtifactError, match="other training settings"):
        fit_toy(FitContext(work_dir=tmp_path, resume=True), epochs=2)


def test_device_names():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="expected auto, cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")


# --- files -------------------------------------------------------------------------------------
class PlantFile:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_files_never_unpickle_code(tmp_path):
    planted = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(2), "evil": PlantFile(str(planted))}, path)
    with pytest.raises(ArtifactError, match="not a readable torch weights file"):
        load_torch(path)
    assert not planted.exists()
    path.write_bytes(pickle.dumps(PlantFile(str(planted))))
    with pytest.raises(ArtifactError):
        load_torch(path)
    assert not planted.exists()


def test_saved_state_round_trips_and_garbage_is_refused(tmp_path):
    save_torch(tmp_path / "w.pt", {"a": torch.arange(3)})
    assert torch.equal(load_torch(tmp_path / "w.pt")["a"], torch.arange(3))
    (tmp_path / "bad.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(ArtifactError, match="bad.pt"):
        load_torch(tmp_path / "bad.pt")
    with pytest.raises(ArtifactError, match="not found"):
        load_torch(tmp_path / "missing.pt")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_curves_csv(tmp_path):
    history = [{"epoch": 1, "train_loss": 0.5, "valid_ndcg@10": 0.2},
               {"epoch": 2, "train_loss": 0.4, "valid_ndcg@10": 0.3}]
    written = write_curves(tmp_path, history)
    lines = (tmp_path / "curves.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,valid_ndcg@10"
    assert lines[2] == "2,0.4,0.3"
    assert tmp_path / "curves.csv" in written
    assert write_curves(tmp_path / "none", []) == []


def test_thread_count_honours_a_pinned_omp_num_threads(monkeypatch):
    from basketcli.engine.trainer import thread_count

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert thread_count(FitContext(n_threads=4)) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thread_count(FitContext(n_threads=4)) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    assert thread_count(FitContext(n_threads=2)) == 2


def test_row_adam_matches_torch_sparse_adam():
    from basketcli.engine.row_adam import RowAdam

    torch.manual_seed(0)
    ours = torch.nn.Embedding(50, 4, sparse=True)
    theirs = torch.nn.Embedding(50, 4, sparse=True)
    theirs.load_state_dict(ours.state_dict())
    opt_ours, opt_theirs = RowAdam(ours.parameters(), lr=0.01), torch.optim.SparseAdam(
        theirs.parameters(), lr=0.01)
    for _ in range(5):
        rows = torch.randint(0, 50, (30,))  # repeated rows: their gradients add up
        target = torch.randn(30, 4)
        for table, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            ((table(rows) - target) ** 2).sum().backward()
            opt.step()
    assert torch.allclose(ours.weight, theirs.weight, atol=1e-6)
    assert opt_ours.state[ours.weight]["step"] == 5


def test_row_adam_refuses_dense_gradients():
    from basketcli.engine.row_adam import RowAdam

    table = torch.nn.Embedding(5, 2)
    opt = RowAdam(table.parameters())
    table(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        opt.step()
