"""`basket predict`: input formats, product names, basket rules, streaming and bad input."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from basketcli import registry
from basketcli.data.basket_data import BasketData, _offsets, from_baskets
from basketcli.data.catalog import read_catalog
from basketcli.errors import BasketError
from basketcli.sizing import SizingRule
from basketcli.workflows.predict.inputs import (
    CustomerOrders,
    check_history,
    check_order,
    read_customers,
)
from basketcli.workflows.predict.predictor import load_predictor
from basketcli_models.topfreq import PTopFreq

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# The example files name real Instacart products; the runs below name products from the
# invented test catalog (conftest.INVENTED_NAMES), so the examples are translated for them.
REAL_TO_INVENTED = {
    "organic strawberries": "Garden Strawberries", "organic baby spinach": "Baby Leaf Spinach",
    "organic hass avocado": "Ripe Avocado", "large lemon": "Big Lemon",
    "chicken breast": "Chicken Fillet", "organic whole milk": "Farm Whole Milk",
    "banana": "Yellow Banana", "limes": "Lime Wedges", "bag of organic bananas": "Banana Bunch",
    "organic raspberries": "Red Raspberries", "organic yellow onion": "Sweet Onion",
    "organic garlic": "Garlic Bulb", "organic zucchini": "Green Zucchini",
    "cucumber kirby": "Crisp Cucumber", "honeycrisp apple": "Crunchy Apple",
    "sparkling water grapefruit": "Grapefruit Seltzer",
    "organic half & half": "Half and Half Cream",
}


def invented(orders: list) -> list:
    return [[REAL_TO_INVENTED[" ".join(p.lower().split())] if isinstance(p, str) else p
             for p in order] for order in orders]


REPORT_ORDERS = invented(json.loads((EXAMPLES / "orders.json").read_text()))
CUSTOMER_LINES = "".join(
    json.dumps({**customer, "orders": invented(customer["orders"])}) + "\n"
    for customer in map(json.loads, (EXAMPLES / "customers.jsonl").read_text().splitlines()))


def train_sample_runs(root: Path, catalog: Path, models: tuple[str, ...]) -> Path:
    from basketcli.cli import app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BASKET_LOAD_PLUGINS", "")
        mp.setenv("BASKET_CACHE_DIR", str(root / "cache"))
        mp.delenv("BASKET_CATALOG", raising=False)
        registry.refresh()
        for model in models:
            r = CliRunner().invoke(app, ["train", "--model", model, "--data", "sample",
                                         "--catalog", str(catalog), "--out",
                                         str(root / model), "--json"])
            assert r.exit_code == 0, r.output
    return root


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory, invented_catalog):
    """ptopfreq and gptopfreq trained on the bundled sample, named by the invented catalog."""
    return train_sample_runs(tmp_path_factory.mktemp("runs"), invented_catalog,
                             ("ptopfreq", "gptopfreq"))


@pytest.fixture
def orders_file(tmp_path) -> Path:
    """examples/orders.json with the invented catalog's names."""
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(REPORT_ORDERS))
    return path


@pytest.fixture
def customers_file(tmp_path) -> Path:
    """examples/customers.jsonl with the invented catalog's names."""
    path = tmp_path / "customers.jsonl"
    path.write_text(CUSTOMER_LINES)
    return path


@pytest.fixture
def tiny_run(invoke, tiny_csv, tmp_path):
    """A run without product names (tiny data, ids 1..40)."""
    run = tmp_path / "tiny_run"
    r = invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", run)
    assert r.exit_code == 0, r.output
    return run


def predict(invoke, run, orders, *args, input=None):
    return invoke("predict", "--run", run, "--orders", orders, *args, input=input)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- examples and formats ----------------------------------------------------------------------
def test_example_names_exist_in_the_instacart_catalog(catalog_path):
    catalog = read_catalog(catalog_path)
    names = [p for order in json.loads((EXAMPLES / "orders.json").read_text()) for p in order]
    for line in (EXAMPLES / "customers.jsonl").read_text().splitlines():
        names += [p for order in json.loads(line)["orders"] for p in order if isinstance(p, str)]
    assert "Large Lemon" in names
    assert [n for n in names if catalog.id_of(n) is None] == []


def test_report_example_table_with_the_instacart_catalog(invoke, tmp_path_factory,
                                                        catalog_path):
    runs = train_sample_runs(tmp_path_factory.mktemp("instacart_runs"), catalog_path,
                             ("ptopfreq",))
    r = predict(invoke, runs / "ptopfreq", EXAMPLES / "orders.json")
    assert r.exit_code == 0, r.output
    for text in ("rank", "Organic Strawberries", "why", "of your last 5 orders", "new to you",
                 "top-10"):
        assert text in r.stdout


def test_report_example_table(invoke, sample_runs, orders_file):
    r = predict(invoke, sample_runs / "ptopfreq", orders_file)
    assert r.exit_code == 0, r.output
    for text in ("rank", "Garden Strawberries", "why", "of your last 5 orders", "new to you",
                 "top-10"):
        assert text in r.stdout


def test_json_output_shape(invoke, sample_runs, orders_file):
    r = predict(invoke, sample_runs / "gptopfreq", orders_file, "--json",
                "--top-k", "5")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert set(payload) == {"customers"}
    [customer] = payload["customers"]
    assert set(customer) == {"id", "basket", "size_rule"}
    assert customer["size_rule"] == "top-5" and len(customer["basket"]) == 5
    assert all(set(item) == {"product_id", "name", "score", "bought_before", "reason"}
               for item in customer["basket"])
    scores = [item["score"] for item in customer["basket"]]
    assert scores == sorted(scores, reverse=True)
    assert customer["basket"][0]["name"] == "Garden Strawberries"  # in 4 of 5 orders


def test_customers_object_and_json_lines_from_stdin(invoke, sample_runs):
    run = sample_runs / "ptopfreq"
    document = json.dumps({"customers": {"a": REPORT_ORDERS,
                                         "b": [["Yellow Banana"], ["Lime Wedges"]]}})
    r = predict(invoke, run, "-", "--json", input=document)
    assert r.exit_code == 0, r.output
    assert [c["id"] for c in json.loads(r.stdout)["customers"]] == ["a", "b"]
    r = predict(invoke, run, "-", "--json", "--top-k", "3", input=CUSTOMER_LINES)
    assert r.exit_code == 0, r.output
    customers = json.loads(r.stdout)["customers"]
    assert [c["id"] for c in customers] == ["alice", "bob", "carol", 42]
    assert customers[0]["basket"][0]["name"] == "Yellow Banana"


def test_names_are_case_and_space_insensitive_and_ids_are_accepted(invoke, sample_runs):
    run = sample_runs / "ptopfreq"
    orders = [["  garden   STRAWBERRIES ", 47626], ["Garden Strawberries", "47626", 47626.0]]
    r = predict(invoke, run, "-", "--json", "--top-k", "2", input=json.dumps(orders))
    assert r.exit_code == 0, r.output
    basket = json.loads(r.stdout)["customers"][0]["basket"]
    assert [(i["product_id"], i["name"]) for i in basket] == [
        (21137, "Garden Strawberries"), (47626, "Big Lemon")]


def test_catalog_option_names_a_run_without_names(invoke, tiny_run, tmp_path):
    catalog = write(tmp_path, "products.csv",
                    "product_id,product_name\n" + "".join(f"{i},Thing {i}\n" for i in range(1, 41)))
    orders = json.dumps([["thing 3", 4], ["Thing 3"]])
    r = predict(invoke, tiny_run, "-", "--json", "--catalog", catalog, input=orders)
    assert r.exit_code == 0, r.output
    top = json.loads(r.stdout)["customers"][0]["basket"][0]
    assert top == {"product_id": 3, "name": "Thing 3", "score": top["score"],
                   "bought_before": True, "reason": "in 2 of your last 2 orders; usually in "
                   "every order; last in your latest order"}
    r = predict(invoke, tiny_run, "-", "--json", input=json.dumps([[3, 4]]))
    assert r.exit_code == 0 and json.loads(r.stdout)["customers"][0]["basket"][0]["name"] is None
    r = predict(invoke, tiny_run, "-", input=json.dumps([["Thing 3"]]))
    assert r.exit_code == 2 and "--catalog" in r.stderr


def test_skip_unknown_drops_with_a_warning(invoke, sample_runs):
    orders = json.dumps([["Big Lemonz", "Yellow Banana"], ["All-Seasons Salt"]])
    r = predict(invoke, sample_runs / "ptopfreq", "-", "--json", "--skip-unknown", input=orders)
    assert r.exit_code == 0, r.output
    assert "Big Lemonz" in r.stderr and "All-Seasons Salt" in r.stderr
    basket = json.loads(r.stdout)["customers"][0]["basket"]
    assert basket[0]["name"] == "Yellow Banana"


# --- basket rules ------------------------------------------------------------------------------
def test_threshold_basket_for_a_probabilistic_model(invoke, sample_runs, orders_file):
    r = predict(invoke, sample_runs / "gptopfreq", orders_file, "--json",
                "--threshold", "0.3")
    assert r.exit_code == 0, r.output
    customer = json.loads(r.stdout)["customers"][0]
    assert customer["size_rule"] == "threshold 0.3"
    assert customer["basket"] and all(item["score"] >= 0.3 for item in customer["basket"])
    r = predict(invoke, sample_runs / "gptopfreq", orders_file, "--json",
                "--sizing", "top-k:4")
    assert len(json.loads(r.stdout)["customers"][0]["basket"]) == 4


@pytest.mark.parametrize(
    ("model", "args", "fragment"),
    [
        ("ptopfreq", ("--threshold", "0.3"), "gives no probabilities"),
        ("gptopfreq", ("--top-k", "3", "--threshold", "0.3"), "only one"),
        ("gptopfreq", ("--sizing", "bogus"), "--sizing"),
    ],
)
def test_bad_basket_rules(invoke, sample_runs, orders_file, model, args, fragment):
    r = predict(invoke, sample_runs / model, orders_file, *args)
    assert r.exit_code == 2 and fragment in r.stderr


class LastTwo(PTopFreq):
    """P-TopFreq that reads only the last two orders (records what it was given)."""

    name = "lasttwo"
    reads_last_orders = 2
    seen_orders: list[int] = []

    def score(self, histories):
        LastTwo.seen_orders.extend(histories.orders_per_user().tolist())
        return super().score(histories)


def test_long_histories_use_the_last_orders_and_say_so(invoke, tiny_csv, tmp_path):
    registry.register(LastTwo)
    run = tmp_path / "lasttwo"
    assert invoke("train", "--model", "lasttwo", "--data", tiny_csv, "--out", run).exit_code == 0
    LastTwo.seen_orders.clear()
    orders = json.dumps([[1, 2], [3], [4, 5], [6]])
    r = predict(invoke, run, "-", input=orders)
    assert r.exit_code == 0, r.output
    assert "used 2 of 4" in r.stdout and LastTwo.seen_orders == [2]
    r = predict(invoke, run, "-", "--json", input=orders)
    assert "used 2 of 4" in r.stderr and json.loads(r.stdout)["customers"]
    products = {i["product_id"]: i for i in json.loads(r.stdout)["customers"][0]["basket"]}
    assert products[4]["score"] > products[1]["score"]  # order 1 was not read


# --- output file and streaming -----------------------------------------------------------------
def test_output_file_matches_stdout(invoke, sample_runs, customers_file, tmp_path):
    run, lines = sample_runs / "ptopfreq", customers_file
    out = tmp_path / "out" / "pred.json"
    r = predict(invoke, run, lines, "--output", out)
    assert r.exit_code == 0, r.output
    assert "wrote 4 customers" in r.stderr and r.stdout == ""
    direct = predict(invoke, run, lines, "--json")
    assert json.loads(out.read_text()) == json.loads(direct.stdout)
    assert [p.name for p in out.parent.iterdir()] == ["pred.json"]


def test_an_error_midway_leaves_no_output_file(invoke, sample_runs, tmp_path):
    orders = write(tmp_path, "orders.jsonl",
                   CUSTOMER_LINES + '{"id": "z", "orders": [["Yellow Banana"]\n')
    out = tmp_path / "out" / "pred.json"
    r = predict(invoke, sample_runs / "ptopfreq", orders, "--output", out)
    assert r.exit_code == 2 and "line 5" in r.stderr
    assert not out.exists() and not any(out.parent.iterdir())


def test_json_lines_are_streamed():
    """The first customer is ready before a later malformed line is read."""
    stream = io.StringIO('{"id": 1, "orders": [["a"]]}\n{"id": 2, "orders": [["b"]]}\n{oops\n')
    customers = read_customers(stream, "orders.jsonl")
    assert next(customers).id == 1
    assert stream.tell() < len(stream.getvalue())  # the malformed line is still unread
    assert next(customers).id == 2
    with pytest.raises(BasketError, match="line 3, column 2"):
        next(customers)


def test_predictions_start_before_the_input_ends(sample_runs):
    predictor = load_predictor(sample_runs / "ptopfreq")

    def customers():
        yield CustomerOrders("first", [["Yellow Banana"]], "test")
        raise AssertionError("read past the first customer before answering it")

    assert next(predictor.predict(customers())).id == "first"


# --- bad input ---------------------------------------------------------------------------------
def _patched_run(src, dst, **changes):
    shutil.copytree(src, dst)
    info = json.loads((dst / "basket.json").read_text())
    (dst / "basket.json").write_text(json.dumps({**info, **changes}))
    return dst


BAD_ORDERS = [
    ("malformed.json", '[["Yellow Banana"],\n ["Big Lemon"', "line 2, column"),
    ("malformed.jsonl", '{"id": 1, "orders": [["Yellow Banana"]]}\n{"id": 2, "orders": [[}\n',
     "line 2, column 23"),
    ("not_list.json", '[["Yellow Banana"], "Big Lemon"]', "order 2"),
    ("orders_not_list.json", '{"customers": {"a": "Yellow Banana"}}', "orders must be a list"),
    ("empty_history.json", "[]", "empty order history"),
    ("empty_customer.jsonl", '{"id": "a", "orders": []}\n', "empty order history"),
    ("empty_file.json", "", "empty input"),
    ("bad_product.json", '[["Yellow Banana", 1.5]]', "1.5"),
    ("bool_product.json", '[["Yellow Banana", true]]', "True is not a product name or id"),
    ("blank_name.json", '[["Yellow Banana", "  "]]', "is not a product name or id"),
    ("unknown.json", '[["Yellow Banana"], ["Big Lemonz"]]', "'Big Lemon'"),
    # "Zesty Pasta 2" is id 2 in the invented catalog, a product the sample never sells
    ("outside_vocabulary_name.json", '[["Zesty Pasta 2"]]', "outside the model's vocabulary"),
    ("outside_vocabulary_id.json", "[[2]]", "outside the model's vocabulary"),
    ("unknown_id.json", "[[99999999]]", "id 99999999"),
    ("scalar.json", "42", "expected a list of orders"),
]


@pytest.mark.parametrize(("name", "text", "fragment"), BAD_ORDERS)
def test_bad_orders(invoke, sample_runs, tmp_path, name, text, fragment):
    orders = write(tmp_path, name, text)
    out = tmp_path / "pred.json"
    r = predict(invoke, sample_runs / "ptopfreq", orders, "--json", "--output", out)
    assert r.exit_code == 2, r.output
    message = r.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in r.output
    assert fragment in message and name in message
    assert not out.exists()


def test_unknown_name_lists_the_closest(invoke, sample_runs):
    r = predict(invoke, sample_runs / "ptopfreq", "-", input='[["Big Lemonz"]]')
    assert r.exit_code == 2
    assert "unknown product 'Big Lemonz'; closest: 'Big Lemon'" in r.stderr
    assert "stdin" in r.stderr and "--skip-unknown" in r.stderr


@pytest.mark.parametrize(
    ("make_run", "fragment"),
    [
        (lambda src, tmp: tmp / "missing", "run directory not found"),
        (lambda src, tmp: _patched_run(src, tmp / "newer", schema_version=99), "newer"),
        (lambda src, tmp: _patched_run(src, tmp / "incomplete", complete=False), "incomplete"),
        (lambda src, tmp: (shutil.copytree(src, tmp / "no_state"),
                           (tmp / "no_state" / "model.npz").unlink())[0], "model.npz"),
        (lambda src, tmp: _patched_run(src, tmp / "unsorted", vocabulary=[3, 2, 1]), "vocabulary"),
    ],
)
def test_bad_run_directories(invoke, sample_runs, tmp_path, make_run, fragment):
    run = Path(make_run(sample_runs / "ptopfreq", tmp_path))
    out = tmp_path / "pred.json"
    r = predict(invoke, run, EXAMPLES / "orders.json", "--output", out)
    assert r.exit_code == 2, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert fragment in r.stderr and run.name in r.stderr
    assert not out.exists()


def test_missing_orders_file_fails_before_loading(invoke, sample_runs, tmp_path):
    r = predict(invoke, sample_runs / "ptopfreq", tmp_path / "nope.json")
    assert r.exit_code == 2 and "nope.json: file not found" in r.stderr
    assert "loaded" not in r.stderr


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_random_text_is_parsed_or_refused_in_one_line(text):
    try:
        for customer in read_customers(io.StringIO(text), "random.json"):
            for n, order in enumerate(check_history(customer), start=1):
                check_order(customer.where, n, order)
    except BasketError as exc:
        assert "\n" not in exc.message and exc.message.startswith("random.json")


# --- the batch path ----------------------------------------------------------------------------
def _from_baskets_per_basket(user_baskets, item_ids=None):
    """from_baskets as it was written first, basket by basket: the reference."""
    user_ids = np.array(list(user_baskets.keys()), dtype=np.int64)
    deduped = [[list(dict.fromkeys(b)) for b in h] for h in user_baskets.values()]
    flat = np.array([p for h in deduped for b in h for p in b], dtype=np.int64)
    item_ids = np.unique(flat) if item_ids is None else np.asarray(item_ids, dtype=np.int64)
    return BasketData(
        user_ids=user_ids,
        user_offsets=_offsets(np.array([len(h) for h in deduped], dtype=np.int64)),
        order_offsets=_offsets(np.array([len(b) for h in deduped for b in h], dtype=np.int64)),
        items=np.searchsorted(item_ids, flat).astype(np.int32),
        item_ids=item_ids,
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.lists(st.integers(1, 9), max_size=7), max_size=5), max_size=6),
       st.booleans())
def test_from_baskets_matches_the_per_basket_definition(histories, full_vocabulary):
    """Repeated products in a basket (kept once, first place first), empty baskets, customers
    without orders, no products at all."""
    user_baskets = {100 + i: h for i, h in enumerate(histories)}
    item_ids = np.arange(1, 10) if full_vocabulary else None
    got = from_baskets(user_baskets, item_ids=item_ids)
    want = _from_baskets_per_basket(user_baskets, item_ids=item_ids)
    for name, array in want.arrays().items():
        assert np.array_equal(getattr(got, name), array), name
        assert getattr(got, name).dtype == array.dtype, name


def test_from_baskets_refuses_products_outside_the_vocabulary():
    with pytest.raises(BasketError, match="outside the vocabulary"):
        from_baskets({1: [[1, 2], [5]]}, item_ids=np.array([1, 2, 3]))


def test_predicted_scores_round_as_round_to_6_decimals():
    from basketcli.workflows.predict.predictor import rounded_scores

    rng = np.random.default_rng(0)
    ties = ((rng.integers(0, 10**6, 20_000) + 0.5) / 1e6).astype(np.float32)
    values = np.concatenate([rng.random(50_000).astype(np.float32) * 10.0 ** rng.integers(
        -8, 8, 50_000), ties])
    assert rounded_scores(values) == [round(v, 6) for v in values.tolist()]


MIXED_CUSTOMERS = [
    [[21137, 47626], [21137]],  # ids
    [["Garden Strawberries", "Big Lemon"], ["Yellow Banana"]],  # names, first seen
    [["Yellow Banana", "Yellow Banana", 24852], [47626, 21137, 47626]],  # repeats within a basket
    [["yellow banana"], ["Big Lemonz", "Yellow Banana"]],  # a new spelling and an unknown name
    [["Big Lemonz"]],  # nothing known: the customer is skipped
    [["47626", 47626.0], ["Garden Strawberries"]],  # an id as text and as a float
    [[21137]] * 12,  # a long history
    [["Lime Wedges", 26209], ["Garden Strawberries", "Lime Wedges"]],
]


def _as_rows(predictions):
    return [(p.id, p.product_ids, p.names, p.scores, p.bought_before, p.size_rule,
             p.orders_given, p.orders_used) for p in predictions]


@pytest.mark.parametrize(("model", "rule"), [
    ("ptopfreq", None),
    ("gptopfreq", SizingRule(kind="threshold", threshold=0.2)),
    ("gptopfreq", SizingRule(kind="expected-f1")),
])
def test_a_batch_answers_like_one_customer_at_a_time(sample_runs, model, rule):
    customers = [CustomerOrders(f"c{i}", orders, f"customer c{i}")
                 for i, orders in enumerate(MIXED_CUSTOMERS * 3)]
    answers = {}
    for how in ("batch", "alone"):
        warnings = []
        predictor = load_predictor(sample_runs / model, rule=rule, skip_unknown=True,
                                   warn=warnings.append)
        if how == "batch":
            predictions = predictor.predict_batch(customers)
        else:
            predictions = [p for c in customers for p in predictor.predict_batch([c])]
        answers[how] = (_as_rows(predictions), warnings)
    assert answers["batch"] == answers["alone"]
    rows, warnings = answers["batch"]
    assert [r[0] for r in rows] == [c.id for c in customers if c.orders != [["Big Lemonz"]]]
    assert len(warnings) == 3 * 3 and "c3" in warnings[0] and "c4" in warnings[1]


def test_predictions_name_the_products_and_what_was_bought_before(sample_runs):
    predictor = load_predictor(sample_runs / "gptopfreq", rule=SizingRule(kind="top-k", k=30))
    history = [["Garden Strawberries", "Big Lemon"], ["Yellow Banana", "Yellow Banana"]]
    [prediction] = predictor.predict_batch([CustomerOrders("a", history, "test")])
    scores = prediction.scores
    assert len(scores) == 30 and scores == sorted(scores, reverse=True)
    bought = {item.name for item in prediction.basket if item.bought_before}
    assert bought == {"Garden Strawberries", "Big Lemon", "Yellow Banana"}
    assert prediction.to_json()["basket"][0] == {
        "product_id": prediction.product_ids[0], "name": prediction.names[0],
        "score": scores[0], "bought_before": True, "reason": prediction.basket[0].reason}
    assert prediction.basket[0].reason.startswith("in 1 of your last 2 orders")


def test_batches_grow_to_the_batch_size(sample_runs):
    from basketcli.workflows.predict import predictor as predict_module

    predictor = load_predictor(sample_runs / "ptopfreq")
    assert predict_module.MIN_BATCH <= predictor.batch_size <= predict_module.MAX_BATCH
    sizes = []
    original = predictor._chunk

    def recording(batch):
        sizes.append(len(batch))
        return original(batch)

    predictor._chunk = recording
    customers = [CustomerOrders(i, [[21137]], "test") for i in range(2000)]
    assert [p.id for p in predictor.predict(customers)] == list(range(2000))
    assert sizes[:4] == [1, 4, 16, 64] and max(sizes) == predictor.batch_size


def test_json_output_streams_complete_lines():
    import io

    from basketcli.workflows.predict.predictor import write_json

    class Answer:
        def __init__(self, n):
            self.n = n

        def to_json(self):
            return {"id": self.n, "basket": []}

    class Recording(io.StringIO):
        flushed: list[str] = []

        def flush(self):
            self.flushed.append(self.getvalue())

    stream = Recording()
    assert write_json((Answer(n) for n in range(3)), stream, flush=True) == 3
    # after each customer the output so far ends with that customer's complete line
    assert [text.splitlines()[-1].lstrip(",") for text in stream.flushed] == [
        '{"id": 0, "basket": []}', '{"id": 1, "basket": []}', '{"id": 2, "basket": []}']
    assert [c["id"] for c in json.loads(stream.getvalue())["customers"]] == [0, 1, 2]
