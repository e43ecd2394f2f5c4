"""The synthetic Instacart-shaped generator (`basket data synth`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from basketcli.data import synth
from basketcli.data.info import data_stats
from basketcli.data.prepare import load_dataset
from basketcli.data.source import DataSpec
from basketcli.errors import DataError

INSTACART_FILES = {
    "orders.csv": "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,"
                  "days_since_prior_order",
    "order_products__prior.csv": "order_id,product_id,add_to_cart_order,reordered",
    "order_products__train.csv": "order_id,product_id,add_to_cart_order,reordered",
    "products.csv": "product_id,product_name,aisle_id,department_id",
    "aisles.csv": "aisle_id,aisle",
    "departments.csv": "department_id,department",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    synth.synthesize(out, users=1500, products=2000, seed=7)
    return out


@pytest.fixture(scope="module")
def stats(folder):
    return data_stats(load_dataset(DataSpec(source=str(folder)), use_cache=False).data)


def test_writes_the_instacart_layout(folder):
    for name, header in INSTACART_FILES.items():
        assert (folder / name).read_text().splitlines()[0] == header, name
    rows = (folder / "orders.csv").read_text().splitlines()[1:]
    eval_sets = {line.split(",")[2] for line in rows}
    assert eval_sets == {"prior", "train"}
    summary = json.loads((folder / "synth.json").read_text())
    assert summary["users"] == 1500 and summary["products"] == 2000 and summary["seed"] == 7


def test_statistics_resemble_instacart(stats):
    assert stats["users"] == 1500
    assert stats["orders_per_user"]["min"] >= 4 and stats["orders_per_user"]["max"] <= 100
    assert 13 <= stats["orders_per_user"]["mean"] <= 20
    assert 8.5 <= stats["basket_size"]["mean"] <= 11.5
    assert stats["days_between_orders"]["min"] >= 0 and stats["days_between_orders"]["max"] <= 30
    assert 0.52 <= stats["repeat_ratio"] <= 0.68
    # Zipf-like: the top 1 % of products take far more than 1 % of the lines.
    assert stats["top_1pct_products_share_of_lines"] > 0.1


def test_the_last_order_of_each_customer_is_the_train_order(folder):
    import pandas as pd

    orders = pd.read_csv(folder / "orders.csv")
    last = orders.groupby("user_id")["order_number"].transform("max") == orders["order_number"]
    assert (orders["eval_set"][last] == "train").all()
    assert (orders["eval_set"][~last] == "prior").all()
    assert orders["days_since_prior_order"][orders["order_number"] == 1].isna().all()
    train = pd.read_csv(folder / "order_products__train.csv")
    assert set(train["order_id"]) <= set(orders["order_id"][last])


def test_same_seed_same_files_other_seed_other_files(tmp_path, folder):
    again = tmp_path / "again"
    synth.synthesize(again, users=1500, products=2000, seed=7)
    other = tmp_path / "other"
    synth.synthesize(other, users=1500, products=2000, seed=8)
    for name in INSTACART_FILES:
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name
    assert (other / "orders.csv").read_bytes() != (folder / "orders.csv").read_bytes()


def test_blocks_do_not_change_the_statistics(tmp_path, monkeypatch):
    """Customers beyond the first block are drawn like the others (block seeds differ)."""
    monkeypatch.setattr(synth, "USERS_PER_BLOCK", 100)
    out = tmp_path / "blocks"
    summary = synth.synthesize(out, users=250, products=300, seed=1)
    data = load_dataset(DataSpec(source=str(out)), use_cache=False).data
    assert data.n_users == 250 and data.n_lines == summary.order_lines
    assert summary.orders == data.n_orders


def test_refuses_a_non_empty_folder_and_force_replaces(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="--force"):
        synth.synthesize(out, users=20, products=50)
    assert (out / "keep.txt").exists()
    synth.synthesize(out, users=20, products=50, force=True)
    assert not (out / "keep.txt").exists() and (out / "orders.csv").exists()


def test_nothing_half_written_when_it_fails(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        (args[0] / "orders.csv").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(synth, "_write_folder", broken)
    with pytest.raises(OSError):
        synth.synthesize(tmp_path / "data", users=20, products=50)
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary twin


def test_ensure_synthetic_reuses_a_matching_folder(tmp_path):
    out = tmp_path / "data"
    first = synth.ensure_synthetic(out, 30, 40, seed=2)
    stamp = (out / "orders.csv").stat().st_mtime_ns
    assert synth.ensure_synthetic(out, 30, 40, seed=2) == first
    assert (out / "orders.csv").stat().st_mtime_ns == stamp
    synth.ensure_synthetic(out, 31, 40, seed=2)
    assert json.loads((out / "synth.json").read_text())["users"] == 31


def test_cli_synth_then_info(invoke, tmp_path):
    out = tmp_path / "cli"
    result = invoke("data", "synth", "--users", "40", "--products", "60", "--seed", "3",
                    "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["users"] == 40
    info = invoke("data", "info", "--data", out, "--json")
    assert info.exit_code == 0, info.output
    stats = json.loads(info.stdout)
    assert stats["users"] == 40 and "repeat_ratio" in stats and "days_between_orders" in stats
    again = invoke("data", "synth", "--users", "40", "--out", out)
    assert again.exit_code == 2 and "--force" in again.output and "Traceback" not in again.output


def test_popularity_is_zipf_like():
    p = synth.popularity(1000)
    assert np.isclose(p.sum(), 1.0) and (np.diff(p) < 0).all()
    assert p[:10].sum() > 10 * p[-10:].sum()
