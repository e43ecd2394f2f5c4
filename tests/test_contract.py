"""The model contract: every built-in model passes basketcli.testing.check_model, and each of
its checks catches the bug it is there for."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pydantic import ConfigDict

from basketcli import registry
from basketcli.errors import PluginLoadError
from basketcli.protocol import ModelConfig
from basketcli.testing import (
    ContractError,
    basket_check_model,  # noqa: F401  (the pytest fixture form, used below)
    check_model,
    contract_data,
    find_pickles,
)
from basketcli_models.topfreq import GPTopFreq, PTopFreq

ALL_CHECKS = ["class", "config", "fit", "score", "batching", "new customer", "repeat signal",
              "no pickle", "save/load", "repeatable"]

# Settings that keep a check to about a second. Two epochs at a constant lr of 0.01 make the
# neural models learn the repeat signal on the tiny data; one epoch at their default lr leaves
# its sign to the seed.
FAST_SETTINGS = {
    "epochs": 2, "lr": 0.01, "scheduler": "none", "embedding_dim": 16, "order_hidden": 16,
    "n_layers": 1, "repeat_hidden": 8, "attn_heads": 2, "n_estimators": 20, "max_depth": 3,
}


def builtin_models() -> list[str]:
    return sorted(name for name, entry in registry.entries().items() if entry.builtin)


def fast_settings(cls: type) -> dict:
    return {k: v for k, v in FAST_SETTINGS.items() if k in cls.Config.model_fields}


@pytest.mark.parametrize("name", builtin_models())
def test_builtin_model_meets_the_contract(name, tmp_path):
    try:
        cls = registry.get_model_class(name)
    except PluginLoadError as exc:
        pytest.skip(f"its plugin cannot be imported here: {exc.message}")
    report = check_model(name, work_dir=tmp_path, **fast_settings(cls))
    assert report.checks == ALL_CHECKS
    assert report.repeat_auc is not None and report.repeat_auc >= 0.7


def test_every_model_declared_in_pyproject_is_a_parametrised_builtin():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml")
                              .read_text(encoding="utf-8"))
    declared = pyproject["project"]["entry-points"]["basketcli.models"]
    assert len(declared) >= 7
    assert sorted(declared) == builtin_models()  # the contract test runs on each of them


def test_fixture_form_writes_into_tmp_path(basket_check_model, tmp_path):  # noqa: F811
    report = basket_check_model(PTopFreq)
    assert report.checks == ALL_CHECKS
    assert (tmp_path / "check-0" / "basket-contract" / "saved").is_dir()


def test_rigged_data_has_repeats_and_side_information():
    data = contract_data()
    assert data.n_users == 24 and data.n_items == 40
    assert data.item_ids[:3].tolist() == [10, 20, 30]  # ids are not vocabulary indices
    assert np.isnan(data.days_since_prior[data.order_rank() == 0]).all()
    assert data.cart_position.min() == 1


# --- each check catches its bug ----------------------------------------------------------------
def broken(name: str, base: type = PTopFreq, **attributes) -> type:
    """A subclass of a working model with one thing broken."""
    attributes.setdefault("__doc__", f"{name}: a deliberately broken model.")
    return type(name.capitalize(), (base,), {"name": name, **attributes})


def expect_failure(cls: type, check: str, words: str, **kwargs) -> None:
    with pytest.raises(ContractError) as failure:
        check_model(cls, **kwargs)
    message = str(failure.value)
    assert message.startswith(f"{cls.name}: {check}: "), message
    assert words in message, message
    assert "\n" not in message


def test_wrong_shape_is_named():
    expect_failure(broken("transposed", score=lambda self, h: PTopFreq.score(self, h).T),
                   "score", "expected (")


def test_nan_scores_are_found():
    def score(self, histories):
        out = PTopFreq.score(self, histories)
        out[0, 1] = np.nan
        return out

    expect_failure(broken("nanny", score=score), "score", "NaN or infinite")


def test_probabilities_outside_0_1_are_refused():
    expect_failure(broken("overconfident", GPTopFreq,
                          score=lambda self, h: GPTopFreq.score(self, h) + 1.0),
                   "score", "gives_probabilities")


def test_scores_that_depend_on_the_batch_are_found():
    def score(self, histories):
        out = PTopFreq.score(self, histories)
        return out - out.mean(axis=0, keepdims=True)  # a population statistic from the batch

    expect_failure(broken("batchy", score=score), "batching", "prepare_scoring")


def test_inverted_scores_fail_the_repeat_signal():
    expect_failure(broken("upside_down", score=lambda self, h: -PTopFreq.score(self, h)),
                   "repeat signal", "mean AUC")


def test_state_that_misses_an_array_fails_the_round_trip():
    def set_state(self, arrays):
        self.popularity = np.zeros_like(arrays["popularity"])  # forgets what was fitted
        self.n_baskets = int(arrays["n_baskets"])

    def prepare_scoring(self, histories):
        pass  # keep the fitted popularity, so a lost array shows in the scores

    expect_failure(broken("forgetful", set_state=set_state, prepare_scoring=prepare_scoring),
                   "save/load", "scores differ")


def test_pickled_files_are_refused():
    def save(self, directory):
        (directory / "model.pkl").write_bytes(pickle.dumps(self.state()))

    expect_failure(broken("pickler", save=save), "no pickle", "model.pkl")


class PlantsAFile:
    """Unpickling this creates a file: the proof that a loader ran pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_malicious_pickle_is_refused_before_anything_loads_it(tmp_path):
    marker = tmp_path / "pickle-ran"

    def save(self, directory):
        (directory / "weights.bin").write_bytes(pickle.dumps(PlantsAFile(marker)))

    @classmethod
    def load(cls, directory, config):
        pickle.loads((directory / "weights.bin").read_bytes())
        return cls(config)

    expect_failure(broken("trojan", save=save, load=load), "no pickle", "weights.bin")
    assert not marker.exists()


def test_unseeded_randomness_is_found():
    def score(self, histories):
        noise = np.random.default_rng().random((histories.n_users, histories.n_items))
        return PTopFreq.score(self, histories) + 1e-3 * noise.astype(np.float32)

    expect_failure(broken("jittery", score=score), "batching", "batch")


def test_unseeded_fit_is_found():
    def fit(self, train, valid, ctx):
        report = PTopFreq.fit(self, train, valid, ctx)
        self.popularity = self.popularity + np.random.default_rng().random(len(self.popularity))
        return report

    def prepare_scoring(self, histories):
        pass

    expect_failure(broken("unseeded", fit=fit, prepare_scoring=prepare_scoring),
                   "repeatable", "seed")


def test_config_that_accepts_unknown_keys_is_refused():
    class LooseConfig(ModelConfig):
        model_config = ConfigDict(extra="allow")

    expect_failure(broken("loose", Config=LooseConfig), "config", "extra='forbid'")


def test_a_model_needs_a_summary():
    expect_failure(broken("silent", __doc__=None), "class", "docstring")


def test_entry_name_must_match_the_class_name():
    registry.register(PTopFreq, name="alias")
    with pytest.raises(ContractError, match="registered as 'alias' but its `name` is 'ptopfreq'"):
        check_model("alias")


def test_settings_are_validated_like_set():
    from basketcli.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean prior_strength"):
        check_model(GPTopFreq, prior_strenght=2.0)


# --- the pickle scan ---------------------------------------------------------------------------
def test_find_pickles_accepts_plain_numpy_and_json(tmp_path):
    np.savez(tmp_path / "state.npz", a=np.arange(3))
    np.save(tmp_path / "vector.npy", np.ones(2))
    (tmp_path / "meta.json").write_text("{}")
    assert find_pickles(tmp_path) == []


def test_find_pickles_names_every_pickle(tmp_path):
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    (tmp_path / "weights.bin").write_bytes(pickle.dumps({"w": [1, 2]}, protocol=4))
    (tmp_path / "model.joblib").write_bytes(b"anything")
    found = find_pickles(tmp_path)
    assert [p.split(":")[0] for p in found] == ["model.joblib", "objects.npz", "weights.bin"]


def test_find_pickles_checks_torch_files_with_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    assert find_pickles(tmp_path) == []
    torch.save({"w": PicklableThing()}, tmp_path / "unsafe.pt")
    [problem] = find_pickles(tmp_path)
    assert problem.startswith("unsafe.pt: a torch file that fails torch.load(weights_only=True)")


class PicklableThing:
    """An arbitrary object: torch.load(weights_only=True) refuses to rebuild it."""
