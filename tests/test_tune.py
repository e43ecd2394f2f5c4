"""`basket tune` and `basket compare --tune`: Optuna on the validation targets only, a study
that resumes and is shared by processes, search spaces declared beside each config, and one-line
errors for what can go wrong."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import one_line_error, write_long_csv
from pydantic import Field

from basketcli import registry
from basketcli.data.basket_data import from_baskets
from basketcli.protocol import search
from basketcli.workflows.tune import parse_budget
from basketcli_models.topfreq import GPTopFreq, GPTopFreqConfig

optuna = pytest.importorskip("optuna")


def test_budgets_parse_and_bad_ones_are_config_errors():
    from basketcli.errors import ConfigError

    assert parse_budget("90s") == 90 and parse_budget("10m") == 600
    assert parse_budget("1h30m") == 5400 and parse_budget("45") == 45
    for bad in ("ten minutes", "5x", "0s", "m"):
        with pytest.raises(ConfigError, match="--budget"):
            parse_budget(bad)


def test_every_builtin_declares_a_search_space_of_its_own_settings():
    for name in ("gptopfreq", "tifuknn", "cnngru", "attngru", "xgboost"):
        cls = registry.get_model_class(name)
        space = cls.search_space()
        assert space and set(space) <= set(cls.Config.model_fields), name


def test_tune_writes_best_settings_a_trials_table_and_a_reusable_config(invoke, tiny_csv,
                                                                       tmp_path):
    out = tmp_path / "tuned"
    r = invoke("tune", "--model", "tifuknn", "--data", tiny_csv, "--trials", "4", "--out", out,
               "--set", "batch_size=64", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert [t["state"] for t in result["trials"]] == ["COMPLETE"] * 4
    best = json.loads((out / "best.json").read_text())
    assert best["batch_size"] == 64 and set(result["search_space"]) <= set(best)
    assert result["best_value"] == max(t["value"] for t in result["trials"])
    assert (out / "trials.csv").read_text().count("\n") == 5
    r = invoke("train", "--model", "tifuknn", "--data", tiny_csv, "--config", out / "best.json",
               "--out", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["validation"]["ndcg@10"] == pytest.approx(result["best_value"])


def test_a_study_resumes_and_refuses_other_data_or_an_occupied_folder(invoke, tiny_csv,
                                                                      tmp_path, tiny_data):
    out = tmp_path / "tuned"
    args = ["tune", "--model", "gptopfreq", "--data", tiny_csv, "--out", out]
    assert invoke(*args, "--trials", "2").exit_code == 0
    one_line_error(invoke(*args, "--trials", "2"), "holds a study already", "--resume")
    r = invoke(*args, "--trials", "5", "--resume", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["trials"]) == 5  # 2 kept, 3 more
    other = write_long_csv(from_baskets({u: [[1, 2], [2, 3], [1, 3], [3, 4]] for u in range(9)}),
                           tmp_path / "other.csv")
    before = (out / "best.json").read_text()
    r = invoke("tune", "--model", "gptopfreq", "--data", other, "--out", out, "--trials", "2",
               "--resume")
    one_line_error(r, "other data")
    assert (out / "best.json").read_text() == before
    r = invoke("tune", "--model", "tifuknn", "--data", tiny_csv, "--out", out, "--trials", "2",
               "--resume")
    one_line_error(r, "another model")
    assert invoke(*args, "--trials", "1", "--force").exit_code == 0


def test_force_keeps_the_finished_search_until_the_new_one_is_written(invoke, tiny_csv,
                                                                      tmp_path, monkeypatch):
    from test_kill import tree_digest

    from basketcli.errors import DataError
    from basketcli.workflows import tune as workflow

    out, beside = tmp_path / "tuned", tmp_path / ".tuned.next"
    args = ["tune", "--model", "gptopfreq", "--data", tiny_csv, "--out", out]
    assert invoke(*args, "--trials", "2").exit_code == 0
    files = tree_digest(out)
    real = workflow._optimize

    def failing(study, *rest, **kwargs):  # the new search runs its trials, then fails
        assert tree_digest(out) == files and (beside / "study.db").is_file()
        real(study, *rest, **kwargs)
        raise DataError("the search broke")

    with monkeypatch.context() as patch:
        patch.setattr(workflow, "_optimize", failing)
        one_line_error(invoke(*args, "--trials", "2", "--force"), "the search broke")
    assert tree_digest(out) == files  # best.json and the rest, byte for byte
    # --force --resume continues the new search beside it, which then replaces the old one.
    r = invoke(*args, "--trials", "3", "--force", "--resume", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert len(result["trials"]) == 3 and not beside.exists()
    assert result["storage"] == f"sqlite:///{out.resolve() / 'study.db'}"
    assert json.loads((out / "tune.json").read_text())["trials"] == result["trials"]
    assert (out / "trials.csv").read_text().count("\n") == 4
    # --force replaces the whole folder: files of the user's in it are not thrown away.
    (out / "notes.txt").write_text("mine")
    one_line_error(invoke(*args, "--trials", "1", "--force"), "besides the study (notes.txt)")
    assert (out / "notes.txt").read_text() == "mine"


def test_the_test_targets_are_never_read(tmp_path, tiny_data):
    """Shuffling the test targets between customers changes nothing tuning sees."""
    from basketcli.data.source import DataSpec
    from basketcli.workflows.tune import tune

    rng = np.random.default_rng(0)
    histories = {int(u): tiny_data.product_ids_of(i) for i, u in enumerate(tiny_data.user_ids)}
    last = [orders[-1] for orders in histories.values()]
    rng.shuffle(last)
    shuffled = {u: [*orders[:-1], last[i]] for i, (u, orders) in enumerate(histories.items())}
    picked = []
    for name, data in (("plain", histories), ("shuffled", shuffled)):
        path = write_long_csv(from_baskets(data), tmp_path / f"{name}.csv")
        result = tune("tifuknn", DataSpec(source=str(path)), None, trials=5)
        picked.append((result.best_settings, [t.value for t in result.trials]))
    assert picked[0] == picked[1]


def test_two_processes_share_one_sqlite_study(tiny_csv, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [sys.executable, "-c", "from basketcli.cli import main; main()", "tune",
               "--model", "gptopfreq", "--data", str(tiny_csv), "--storage", storage,
               "--trials", "6", "--json"]
    workers = [subprocess.Popen([*command, "--out", str(tmp_path / f"w{i}")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    results = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [r[1] for r in results]
    study = optuna.load_study(study_name="basket-gptopfreq", storage=storage)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert 6 <= len(finished) <= 7  # both processes worked on one study, stopping at 6 (+1
    # started before the other's sixth finished)


def test_neural_trials_report_every_epoch_for_pruning(tiny_csv, tmp_path, invoke):
    out = tmp_path / "tuned"
    r = invoke("tune", "--model", "cnngru", "--data", tiny_csv, "--trials", "2", "--out", out,
               "--set", "epochs=2", "--set", "embedding_dim=8", "--set", "order_hidden=16",
               "--set", "n_layers=1", "--set", "repeat_hidden=8", "--set", "patience=none")
    assert r.exit_code == 0, r.output
    study = optuna.load_study(study_name="basket-cnngru", storage=f"sqlite:///{out / 'study.db'}")
    assert all(sorted(t.intermediate_values) == [1, 2] for t in study.trials)


class BadSpace(GPTopFreq):
    """A plugin whose search space names a setting its config lacks."""

    name = "badspace"

    @classmethod
    def search_space(cls):
        return {"prior_strenght": {"low": 0.1, "high": 10.0}}


class EmptyRange(GPTopFreq):
    """A plugin whose search range is empty."""

    name = "emptyrange"

    class Config(GPTopFreqConfig):
        prior_strength: float = Field(1.0, ge=0.0,
                                      json_schema_extra={"search": {"low": 2.0, "high": 1.0}})


@pytest.mark.parametrize(("cls", "words"), [
    (BadSpace, "names 'prior_strenght', which its config lacks"),
    (EmptyRange, "needs low < high"),
])
def test_a_broken_search_space_is_one_line_and_writes_nothing(invoke, tiny_csv, tmp_path, cls,
                                                              words):
    registry.register(cls)
    r = invoke("tune", "--model", cls.name, "--data", tiny_csv, "--trials", "2", "--out",
               tmp_path / "t")
    one_line_error(r, words)
    assert not (tmp_path / "t").exists()


def test_bad_tune_options_are_one_line(invoke, tiny_csv, tmp_path):
    out = tmp_path / "t"
    one_line_error(invoke("tune", "--model", "tifuknn", "--data", tiny_csv, "--out", out,
                          "--budget", "soon"), "--budget 'soon'")
    one_line_error(invoke("tune", "--model", "tifuknn", "--data", tiny_csv, "--out", out),
                   "--budget", "--trials")
    one_line_error(invoke("tune", "--model", "tifuknn", "--data", tiny_csv, "--out", out,
                          "--trials", "2", "--set", "k=5"), "searched by tune")
    one_line_error(invoke("tune", "--model", "tifuknn", "--data", tiny_csv, "--out", out,
                          "--trials", "2", "--monitor", "recal@10"), "--monitor")
    assert not out.exists()
    one_line_error(invoke("compare", "--models", "tifuknn", "--data", tiny_csv, "--budget",
                          "1m"), "go with --tune")


def test_search_helper_refuses_an_empty_range():
    with pytest.raises(ValueError, match="low < high"):
        search(1.0, 1.0)


def test_compare_tune_tunes_every_model_and_reports_its_settings(invoke, tiny_csv):
    r = invoke("compare", "--models", "gptopfreq,tifuknn", "--data", tiny_csv, "--tune",
               "--trials", "3", "--json", "--bootstrap", "100")
    assert r.exit_code == 0, r.output
    rows = {m["name"]: m for m in json.loads(r.stdout)["models"]}
    assert rows["tifuknn"]["tune_trials"] == 3 and "k" in rows["tifuknn"]["settings"]
    assert rows["ptopfreq"]["tune_trials"] == 0 and rows["ptopfreq"]["settings"] == {}
    assert rows["gptopfreq"]["tune_seconds"] >= 0


def test_a_search_stops_after_patience_trials_without_a_better_one(tiny_csv):
    from basketcli.data.source import DataSpec
    from basketcli.workflows.tune import tune

    spec = DataSpec(source=str(tiny_csv))
    settled = tune("gptopfreq", spec, None, trials=80, patience=5)
    values = [t.value for t in settled.trials]
    best = values.index(max(values))  # the first trial reaching the best value
    assert len(values) == best + 1 + 5 < 80
    assert len(tune("gptopfreq", spec, None, trials=30, patience=None).trials) == 30


def test_the_first_trial_is_the_models_defaults(tiny_csv):
    # A budget for one trial (a neural model on a large data set) must not return a random
    # draw: the first trial of a new study is the defaults, so tuning is never worse on
    # validation than not tuning.
    from basketcli.data.source import DataSpec
    from basketcli.workflows.tune import default_settings, tune

    spec = DataSpec(source=str(tiny_csv))
    cls = registry.get_model_class("tifuknn")
    space = cls.search_space()
    defaults = default_settings(space, cls.Config, {}, "tifuknn")
    assert defaults and set(defaults) <= set(space)
    first = tune("tifuknn", spec, None, trials=1, patience=None)
    assert {k: first.trials[0].settings[k] for k in defaults} == defaults
    assert first.best_settings == {**first.best_settings, **defaults}
    # A default outside its declared range is not enqueued, and the defaults trial does not
    # draw it either: xgboost's train_targets "auto" is no int of 1..12 (it once became 7).
    narrow = {**space, "k": {"low": 1000, "high": 2000, "log": False}}
    assert "k" not in default_settings(narrow, cls.Config, {}, "tifuknn")
    boosted = tune("xgboost", spec, None, trials=2, patience=None)
    assert "train_targets" not in boosted.trials[0].settings  # the default: auto
    assert "train_targets" in boosted.trials[1].settings  # later trials search it


def test_every_sampled_setting_validates_in_its_config():
    # An int range on an ``int | "auto"`` setting is sampled as an int, never a float.
    from basketcli.workflows.tune import checked_space, suggest

    for name in ("gptopfreq", "tifuknn", "upcf", "taiw", "cnngru", "attngru", "xgboost"):
        cls = registry.get_model_class(name)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(5):
            settings = suggest(study.ask(), checked_space(name), cls.Config)
            cls.Config(**settings)  # raises on a float where an int belongs
    settings = suggest(study.ask(), checked_space("xgboost"), registry.get_model_class(
        "xgboost").Config)
    assert isinstance(settings["train_targets"], int)


def test_a_resumed_study_draws_new_settings(tiny_csv, tmp_path):
    # The sampler restarted from the same seed and drew the first trials' settings again.
    from basketcli.data.source import DataSpec
    from basketcli.workflows.tune import tune

    spec, out = DataSpec(source=str(tiny_csv)), tmp_path / "study"
    tune("gptopfreq", spec, out, trials=3, patience=None)
    resumed = tune("gptopfreq", spec, out, trials=6, patience=None, resume=True)
    drawn = [json.dumps(t.settings, sort_keys=True) for t in resumed.trials]
    assert len(drawn) == 6 and len(set(drawn)) == 6, drawn
