"""Bootstrap intervals and paired comparisons (evaluation.bootstrap and comparison, assembled by
workflows.evaluate), through `basket compare`/`evaluate` too: coverage, verdicts, width against
the number of customers, seeds, per-customer files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import one_line_error

from basketcli.evaluation import bootstrap
from basketcli.workflows.evaluate import ModelResult, _Scored, add_uncertainty


def resampled_means(values: np.ndarray, resamples: int, seed: int = 0) -> np.ndarray:
    return bootstrap.means(*bootstrap.resampled_sums(values, resamples, seed))


def test_the_95_percent_interval_covers_the_true_mean_about_95_percent_of_the_time():
    true_mean = 2 / 7  # Beta(2, 5): skewed, in [0, 1] like a recall
    covered = 0
    for trial in range(400):
        values = np.random.default_rng(trial).beta(2, 5, size=300)
        means = resampled_means(values[:, None], 1000, seed=trial)
        low, high = bootstrap.interval(means)[0]
        covered += low <= true_mean <= high
    assert 0.93 <= covered / 400 <= 0.97


def test_the_interval_narrows_as_one_over_the_root_of_the_customers():
    rng = np.random.default_rng(1)
    widths = {}
    for n in (400, 1600, 6400):
        means = resampled_means(rng.beta(2, 5, n)[:, None], 2000)
        low, high = bootstrap.interval(means)[0]
        widths[n] = high - low
    assert 1.7 < widths[400] / widths[1600] < 2.3
    assert 1.7 < widths[1600] / widths[6400] < 2.3


def test_resamples_are_seeded_and_leave_undefined_customers_out():
    values = np.array([[0.0, np.nan], [1.0, 1.0], [0.5, np.nan], [0.25, 0.0]])
    first = resampled_means(values, 50, seed=3)
    assert np.array_equal(first, resampled_means(values, 50, seed=3), equal_nan=True)
    assert not np.array_equal(first, resampled_means(values, 50, seed=4), equal_nan=True)
    # Each resample is a draw of 4 customers with replacement; a mean leaves out the customers
    # for whom the metric is undefined (NaN), as the point estimate does.
    picks = np.random.default_rng(3).integers(0, 4, size=(50, 4))
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmean(values[picks], axis=1)
    assert np.allclose(first, expected, equal_nan=True)


def test_holm_adjustment_by_hand():
    # sorted 0.01, 0.02, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.02), max(0.04, 1 x 0.04)
    assert bootstrap.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert bootstrap.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_holm_levels_by_hand():
    # sorted 0.001 (< 0.05/3: rejected), 0.03 (>= 0.05/2: kept, Holm stops), 0.04 (at 0.025 too)
    assert bootstrap.holm_levels([0.04, 0.001, 0.03]) == pytest.approx([0.025, 0.05 / 3, 0.025])
    # no stop: each at its own step, 0.05/3, 0.05/2, 0.05/1
    assert bootstrap.holm_levels([0.04, 0.001, 0.02]) == pytest.approx([0.05, 0.05 / 3, 0.025])
    assert bootstrap.holm_levels([0.001, 0.002]) == pytest.approx([0.025, 0.05])
    assert bootstrap.holm_levels([0.2]) == pytest.approx([0.05])


def scored(name: str, values: np.ndarray, reference: bool = False) -> _Scored:
    """A row whose per-customer recall@10 and ndcg@10 are ``values`` (basket counts zero)."""
    n = len(values)
    per_user = {"recall@10": values, "ndcg@10": values, "_tp": np.zeros(n), "_fp": np.ones(n),
                "_fn": np.ones(n)}
    row = ModelResult(name=name, source=name, reference=reference,
                      metrics={"recall@10": float(values.mean()), "ndcg@10": float(values.mean()),
                               "f1_micro": 0.0},
                      sizing="top-10", score_seconds=0.0)
    return _Scored(row, per_user)


def test_verdicts_identical_better_and_worse_models():
    base = np.random.default_rng(0).random(500)
    rows = [scored("ref", base, reference=True), scored("same", base.copy()),
            scored("up", base + 0.01), scored("down", base - 0.01)]
    add_uncertainty(rows, 1000, seed=0, against=None)
    verdicts = {s.row.name: s.row.versus["recall@10"].verdict for s in rows[1:]}
    assert verdicts == {"same": "no significant difference", "up": "better", "down": "worse"}
    assert rows[0].row.versus == {}  # the reference itself
    up = rows[2].row.versus["ndcg@10"]
    assert up.reference == "ref" and up.difference == pytest.approx(0.01)
    assert up.low == pytest.approx(0.01) and up.high == pytest.approx(0.01)


def test_an_interval_clears_zero_exactly_when_the_verdict_is_significant():
    # Twelve models with small true gaps, several near the edge of significance: the plain
    # 95% intervals of some would clear zero while Holm keeps them; the widened ones never do.
    rng = np.random.default_rng(5)
    base = rng.random(400)
    gaps = np.linspace(-0.03, 0.03, 12)
    rows = [scored("ref", base, reference=True)]
    rows += [scored(f"m{i}", np.clip(base + gap + rng.normal(0, 0.1, 400), 0, 1))
             for i, gap in enumerate(gaps)]
    add_uncertainty(rows, 2000, seed=0, against=None)
    versus = [r.row.versus["recall@10"] for r in rows[1:]]
    assert {v.verdict for v in versus} == {"better", "worse", "no significant difference"}
    for v in versus:
        clears = v.low > 0 or v.high < 0
        assert clears == (v.verdict != "no significant difference"), v
        assert v.confidence >= 0.95


def test_the_reference_is_the_best_reference_per_metric_or_the_one_named():
    rng = np.random.default_rng(2)
    weak, strong, model = rng.random(300) * 0.5, rng.random(300), rng.random(300)
    rows = [scored("weak", weak, True), scored("strong", strong, True), scored("model", model)]
    add_uncertainty(rows, 200, seed=0, against=None)
    assert rows[2].row.versus["recall@10"].reference == "strong"
    rows = [scored("weak", weak, True), scored("strong", strong, True), scored("model", model)]
    add_uncertainty(rows, 200, seed=0, against="weak")
    assert rows[2].row.versus["recall@10"].reference == "weak"
    assert rows[2].row.versus["recall@10"].verdict == "better"


def test_a_named_reference_is_that_row_not_the_best_run_of_the_same_model():
    # `--reference cnngru` beside saved cnngru runs: the row fitted as "cnngru", even when a
    # run of the same model scores higher.
    rng = np.random.default_rng(4)
    plain, tuned = rng.random(300) * 0.5, rng.random(300)
    rows = [scored("cnngru", plain), scored("cnngru", tuned)]
    rows[1].row.source = "runs/cnngru-tuned"
    add_uncertainty(rows, 200, seed=0, against="cnngru")
    assert rows[0].row.versus == {}
    assert rows[1].row.versus["recall@10"].verdict == "better"


# --- through the commands --------------------------------------------------------------------
def test_compare_json_has_intervals_verdicts_and_the_targets_repeat_share(invoke, tiny_csv):
    r = invoke("compare", "--models", "tifuknn", "--data", tiny_csv, "--json", "--bootstrap",
               "200")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["bootstrap"]["resamples"] == 200
    assert 0.0 <= result["data"]["target_repeat_share"] <= 1.0
    rows = {m["name"]: m for m in result["models"]}
    for row in rows.values():
        for key, value in row["metrics"].items():
            if key == "f1_macro":
                continue  # per product, not per customer: no interval
            low, high = row["intervals"][key]
            assert low - 1e-9 <= value <= high + 1e-9, key
        assert 0.0 <= row["metrics"]["repeat_share@10"] <= 1.0
    assert rows["gtopfreq"]["reference"] and rows["tifuknn"]["reference"]
    assert set(rows["gtopfreq"]["versus"]) == {"recall@10", "ndcg@10"}
    again = json.loads(invoke("compare", "--models", "tifuknn", "--data", tiny_csv, "--json",
                              "--bootstrap", "200").stdout)
    for row, repeated in zip(result["models"], again["models"], strict=True):
        assert row["intervals"] == repeated["intervals"]  # seeded: the same intervals
        assert row["versus"] == repeated["versus"]


def test_bootstrap_zero_turns_intervals_off(invoke, tiny_csv):
    r = invoke("evaluate", "--model", "ptopfreq", "--data", tiny_csv, "--json", "--bootstrap",
               "0")
    result = json.loads(r.stdout)
    assert result["bootstrap"] == {} and result["models"][0]["intervals"] == {}


def test_seeds_average_learned_models_and_report_their_spread(invoke, tiny_csv):
    r = invoke("compare", "--models", "xgboost", "--data", tiny_csv, "--json", "--seeds", "3",
               "--bootstrap", "100")
    assert r.exit_code == 0, r.output
    rows = {m["name"]: m for m in json.loads(r.stdout)["models"]}
    assert rows["xgboost"]["seeds"] == 3 and "recall@10" in rows["xgboost"]["seed_spread"]
    assert rows["ptopfreq"]["seeds"] == 1 and rows["ptopfreq"]["seed_spread"] == {}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_per_customer_file_has_a_row_per_customer_and_model(invoke, tiny_csv, tmp_path, suffix):
    out = tmp_path / f"customers{suffix}"
    r = invoke("compare", "--models", "tifuknn", "--data", tiny_csv, "--json",
               "--per-customer", out)
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    n_users = result["data"]["users"]
    assert len(table) == n_users * 3 and set(table["model"]) == {"gtopfreq", "ptopfreq",
                                                                "tifuknn"}
    means = table.groupby("model")["recall@10"].mean()
    for row in result["models"]:
        assert means[row["name"]] == pytest.approx(row["metrics"]["recall@10"])
    assert not any(c.startswith("_") for c in table.columns)


def test_bad_per_customer_path_is_one_line_before_fitting(invoke, tiny_csv, tmp_path):
    r = invoke("compare", "--models", "tifuknn", "--data", tiny_csv, "--per-customer",
               tmp_path / "out.xlsx")
    one_line_error(r, "--per-customer", ".csv or .parquet")
    assert not (tmp_path / "out.xlsx").exists()
    r = invoke("compare", "--models", "tifuknn", "--data", tiny_csv, "--reference", "xgboost")
    one_line_error(r, "--reference xgboost", "not among the compared models")
