"""Users' own data (issue 31): text ids kept exactly, predictions for a whole data set into a
table, what may be recommended, data changes reported (or refused with strict), and the Python
API doing the same as the commands."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_tiny_data, one_line_error, write_long_csv

from basketcli import api
from basketcli.data.prepare import DataWarning, load_dataset
from basketcli.data.source import DataSpec
from basketcli.errors import BasketError, DataError
from basketcli.evaluation.metrics import ranking_metrics
from basketcli.evaluation.selection import Restriction

TABLE_COLUMNS = ["customer", "rank", "product", "name", "score", "bought_before", "reason"]


def text_csv(data, path):
    """``data`` as a long CSV whose ids are text: customers "C-0100", products zero-padded to
    one width ("0007"), so that they sort as the integers do."""
    rows = ["customer,n,sku"]
    for u in range(data.n_users):
        for n, basket in enumerate(data.product_ids_of(u), start=1):
            rows += [f"C-{data.user_ids[u]:04d},{n},{p:04d}" for p in basket]
    path.write_text("\n".join(rows) + "\n")
    return path


TEXT_COLUMNS = ["--user-col", "customer", "--item-col", "sku", "--order-col", "n"]


@pytest.fixture
def text_data(tmp_path):
    return text_csv(make_tiny_data(), tmp_path / "text.csv")


# --- text ids ----------------------------------------------------------------------------------
def test_text_ids_give_the_same_metrics_as_integers(invoke, tiny_csv, text_data):
    results = []
    for path, columns in ((tiny_csv, []), (text_data, TEXT_COLUMNS)):
        r = invoke("compare", "--models", "ptopfreq,tifuknn,upcf,xgboost", "--data", path,
                   *columns, "--json")
        assert r.exit_code == 0, r.output
        results.append(json.loads(r.stdout)["models"])
    for by_int, by_text in zip(*results, strict=True):
        assert by_int["metrics"] == by_text["metrics"], by_int["name"]


def test_a_text_run_predicts_from_text_ids_and_writes_them_back(invoke, tmp_path, text_data):
    run = tmp_path / "run"
    assert invoke("train", "--model", "ptopfreq", "--data", text_data, *TEXT_COLUMNS,
                  "--out", run).exit_code == 0
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps({"customers": {"C-0100": [["0001", "0002"], ["0001"]]}}))
    r = invoke("predict", "--run", run, "--orders", orders, "--json")
    assert r.exit_code == 0, r.output
    [customer] = json.loads(r.stdout)["customers"]
    assert customer["id"] == "C-0100"
    assert {p["product_id"] for p in customer["basket"]} >= {"0001", "0002"}
    assert all(isinstance(p["product_id"], str) for p in customer["basket"])
    # Mixing kinds: a number where the run knows text ids is one line, exit 2.
    orders.write_text(json.dumps({"customers": {"C-0100": [[1, 2]]}}))
    one_line_error(invoke("predict", "--run", run, "--orders", orders, "--json"),
                   "text product ids")


def test_data_of_the_other_kind_is_refused(invoke, tmp_path, tiny_csv, text_data):
    run = tmp_path / "run"
    assert invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", run).exit_code == 0
    out = tmp_path / "recs.csv"
    one_line_error(invoke("predict", "--run", run, "--data", text_data, *TEXT_COLUMNS,
                          "--output", out), "text ids where the data has integer ids")
    assert not out.exists()


# --- recommendations for a whole data set ------------------------------------------------------
@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_every_customer_gets_a_basket_in_the_table(invoke, tmp_path, tiny_csv, suffix):
    run = tmp_path / "run"
    assert invoke("train", "--model", "tifuknn", "--data", tiny_csv, "--out", run).exit_code == 0
    out = tmp_path / f"recs{suffix}"
    r = invoke("predict", "--run", run, "--data", tiny_csv, "--output", out, "--top-k", "5")
    assert r.exit_code == 0, r.output
    assert "wrote 30 customers (150 rows)" in r.stderr
    table = {".parquet": pd.read_parquet, ".csv": pd.read_csv,
             ".jsonl": lambda p: pd.read_json(p, lines=True)}[suffix](out)
    assert list(table.columns) == TABLE_COLUMNS
    assert sorted(table["customer"].unique().tolist()) == list(range(100, 130))
    assert table.groupby("customer")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()
    assert table["reason"].str.len().gt(0).all()


def test_a_new_customer_with_one_order_gets_a_basket(tmp_path, tiny_data):
    run = tmp_path / "run"
    api.train("ptopfreq", write_long_csv(tiny_data, tmp_path / "d.csv"), out=run)
    new = pd.DataFrame({"user_id": [7, 7], "order_number": [1, 1], "product_id": [1, 2]})
    recs = api.recommend(run, new)
    assert set(recs["customer"]) == {7} and {1, 2} <= set(recs["product"])


def test_listed_customers_only_and_the_unknown_ones_named(invoke, tmp_path, tiny_csv):
    run = tmp_path / "run"
    assert invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", run).exit_code == 0
    listed = tmp_path / "customers.txt"
    listed.write_text("# tonight\n101\n\n105\n999\n")
    out = tmp_path / "recs.csv"
    r = invoke("predict", "--run", run, "--data", tiny_csv, "--customers", listed,
               "--output", out)
    assert r.exit_code == 0, r.output
    assert "1 customers are not in the data (999)" in r.stderr
    assert set(pd.read_csv(out)["customer"]) == {101, 105}


@pytest.mark.parametrize(("args", "words"), [
    ([], "--output"),  # a whole data set needs a file
    (["--output", "recs.txt"], ".parquet"),  # a suffix basket does not write
    (["--output", "r.csv", "--new-only", "--repeat-only"], "one of them"),
])
def test_batch_bad_input_is_one_line_and_writes_nothing(invoke, tmp_path, tiny_csv, args, words):
    run = tmp_path / "run"
    assert invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", run).exit_code == 0
    args = [str(tmp_path / a) if a.startswith(("recs", "r.")) else a for a in args]
    one_line_error(invoke("predict", "--run", run, "--data", tiny_csv, *args), words)
    assert not list(tmp_path.glob("r*.*"))


# --- what may be recommended -------------------------------------------------------------------
def test_restrictions_hold_in_every_basket(invoke, tmp_path, tiny_csv):
    run = tmp_path / "run"
    assert invoke("train", "--model", "tifuknn", "--data", tiny_csv, "--out", run).exit_code == 0
    exclude = tmp_path / "delisted.txt"
    exclude.write_text("1\n2\n3\nno such product\n")
    tables = {}
    for flag in ("--new-only", "--repeat-only"):
        out = tmp_path / f"recs{flag}.parquet"
        r = invoke("predict", "--run", run, "--data", tiny_csv, "--exclude", exclude, flag,
                   "--output", out)
        assert r.exit_code == 0, r.output
        assert "1 products are unknown to the model and ignored ('no such product')" in r.stderr
        tables[flag] = pd.read_parquet(out)
        assert not tables[flag]["product"].isin([1, 2, 3]).any()
    assert not tables["--new-only"]["bought_before"].any()
    assert tables["--repeat-only"]["bought_before"].all()
    exclude.write_text("".join(f"{p}\n" for p in range(1, 41)))
    one_line_error(invoke("predict", "--run", run, "--data", tiny_csv, "--exclude", exclude,
                          "--output", tmp_path / "none.csv"), "every product")


def test_a_restricted_product_is_never_a_hit_and_recall_keeps_its_denominator():
    ranked = np.array([[0, 1, 2]])
    target = np.array([[True, True, False]])
    allowed = np.array([[False, True, True]])
    out = ranking_metrics(np.pad(ranked, ((0, 0), (0, 17)), mode="edge"), target,
                          np.zeros((1, 3), dtype=bool), allowed)
    assert out["recall@10"][0] == pytest.approx(0.5)  # product 0 is bought but not allowed
    restriction = Restriction(np.array([False, False, True]), "repeat")
    assert restriction.allowed(np.array([[True, True, True]])).tolist() == [[True, True, False]]


def test_compare_measures_what_a_restriction_costs():
    plain = api.compare(["ptopfreq"], "sample", reference=False, bootstrap=0)
    new_only = api.compare(["ptopfreq"], "sample", reference=False, bootstrap=0, only="new")
    assert new_only.data["restriction"] == "only products new to each customer"
    assert new_only.models[0].metrics["repeat_share@10"] == 0.0
    assert new_only.models[0].metrics["recall@10"] < plain.models[0].metrics["recall@10"]


# --- data changes are said, or refused --------------------------------------------------------
MESSY = ("user_id,order_id,order_number,product_id\n1,10,1,5\n1,10,1,5\n1,11,1,6\n1,12,2,5\n"
         "1,13,3,7\n1,14,4,5\n,15,5,5\n2,16,1,\n")


def test_every_change_is_counted_in_one_warning(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text(MESSY)
    with pytest.warns(DataWarning) as caught:
        dataset = load_dataset(DataSpec(source=str(path), min_orders=1), use_cache=False)
    [warning] = caught
    message = str(warning.message)
    assert "1 orders merged" in message and "1 products listed again" in message
    assert "2 lines without a customer or product id" in message and "\n" not in message
    assert dataset.data.n_orders == 4 and dataset.report.merged_orders == 1
    with pytest.raises(DataError, match="--strict"):
        load_dataset(DataSpec(source=str(path), min_orders=1, strict=True), use_cache=False)


def test_clean_data_gives_no_warning(tiny_csv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset(DataSpec(source=str(tiny_csv)), use_cache=False)


def test_a_comparison_of_few_customers_warns(tmp_path):
    data = make_tiny_data(n_users=12)
    with pytest.warns(UserWarning, match="fewer than 30"):
        api.compare(["ptopfreq"], write_long_csv(data, tmp_path / "few.csv"), bootstrap=50)


# --- the Python API ----------------------------------------------------------------------------
def test_the_api_takes_a_dataframe_with_text_ids(tmp_path):
    frame = pd.read_csv(text_csv(make_tiny_data(), tmp_path / "t.csv"), dtype={"sku": str})
    data = api.load_data(frame, user_col="customer", item_col="sku", order_col="n")
    assert data.data.item_ids[0] == "0001" and data.spec.source == "dataframe"
    result = api.compare(["ptopfreq"], data, bootstrap=100)
    table = result.to_pandas()
    assert list(table["model"]) == ["gtopfreq", "ptopfreq", "tifuknn"]
    assert {"recall@10", "recall@10 low", "recall@10 verdict"} <= set(table.columns)
    run = api.train("ptopfreq", data, out=tmp_path / "run")
    recs = api.recommend(run.run_dir, frame, user_col="customer", item_col="sku", order_col="n")
    assert list(recs.columns) == TABLE_COLUMNS and recs["product"].str.len().eq(4).all()
    with pytest.raises(BasketError, match="DataFrame"):
        api.evaluate(run.run_dir)  # the DataFrame is not kept: give the data again
    assert api.evaluate(run.run_dir, data).models[0].metrics == result.models[1].metrics


def test_the_api_example_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "api.py"
    done = subprocess.run([sys.executable, str(example), str(tmp_path)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    recs = pd.read_parquet(tmp_path / "next_baskets.parquet")
    assert recs["customer"].nunique() == 592 and recs["customer"].str.startswith("U").all()
