"""Shared fixtures: isolated registry and cache, the bundled sample, a tiny synthetic data set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from basketcli import registry
from basketcli.data.basket_data import BasketData, from_baskets

os.environ.setdefault("COLUMNS", "200")  # Rich tables must not wrap in assertions

# The real Instacart catalog (products.csv), for the few tests about it: wherever
# BASKET_TEST_CATALOG points (.ci/run sets it when the catalog is at hand). Never bundled.
INSTACART_CATALOG = os.environ.get("BASKET_TEST_CATALOG", "")


def one_line_error(result, *words: str, code: int = 2) -> str:
    """The command failed with ``code`` and a one-line message (after any epoch log lines,
    `progress: ` lines and one-line warnings), holding every one of ``words``; returns it."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    message = lines[-1] if lines else ""
    assert "Traceback" not in result.output, result.output
    assert all(line.startswith(("epoch ", "progress: ", "warning: "))
               for line in lines[:-1] if line.strip()), lines
    for word in words:
        assert word in message, message
    return message


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Only the built-in models, a private cache folder, wide terminals; registry restored."""
    monkeypatch.setenv("BASKET_LOAD_PLUGINS", "")
    monkeypatch.setenv("BASKET_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("BASKET_CATALOG", raising=False)
    registry.refresh()
    saved = dict(registry._in_process)
    yield
    registry._in_process.clear()
    registry._in_process.update(saved)
    registry.refresh()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run the CLI in-process; returns the click Result (exit_code, stdout, stderr, output)."""
    from basketcli.cli import app

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return run


@pytest.fixture(scope="session")
def catalog_path() -> Path:
    """The real Instacart catalog, for the tests about it (they run where it is present)."""
    if not INSTACART_CATALOG or not Path(INSTACART_CATALOG).is_file():
        pytest.skip("set BASKET_TEST_CATALOG to Instacart's products.csv to run this test")
    return Path(INSTACART_CATALOG)


# An invented catalog over Instacart's product ids (1..49,688), so that name handling is tested
# in any checkout: a few ids of the bundled sample get names the tests use, the rest made-up
# names from two word lists. None of it is Instacart's catalog.
INVENTED_NAMES = {
    21137: "Garden Strawberries", 21903: "Baby Leaf Spinach", 47209: "Ripe Avocado",
    47626: "Big Lemon", 8914: "Chicken Fillet", 27845: "Farm Whole Milk", 24852: "Yellow Banana",
    26209: "Lime Wedges", 13176: "Banana Bunch", 27966: "Red Raspberries", 22935: "Sweet Onion",
    24964: "Garlic Bulb", 45007: "Green Zucchini", 49683: "Crisp Cucumber",
    45066: "Crunchy Apple", 196: "Fizzy Cola", 44632: "Grapefruit Seltzer",
    49235: "Half and Half Cream",
}
INVENTED_AISLES = {1: "fruit stand", 2: "greens", 3: "dairy case", 4: "butcher", 5: "drinks",
                   6: "pantry shelf"}
INVENTED_AISLE_OF = {21137: 1, 47209: 1, 47626: 1, 24852: 1, 26209: 1, 13176: 1, 27966: 1,
                     45066: 1, 21903: 2, 22935: 2, 24964: 2, 45007: 2, 49683: 2, 27845: 3,
                     8914: 4, 196: 5, 44632: 5, 49235: 3}
ADJECTIVES = ["Crunchy", "Hearty", "Zesty", "Golden", "Rustic", "Classic", "Smoky", "Mellow",
              "Bright", "Tangy", "Savory", "Nutty", "Creamy"]
NOUNS = ["Crackers", "Granola", "Pasta", "Soup", "Yogurt", "Cereal", "Cookies", "Juice", "Salsa",
         "Tea", "Coffee", "Rice", "Beans", "Sauce", "Chips", "Bread", "Cheese"]
INSTACART_PRODUCT_IDS = 49_688


def invented_name(product_id: int) -> str:
    return INVENTED_NAMES.get(product_id) or (
        f"{ADJECTIVES[product_id % len(ADJECTIVES)]} {NOUNS[product_id % len(NOUNS)]} "
        f"{product_id}")


@pytest.fixture(scope="session")
def invented_catalog(tmp_path_factory) -> Path:
    """products.csv (with aisles.csv and departments.csv beside it) of invented names."""
    folder = tmp_path_factory.mktemp("invented_catalog")
    rows = ["product_id,product_name,aisle_id,department_id"]
    for product in range(1, INSTACART_PRODUCT_IDS + 1):
        aisle = INVENTED_AISLE_OF.get(product, 6)
        rows.append(f'{product},"{invented_name(product)}",{aisle},{1 if aisle < 6 else 2}')
    (folder / "products.csv").write_text("\n".join(rows) + "\n")
    (folder / "aisles.csv").write_text("aisle_id,aisle\n" + "".join(
        f"{i},{name}\n" for i, name in INVENTED_AISLES.items()))
    (folder / "departments.csv").write_text("department_id,department\n1,fresh\n2,dry goods\n")
    return folder / "products.csv"


def make_tiny_data(n_users: int = 30, n_items: int = 40, seed: int = 0) -> BasketData:
    """Customers with favourite products they rebuy plus random extras (5-9 orders each)."""
    rng = np.random.default_rng(seed)
    histories = {}
    for user in range(n_users):
        favourites = rng.choice(n_items, size=3, replace=False) + 1
        orders = []
        for _ in range(int(rng.integers(5, 10))):
            extra = rng.choice(n_items, size=int(rng.integers(1, 4)), replace=False) + 1
            keep = favourites[rng.random(3) < 0.8]
            orders.append([int(p) for p in np.concatenate([keep, extra])])
        histories[user + 100] = orders
    return from_baskets(histories)


@pytest.fixture
def tiny_data() -> BasketData:
    return make_tiny_data()


def write_long_csv(data, path: Path) -> Path:
    """``data`` as a long-format CSV (user_id, order_number, product_id) at ``path``."""
    rows = ["user_id,order_number,product_id"]
    for u in range(data.n_users):
        for n, basket in enumerate(data.product_ids_of(u), start=1):
            rows += [f"{data.user_ids[u]},{n},{p}" for p in basket]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def tiny_csv(tmp_path, tiny_data) -> Path:
    """The tiny data set as a long-format CSV with order_number."""
    return write_long_csv(tiny_data, tmp_path / "tiny.csv")
