"""`basket grid`: validation before anything runs, post-hoc thresholds, resume, outputs."""

import json
import sys

import pytest

from basketcli.data.source import DataSpec
from basketcli.evaluation.scoring import Variant, evaluate_model
from basketcli.workflows.run_dirs import load_run, read_run_info
from basketcli.workflows.steps import prepare
from basketcli_models.neighbourhood.tifuknn import TifuKNN
from basketcli_models.topfreq import GPTopFreq

TABLE_KEYS = ("f1_micro", "precision@10", "recall@10", "ndcg@10")


@pytest.fixture
def fits(monkeypatch):
    """Counts the fits made in this process (grids with --jobs 1 fit in-process)."""
    calls = []
    for cls in (GPTopFreq, TifuKNN):
        original = cls.fit

        def counting(self, train, valid, ctx, _original=original):
            calls.append(self.config.model_dump())
            return _original(self, train, valid, ctx)

        monkeypatch.setattr(cls, "fit", counting)
    return calls


def run_grid(invoke, csv, out, *args):
    return invoke("grid", "--data", csv, "--out", out, "--jobs", "1", *args)


def test_grid_json_rows_best_test_and_files(invoke, tiny_csv, tmp_path, fits):
    out = tmp_path / "grid"
    r = run_grid(invoke, tiny_csv, out, "--model", "gptopfreq",
                 "--param", "prior_strength=0.5,4", "--threshold", "0.2,0.4,0.6", "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert set(payload) == {"rows", "best", "test"}
    rows = payload["rows"]
    assert len(rows) == 6 and len(fits) == 2  # thresholds are scored without refitting
    assert list(rows[0])[:6] == ["prior_strength", "threshold", *TABLE_KEYS]
    assert [r["f1_micro"] for r in rows] == sorted((r["f1_micro"] for r in rows), reverse=True)
    assert payload["best"] == rows[0]
    assert {(r["prior_strength"], r["threshold"]) for r in rows} == {
        (p, t) for p in (0.5, 4.0) for t in (0.2, 0.4, 0.6)}
    # One fitted model, several thresholds: rankings (and so recall) agree, f1_micro does not.
    same_run = [r for r in rows if r["prior_strength"] == 4.0]
    assert len({r["recall@10"] for r in same_run}) == 1
    assert len({r["f1_micro"] for r in same_run}) == 3
    for name in ("grid.csv", "grid.json", "heatmap.png", "grid-spec.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "grid.json").read_text())["rows"] == rows
    assert (out / "grid.csv").read_text().splitlines()[0].startswith("prior_strength,threshold,")
    assert len(list((out / "runs").iterdir())) == 2


def test_best_setting_is_tested_once_on_the_test_targets(invoke, tiny_csv, tmp_path):
    out = tmp_path / "grid"
    r = run_grid(invoke, tiny_csv, out, "--model", "gptopfreq",
                 "--param", "prior_strength=0.5,4", "--threshold", "0.3,0.5", "--json")
    payload = json.loads(r.stdout)
    best, test = payload["best"], payload["test"]
    assert (test["prior_strength"], test["threshold"]) == (best["prior_strength"],
                                                           best["threshold"])
    model, _ = load_run(out / "runs" / best["run"])
    _, split = prepare(DataSpec(source=str(tiny_csv)))
    direct = evaluate_model(model, split.test, [Variant(best["threshold"])])[0].metrics
    assert test["f1_micro"] == pytest.approx(direct["f1_micro"])
    assert test["recall@10"] == pytest.approx(direct["recall@10"])
    validation = evaluate_model(model, split.valid, [Variant(best["threshold"])])[0].metrics
    assert best["f1_micro"] == pytest.approx(validation["f1_micro"])  # rows are validation


def test_resume_skips_recorded_runs(invoke, tiny_csv, tmp_path, fits):
    out = tmp_path / "grid"
    args = ("--model", "tifuknn", "--param", "k=3,5")
    assert run_grid(invoke, tiny_csv, out, *args, "--json").exit_code == 0
    assert len(fits) == 2
    recorded = {p.name: (p / "basket.json").stat().st_mtime_ns for p in (out / "runs").iterdir()}
    r = run_grid(invoke, tiny_csv, out, "--model", "tifuknn", "--param", "k=3,5,8", "--resume",
                 "--json")
    assert r.exit_code == 0, r.output
    assert [f["k"] for f in fits] == [3, 5, 8]  # only k=8 was fitted now
    for name, mtime in recorded.items():
        assert (out / "runs" / name / "basket.json").stat().st_mtime_ns == mtime
    assert sorted(row["k"] for row in json.loads(r.stdout)["rows"]) == [3, 5, 8]
    # Without --resume an existing grid is refused, and nothing is refitted.
    r = run_grid(invoke, tiny_csv, out, *args)
    assert r.exit_code == 2 and "--resume" in r.stderr and len(fits) == 3


def test_resume_scores_new_thresholds_on_saved_models(invoke, tiny_csv, tmp_path, fits):
    out = tmp_path / "grid"
    args = ("--model", "gptopfreq", "--param", "prior_strength=1,2")
    assert run_grid(invoke, tiny_csv, out, *args, "--threshold", "0.5").exit_code == 0
    r = run_grid(invoke, tiny_csv, out, *args, "--threshold", "0.3,0.5", "--resume", "--json")
    assert r.exit_code == 0, r.output
    assert len(fits) == 2  # the second call refitted nothing
    assert len(json.loads(r.stdout)["rows"]) == 4
    run = next((out / "runs").iterdir())
    assert len(read_run_info(run).model_extra["grid"]["variants"]) == 2


def test_an_interrupted_run_is_fitted_again(invoke, tiny_csv, tmp_path, fits):
    out = tmp_path / "grid"
    args = ("--model", "tifuknn", "--param", "k=3,5")
    assert run_grid(invoke, tiny_csv, out, *args).exit_code == 0
    broken = sorted((out / "runs").iterdir())[0]
    info = json.loads((broken / "basket.json").read_text())
    (broken / "basket.json").write_text(json.dumps({**info, "complete": False}))
    assert run_grid(invoke, tiny_csv, out, *args, "--resume").exit_code == 0
    assert len(fits) == 3
    assert read_run_info(broken).complete


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--model", "gptopfreq", "--param", "pos_weight=1,5"), "pos_weight"),
        (("--model", "tifuknn", "--param", "k=5,-1"), "k='-1'"),
        (("--model", "tifuknn", "--param", "alpha=0.5,abc"), "alpha='abc'"),
        (("--model", "tifuknn", "--param", "k"), "--param 'k'"),
        (("--model", "tifuknn", "--param", "k=3,,5"), "empty value"),
        (("--model", "tifuknn", "--param", "k=3", "--param", "k=5"), "given twice"),
        (("--model", "tifuknn", "--param", "k=3", "--sort", "accuracy"), "--sort"),
        (("--model", "gptopfreq", "--param", "seed=1", "--threshold", "0.5,1.5"), "--threshold"),
        (("--model", "tifuknn", "--param", "k=3", "--sizing", "expected-f1"), "--sizing"),
        (("--model", "nosuchmodel", "--param", "k=3"), "nosuchmodel"),
    ],
)
def test_bad_grid_settings_fail_before_anything_runs(invoke, tiny_csv, tmp_path, fits, args,
                                                      fragment):
    out = tmp_path / "grid"
    r = run_grid(invoke, tiny_csv, out, *args)
    assert r.exit_code == 2, r.output
    assert fragment in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert not out.exists() and not fits


def test_thresholds_are_ignored_for_rankers_with_a_warning(invoke, tiny_csv, tmp_path):
    r = run_grid(invoke, tiny_csv, tmp_path / "g", "--model", "tifuknn", "--param", "k=3,5",
                 "--threshold", "0.3,0.5", "--json")
    assert r.exit_code == 0, r.output
    assert "--threshold ignored" in r.stderr and "gives no probabilities" in r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert len(rows) == 2 and all("threshold" not in row for row in rows)


def test_sizing_rules_are_post_hoc_columns(invoke, tiny_csv, tmp_path):
    r = run_grid(invoke, tiny_csv, tmp_path / "g", "--model", "tifuknn", "--param", "k=3",
                 "--sizing", "top-k:3,top-k:10", "--sort", "basket_f1", "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert sorted(row["sizing"] for row in payload["rows"]) == ["top-10", "top-3"]
    assert payload["test"]["sizing"] == payload["best"]["sizing"]


def test_parallel_runs_match_sequential_ones(invoke, tiny_csv, tmp_path):
    args = ("--model", "tifuknn", "--param", "k=3,5,8", "--json")
    one = run_grid(invoke, tiny_csv, tmp_path / "one", *args)
    two = invoke("grid", "--data", tiny_csv, "--out", tmp_path / "two", "--jobs", "2", *args)
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert json.loads(one.stdout) == json.loads(two.stdout)


def test_table_highlights_the_best_row_and_names_the_heat_map(invoke, tiny_csv, tmp_path):
    r = run_grid(invoke, tiny_csv, tmp_path / "g", "--model", "gptopfreq",
                 "--param", "prior_strength=0.5,4", "--threshold", "0.3,0.5")
    assert r.exit_code == 0, r.output
    header = next(line for line in r.stdout.splitlines() if "prior_strength" in line)
    for column in ("threshold", *TABLE_KEYS):
        assert column in header
    assert "best setting on the test targets" in r.stdout
    assert "heatmap.png" in r.stdout


def test_without_matplotlib_the_heat_map_is_a_rich_grid(invoke, tiny_csv, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m.startswith("matplotlib")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "g"
    r = run_grid(invoke, tiny_csv, out, "--model", "gptopfreq",
                 "--param", "prior_strength=0.5,4", "--threshold", "0.3,0.5")
    assert r.exit_code == 0, r.output
    assert "f1_micro (validation)" in r.stdout and "prior_strength \\ threshold" in r.stdout
    assert not (out / "heatmap.png").exists()


class Flaky(GPTopFreq):
    """GP-TopFreq whose fit fails for one prior_strength while ``failing`` says so."""

    name = "flaky"
    failing = {"prior_strength": None}

    def fit(self, train, valid, ctx):
        if self.config.prior_strength == Flaky.failing["prior_strength"]:
            from basketcli.errors import DataError

            raise DataError("simulated failure")
        return super().fit(train, valid, ctx)


def test_runs_finished_before_a_failure_are_kept(invoke, tiny_csv, tmp_path, fits):
    from basketcli import registry

    registry.register(Flaky)
    out = tmp_path / "grid"
    args = ("--model", "flaky", "--param", "prior_strength=1,2,3")
    Flaky.failing["prior_strength"] = 2.0
    r = run_grid(invoke, tiny_csv, out, *args)
    assert r.exit_code == 2 and "simulated failure" in r.stderr
    assert [p.name.split("-")[0] for p in (out / "runs").iterdir()] == ["prior_strength=1.0"]
    Flaky.failing["prior_strength"] = None
    r = run_grid(invoke, tiny_csv, out, *args, "--resume", "--json")
    assert r.exit_code == 0, r.output
    assert [f["prior_strength"] for f in fits] == [1.0, 2.0, 3.0]  # 1.0 fitted once only
    assert len(json.loads(r.stdout)["rows"]) == 3


def test_force_keeps_the_finished_grid_until_the_new_one_is_finished(invoke, tiny_csv,
                                                                      tmp_path, fits,
                                                                      monkeypatch):
    from test_kill import tree_digest

    from basketcli import registry

    registry.register(Flaky)
    out = tmp_path / "grid"
    r = run_grid(invoke, tiny_csv, out, "--model", "flaky", "--param", "prior_strength=1,2")
    assert r.exit_code == 0, r.output
    files = tree_digest(out)
    args = ("--model", "flaky", "--param", "prior_strength=1,2,3")
    monkeypatch.setitem(Flaky.failing, "prior_strength", 3.0)
    r = run_grid(invoke, tiny_csv, out, *args, "--force")
    assert r.exit_code == 2 and "simulated failure" in r.stderr
    assert tree_digest(out) == files  # the previous grid, its runs and results, byte for byte
    assert (tmp_path / ".grid.next" / "runs").is_dir()
    monkeypatch.setitem(Flaky.failing, "prior_strength", None)
    r = run_grid(invoke, tiny_csv, out, *args, "--force", "--resume", "--json")
    assert r.exit_code == 0, r.output
    assert [f["prior_strength"] for f in fits] == [1.0, 2.0, 1.0, 2.0, 3.0]
    assert len(json.loads(r.stdout)["rows"]) == 3
    assert len(json.loads((out / "grid.json").read_text())["rows"]) == 3
    assert len(list((out / "runs").iterdir())) == 3
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # --force replaces the whole folder: files of the user's in it are not thrown away.
    (out / "notes.txt").write_text("mine")
    r = run_grid(invoke, tiny_csv, out, *args, "--force")
    assert r.exit_code == 2 and "besides the grid (notes.txt)" in r.stderr
    assert (out / "notes.txt").read_text() == "mine"


def test_a_best_setting_on_the_edge_of_the_grid_says_so():
    from basketcli.workflows.grid import edge_notes

    rows = [{"k": k, "alpha": a, "ndcg@10": 0.3 + k / 100 - abs(a - 0.5), "run": "r"}
            for k in (10, 20, 40) for a in (0.2, 0.5, 0.8)]
    rows.sort(key=lambda r: -r["ndcg@10"])
    assert edge_notes(rows, ["k", "alpha"], "ndcg@10") == [
        "the best ndcg@10 is at the highest k of the grid (40); extend the grid above it"]
    assert edge_notes(rows[:2], ["k"], "ndcg@10") == []  # two values: no edge to speak of


def test_parallel_fits_relay_their_progress(tiny_csv, tmp_path):
    """Worker processes report their epochs and rounds; the parent shows them."""
    from basketcli.data.source import DataSpec
    from basketcli.workflows.grid import grid

    seen = []

    class Recording:
        def __init__(self, description, total):
            seen.append(description)

        def advance(self, steps=1, **info):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    result = grid("xgboost", {"max_depth": [2, 3]}, DataSpec(source=str(tiny_csv)),
                  tmp_path / "g", fixed={"n_estimators": 5}, jobs=2, progress=Recording)
    assert result.runs_fitted == 2
    assert sum("boosting rounds" in d for d in seen) == 2  # one per fit, from the workers


def test_without_matplotlib_grid_and_train_say_how_to_get_plots(invoke, tiny_csv, tmp_path,
                                                                 monkeypatch):
    import sys

    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.figure",
                 "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import now fails
    r = run_grid(invoke, tiny_csv, tmp_path / "g", "--model", "gptopfreq",
                 "--param", "prior_strength=0.5,4", "--threshold", "0.2,0.4")
    assert r.exit_code == 0, r.output
    assert "install basket[plot] for PNG plots" in r.stderr
    assert not (tmp_path / "g" / "heatmap.png").exists()
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, "--out", tmp_path / "run",
               "--set", "epochs=1", "--set", "embedding_dim=8", "--set", "order_hidden=16",
               "--set", "n_layers=1", "--set", "repeat_hidden=8")
    assert r.exit_code == 0, r.output
    assert "install basket[plot] for PNG plots" in r.stderr
    assert (tmp_path / "run" / "curves.csv").is_file()
