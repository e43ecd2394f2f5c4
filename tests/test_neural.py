"""CNNGRU and AttnGRU: light imports, the repeat signal, repeatable fits, safe save/load."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import make_tiny_data

from basketcli.data.basket_data import from_baskets
from basketcli.data.split import leave_last_out
from basketcli.errors import ArtifactError, ConfigError
from basketcli.protocol import FitContext
from basketcli.settings import build_config
from basketcli_models.neural.attngru import AttnGRU
from basketcli_models.neural.cnngru import CNNGRU
from basketcli_models.neural.repeat_features import FEATURE_NAMES, repeat_features

torch = pytest.importorskip("torch")

SMALL = {"embedding_dim": 8, "order_hidden": 16, "repeat_hidden": 8, "epochs": 2,
         "n_layers": 1}
MODELS = [CNNGRU, AttnGRU]


def make(cls, **settings):
    return cls(build_config(cls.Config, {**SMALL, **settings}, cls.name))


@pytest.fixture(scope="module")
def split():
    return leave_last_out(make_tiny_data())


def fitted(cls, split, **settings):
    model = make(cls, **settings)
    model.fit(split.train, split.valid, FitContext(n_threads=1))
    return model


def test_plugin_modules_import_without_torch():
    code = ("import sys, basketcli_models.neural.cnngru, basketcli_models.neural.attngru; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_network_defaults_from_the_original_report_and_its_preset_file():
    from pathlib import Path

    from basketcli.cli.parsing import read_config_file

    preset = read_config_file(Path(__file__).parents[1] / "examples/configs/report.toml")
    for cls in MODELS:
        cfg = cls.Config()
        assert (cfg.n_orders, cfg.order_hidden, cfg.n_layers, cfg.dropout) == (5, 128, 2, 0.1)
        assert (cfg.pos_weight, cfg.threshold) == (5.0, 0.4)
        assert (cfg.batch_size, cfg.lr, cfg.epochs, cfg.customer_run) == (64, 1e-2, "auto", 4)
        assert cfg.repeat_signal and cfg.monitor == "ndcg@10" and cfg.sampled_negatives > 0
        assert cls.gives_probabilities
        report = build_config(cls.Config, preset, cls.name)
        assert (report.batch_size, report.epochs, report.lr) == (16, 3, 1e-3)
        assert not report.repeat_signal and report.sampled_negatives == 0
        assert report.customer_run == 1
    assert AttnGRU.Config().attn_heads == 4
    assert CNNGRU().default_sizing().threshold == 0.4


def test_reads_last_orders_follows_the_repeat_switch():
    assert CNNGRU().reads_last_orders is None  # the repeat signal reads whole histories
    assert make(CNNGRU, repeat_signal=False, n_orders=7).reads_last_orders == 7


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="lr"):
        build_config(CNNGRU.Config, {"lr": "-0.1"}, "cnngru")
    with pytest.raises(ConfigError, match="unknown setting 'heads'"):
        build_config(CNNGRU.Config, {"heads": 2}, "cnngru")
    with pytest.raises(ConfigError, match="not divisible by attn_heads"):
        build_config(AttnGRU.Config, {"order_hidden": 10, "attn_heads": 4}, "attngru")
    with pytest.raises(ConfigError, match="monitor"):
        build_config(CNNGRU.Config, {"monitor": "auc"}, "cnngru")
    # epochs is a count or "auto": the error names the setting, not pydantic's union arms.
    with pytest.raises(ConfigError, match=r"^setting epochs='0' for model cnngru: .*greater "
                       r"than or equal to 1; or Input should be 'auto'$"):
        build_config(CNNGRU.Config, {"epochs": "0"}, "cnngru")
    assert build_config(CNNGRU.Config, {"epochs": "7"}, "cnngru").epochs == 7


def test_params_table_spells_out_every_type():
    from basketcli.settings import describe_params

    types = {row["name"]: row["type"] for row in describe_params(CNNGRU.Config)}
    assert types["epochs"] == 'int | "auto"' and types["embeddings"] == "str | None"
    assert types["scheduler"] == "one of: cosine, plateau, none" and types["lr"] == "float"


def test_repeat_features_by_hand():
    data = from_baskets({1: [[10, 20], [30], [10], [99]]})
    rows, items, feats = repeat_features(data, np.array([0]), np.array([3]))  # first 3 orders
    named = {int(data.item_ids[i]): dict(zip(FEATURE_NAMES, f, strict=True))
             for i, f in zip(items, feats, strict=True)}
    assert set(named) == {10, 20, 30} and rows.tolist() == [0, 0, 0]
    assert named[10]["share"] == pytest.approx(2 / 3)
    assert named[10]["recency"] == pytest.approx(1.0)  # in the last basket
    assert named[20]["recency"] == pytest.approx(1 / 3)  # two baskets ago
    assert named[10]["decayed_0.5"] == pytest.approx((1 + 0.25) / (1 + 0.5 + 0.25))
    assert named[20]["log_history"] == pytest.approx(np.log(4))


def assert_same_value_and_gradient(got, expected, logits) -> None:
    assert torch.allclose(got, expected)
    (grad_expected,) = torch.autograd.grad(expected, logits)
    (grad_got,) = torch.autograd.grad(got, logits)
    assert torch.allclose(grad_got, grad_expected, atol=1e-7)


def test_listwise_softmax_is_the_cross_entropy_against_the_bought_products():
    from basketcli_models.neural.loss import listwise_softmax

    gen = torch.Generator().manual_seed(4)
    logits = (torch.randn(3, 9, generator=gen) * 3).requires_grad_()
    rows, items = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([1, 8, 4, 0, 2, 3])
    target = torch.zeros(3, 9)
    target[rows, items] = 1.0
    target /= target.sum(dim=1, keepdim=True)  # each example's purchases share one unit
    expected = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert_same_value_and_gradient(listwise_softmax(logits, rows, items), expected, logits)


def test_sampled_listwise_softmax_weighs_sampled_columns_into_the_denominator():
    from basketcli_models.neural.loss import listwise_softmax

    logits = torch.tensor([[2.0, 0.5, -1.0, -1.0, -1.0, -1.0]])
    rows, items = torch.tensor([0]), torch.tensor([0])
    full = listwise_softmax(logits, rows, items)
    # Four products of logit -1 stood for by one sampled column weighing 4: the same loss.
    weights = torch.tensor([1.0, 1.0, 4.0])
    assert torch.allclose(listwise_softmax(logits[:, :3], rows, items, weights), full)


def test_basket_probabilities_keep_the_order_and_sum_to_about_the_basket_size():
    from basketcli_models.neural.loss import basket_probabilities

    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 400, generator=gen)
    probabilities = basket_probabilities(logits.clone(), torch.tensor([3.0, 12.0]))
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    assert torch.equal(probabilities.argsort(dim=1), logits.argsort(dim=1))
    sums = probabilities.sum(dim=1)
    assert 2.9 < sums[0] <= 3.0 and 11.5 < sums[1] <= 12.0  # 1-(1-q)^n <= nq, close when q small
    uniform = basket_probabilities(torch.zeros(1, 10), torch.tensor([2.0]))
    assert torch.allclose(uniform, torch.full((1, 10), 1 - 0.9 ** 2))


@pytest.mark.parametrize("cls", MODELS)
def test_encoders_handle_empty_orders(cls):
    from basketcli_models.neural.repeat_features import N_FEATURES

    model = make(cls)
    net = model._network(5)
    net.eval()
    baskets = torch.tensor([[0, 0], [1, 2]])  # distinct orders: "no order" and one order
    windows = torch.tensor([[0, 1], [0, 0]])  # user 2: no orders at all
    out = net(baskets, windows, torch.tensor([0]), torch.tensor([1]), torch.zeros(1, N_FEATURES))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


@pytest.mark.parametrize("cls", MODELS)
def test_fit_scores_probabilities_and_records_history(cls, split):
    model = fitted(cls, split)
    scores = model.score(split.test.history)
    assert scores.shape == (split.test.n_users, split.train.n_items)
    assert scores.dtype == np.float32 and (scores >= 0).all() and (scores <= 1).all()


def test_same_seed_same_scores_and_save_load_round_trip(split, tmp_path):
    first = fitted(CNNGRU, split, seed=3)
    again = fitted(CNNGRU, split, seed=3)
    histories = split.test.history
    np.testing.assert_array_equal(first.score(histories), again.score(histories))
    first.save(tmp_path)
    loaded = CNNGRU.load(tmp_path, first.config)
    np.testing.assert_array_equal(first.score(histories), loaded.score(histories))
    other = fitted(CNNGRU, split, seed=4)
    assert not np.array_equal(first.score(histories), other.score(histories))


def test_repeat_signal_off_is_the_original_design(split):
    model = fitted(AttnGRU, split, repeat_signal=False)
    assert model.net.repeat is None
    assert model.score(split.test.history).shape[0] == split.test.n_users


def test_damaged_or_mismatched_weights_are_one_line_errors(split, tmp_path):
    model = fitted(CNNGRU, split, epochs=1)
    model.save(tmp_path)
    with pytest.raises(ArtifactError, match="do not fit cnngru"):
        CNNGRU.load(tmp_path, build_config(CNNGRU.Config, {**SMALL, "order_hidden": 32}, "c"))
    weights = tmp_path / "model.npz"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ArtifactError, match="model.npz: .* bytes where .* were saved") as info:
        CNNGRU.load(tmp_path, model.config)
    assert "\n" not in info.value.message
    weights.write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="model.npz"):
        CNNGRU.load(tmp_path, model.config)
    weights.unlink()
    with pytest.raises(ArtifactError, match="model.npz: missing"):
        CNNGRU.load(tmp_path, model.config)


def test_ev_embeddings_initialise_and_freeze(split, tmp_path):
    from basketcli.data.ev_file import EmbeddingFile, write_ev

    vectors = np.random.default_rng(0).normal(size=(split.train.n_items, 8)).astype(np.float32)
    path = tmp_path / "ev.npz"
    write_ev(path, EmbeddingFile(split.train.item_ids, vectors, {"dim": 8}))
    model = make(CNNGRU, embeddings=str(path), freeze_embeddings=True, epochs=1)
    report = model.fit(split.train, split.valid, FitContext(n_threads=1))
    assert report.info["embeddings"]["covered"] == split.train.n_items
    table = model.net.item_embedding.weight.detach().numpy()[1:]
    expected = vectors / np.sqrt(np.mean(vectors ** 2))
    np.testing.assert_allclose(table, expected, rtol=1e-6)  # frozen: unchanged by training


def test_weighted_bce_matches_torch_bce_with_pos_weight():
    from basketcli_models.neural.loss import weighted_bce

    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(4, 30, generator=gen) * 5).requires_grad_()
    rows, items = torch.tensor([0, 0, 2, 3, 3, 3]), torch.tensor([1, 7, 29, 0, 4, 5])
    truth = torch.zeros(4, 30)
    truth[rows, items] = 1.0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, truth, pos_weight=torch.tensor(5.0))
    assert_same_value_and_gradient(weighted_bce(logits, rows, items, 5.0), expected, logits)


def test_weighted_bce_gradient_with_column_weights_passes_gradcheck():
    from basketcli_models.neural.loss import weighted_bce

    gen = torch.Generator().manual_seed(3)
    logits = (torch.randn(3, 7, generator=gen, dtype=torch.double) * 3).requires_grad_()
    rows, columns = torch.tensor([0, 1, 1, 2]), torch.tensor([2, 0, 6, 2])
    weights = torch.tensor([1, 1, 1, 4.5, 4.5, 4.5, 4.5], dtype=torch.double)
    assert torch.autograd.gradcheck(
        lambda x: weighted_bce(x, rows, columns, 5.0, weights, 20), (logits,))


def test_sampled_loss_with_every_product_a_candidate_is_the_full_loss():
    from basketcli_models.neural.loss import sample_candidates, weighted_bce
    from basketcli_models.neural.modules import candidate_columns

    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 12, generator=gen) * 3
    rows, items = torch.tensor([0, 1, 1, 2]), torch.tensor([5, 0, 11, 5])
    torch.manual_seed(0)
    candidates, weights = sample_candidates(items, 12, n_sampled=500)  # draws cover the rest
    assert sorted(candidates.tolist()) == list(range(12))
    assert candidates[:3].tolist() == [0, 5, 11] and weights.tolist() == [1.0] * 12
    sampled = weighted_bce(logits[:, candidates], rows, candidate_columns(candidates, items, 12),
                           5.0, weights, 12)
    assert torch.allclose(sampled, weighted_bce(logits, rows, items, 5.0))


def test_sampled_loss_is_an_unbiased_estimate_of_the_full_loss():
    from basketcli_models.neural.loss import sample_candidates, weighted_bce
    from basketcli_models.neural.modules import candidate_columns

    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 200, generator=gen) * 2
    rows, items = torch.tensor([0, 1, 2, 3]), torch.tensor([3, 50, 3, 199])
    exact = torch.cat([items, torch.tensor([7, 8, 9])])  # e.g. products bought before
    full = weighted_bce(logits, rows, items, 5.0)
    torch.manual_seed(0)
    estimates = []
    for _ in range(2000):
        candidates, weights = sample_candidates(exact, 200, n_sampled=20)
        assert weights[:6].eq(1).all() and weights[6:].gt(1).all()
        estimates.append(float(weighted_bce(
            logits[:, candidates], rows, candidate_columns(candidates, items, 200), 5.0,
            weights, 200)))
    estimates = np.array(estimates)
    assert abs(estimates.mean() - float(full)) < 4 * estimates.std() / np.sqrt(len(estimates))
    assert estimates.std() > 0  # a real sample, not the full catalog every time


@pytest.mark.parametrize("cls", MODELS)
def test_candidate_logits_are_the_full_logits_of_those_products(cls, split):
    model = fitted(cls, split, epochs=1)
    net = model.net.eval()
    from basketcli.engine.batches import whole_histories

    starts, ends = whole_histories(split.test.history)
    inputs = model._tensors(model._arrays(split.test.history, starts, ends))
    candidates = torch.unique(torch.cat([inputs[3], torch.tensor([0, 2])]))
    with torch.no_grad():
        full = net(*inputs)
        part = net(*inputs, candidates=candidates)
    assert torch.allclose(part, full[:, candidates], atol=1e-5)


@pytest.mark.parametrize("settings", [{"sampled_negatives": 0}, {"customer_run": 4}])
def test_training_variants_fit_and_score(settings, split):
    model = fitted(AttnGRU, split, epochs=1, **settings)
    scores = model.score(split.test.history)
    assert scores.shape == (split.test.n_users, split.train.n_items)
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("sampled", [0, 50])
def test_softmax_loss_fits_and_scores_basket_probabilities(sampled, split, tmp_path):
    model = fitted(CNNGRU, split, loss="softmax", sampled_negatives=sampled)
    histories = split.test.history
    scores = model.score(histories)
    assert (scores >= 0).all() and (scores <= 1).all()
    mean_basket = np.diff(histories.user_line_offsets()) / histories.orders_per_user()
    # 1 - (1 - q)^n sums to at most n, and close to it when no product takes most of q.
    assert (scores.sum(axis=1) <= mean_basket + 1e-4).all()
    assert (scores.sum(axis=1) > 0.5 * mean_basket).all()
    assert model.default_sizing().kind == "expected-f1"
    assert make(CNNGRU).default_sizing().kind == "threshold"  # bce: the report's threshold
    model.save(tmp_path)
    np.testing.assert_array_equal(CNNGRU.load(tmp_path, model.config).score(histories), scores)


def matmul_dtype(model) -> torch.dtype:
    with model._autocast():
        return (torch.ones(2, 2) @ torch.ones(2, 2)).dtype


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("sampled", [0, 50])
def test_bf16_mixed_precision_fits_and_scores(cls, sampled, split):
    # CPU autocast runs the same dtype joins as CUDA's: products in bfloat16, the GRU and the
    # loss in float32, probabilities back in float32.
    model = make(cls, epochs=1, mixed_precision="bf16", sampled_negatives=sampled, n_layers=2)
    report = model.fit(split.train, split.valid, FitContext(n_threads=1))
    assert matmul_dtype(model) == torch.bfloat16
    assert all(np.isfinite(row["train_loss"]) for row in report.history)
    scores = model.score(split.test.history)
    assert scores.dtype == np.float32 and np.isfinite(scores).all()


def test_mixed_precision_auto_is_off_on_cpus(split):
    model = fitted(CNNGRU, split, epochs=1)
    assert model.config.mixed_precision == "auto" and matmul_dtype(model) == torch.float32


def planted_data(n_users: int = 150, n_items: int = 200, pool: int = 60, seed: int = 0):
    """Every customer rebuys 3 personal favourites (from a pool of 60) in most of 8 orders, plus
    one random product: global popularity cannot know whose favourites are whose."""
    rng = np.random.default_rng(seed)
    histories = {}
    for user in range(n_users):
        favourites = rng.choice(pool, size=3, replace=False) + 1
        orders = []
        for _ in range(8):
            kept = favourites[rng.random(3) < 0.9]
            extra = rng.choice(n_items, size=1) + 1
            orders.append([int(p) for p in np.unique(np.concatenate([kept, extra]))])
        histories[user + 1] = orders
    return from_baskets(histories)


@pytest.mark.parametrize("cls", MODELS)
def test_the_network_learns_a_planted_pattern_and_beats_popularity(cls):
    """Without the repeat signal the network only sees the last orders' products: it must
    learn to map them to the next basket (measured: ~0.40 against popularity's 0.20)."""
    from basketcli.evaluation.scoring import evaluate_model
    from basketcli_models.topfreq import GTopFreq

    split = leave_last_out(planted_data())
    popularity = GTopFreq()
    popularity.fit(split.train, None, FitContext())
    baseline = evaluate_model(popularity, split.test)[0].metrics["recall@10"]
    model = make(cls, repeat_signal=False, embedding_dim=16, order_hidden=32, head_hidden=32,
                 epochs=12, batch_size=16, customer_run=1, lr=0.01, scheduler="none",
                 patience=None, **({"attn_heads": 2} if cls is AttnGRU else {}))
    model.fit(split.train, split.valid, FitContext(n_threads=1))
    learned = evaluate_model(model, split.test)[0].metrics["recall@10"]
    assert learned > 1.5 * baseline and learned > baseline + 0.1, (learned, baseline)
