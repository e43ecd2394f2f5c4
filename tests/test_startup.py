"""A light start: `basket --help` and `basket models` import none of the heavy libraries nor any
model module, with no cache of any kind; `basket models` follows plugins as they are edited,
broken, installed and upgraded, and `--check` imports them to tell whether they load.

Commands run as subprocesses of the real entry point (``basketcli.cli:main``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = (
    "import os, sys\n"
    "from basketcli.cli import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    if os.environ.get('MODULES_OUT'):\n"
    "        with open(os.environ['MODULES_OUT'], 'w') as out:\n"
    "            out.write('\\n'.join(sorted(sys.modules)))\n"
)
# Typer itself imports pydantic to convert option values, and finding a built-in model's source
# imports the (empty) package ``plugins``; no model module may load.
HEAVY = {"numpy", "pandas", "torch", "xgboost", "scipy", "pyarrow"}


@pytest.fixture
def basket(tmp_path):
    """Run `basket ARGS` in a fresh process; returns (exit code, stdout, stderr, modules)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "basket"
    script.write_text(SCRIPT)
    modules_out = tmp_path / "modules.txt"

    def run(*args: str, **env: str):
        full_env = {**os.environ, "MODULES_OUT": str(modules_out), **env}
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                                text=True, env=full_env, cwd=tmp_path, timeout=120)
        return (result.returncode, result.stdout, result.stderr,
                modules_out.read_text().split("\n"))

    return run


def heavy_in(modules: list[str]) -> list[str]:
    """The heavy libraries and the model modules among ``modules`` (a model family's package,
    whose __init__ imports nothing, may be imported to find its modules' files)."""
    return [m for m in modules if m.partition(".")[0] in HEAVY
            or (m.startswith("basketcli_models.") and not is_package(m))]


def is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


@pytest.mark.parametrize("args", [["--help"], [], ["models"], ["models", "--json"],
                                  ["predict", "--help"], ["data", "info", "--help"]])
def test_help_and_listing_import_no_heavy_module(basket, args):
    code, out, err, modules = basket(*args, COLUMNS="100")
    assert code == (2 if not args else 0), err  # a bare `basket` shows the help, exit 2
    assert "Usage" in out or "installed models" in out or '"models"' in out
    assert heavy_in(modules) == []


def test_no_cache_is_written(basket, tmp_path):
    cache = tmp_path / "cache"
    for args in (["--help"], ["models"]):
        assert basket(*args, BASKET_CACHE_DIR=str(cache))[0] == 0
    assert not cache.exists()


# --- basket models follows the plugins ---------------------------------------------------------
PLUGIN = '''
from basketcli.protocol import BasketModel


class {cls}(BasketModel):
    """{summary}"""

    name = "{name}"

    def fit(self, train, valid, ctx):
        raise NotImplementedError

    def score(self, histories):
        raise NotImplementedError
'''


def install(site: Path, name: str, summary: str, version: str = "1.0") -> Path:
    """A plugin as pip leaves it: a module and a .dist-info declaring its entry point."""
    for old in site.glob(f"basket_{name}-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    info = site / f"basket_{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: basket-{name}\n"
                                   f"Version: {version}\n")
    (info / "entry_points.txt").write_text(
        f"[basketcli.models]\n{name} = basket_{name}:{name.title()}\n")
    module = site / f"basket_{name}.py"
    module.write_text(PLUGIN.format(cls=name.title(), name=name, summary=summary))
    return module


def test_models_follows_edits_breakage_installs_and_upgrades(basket, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    module = install(site, "tplug", "First summary.")
    env = {"PYTHONPATH": str(site), "BASKET_LOAD_PLUGINS": "basket-tplug,basket-other"}

    def models(*flags: str) -> tuple[dict[str, dict], list[str]]:
        code, out, err, modules = basket("models", "--json", *flags, **env)
        assert code == 0, err
        return {row["name"]: row for row in json.loads(out)["models"]}, modules

    rows, modules = models()
    assert rows["tplug"]["summary"] == "First summary."
    assert rows["tplug"]["status"] == "installed" and "basket_tplug" not in modules
    assert models("--check")[0]["tplug"]["status"] == "available"

    module.write_text(module.read_text().replace("First summary.", "Second, edited summary."))
    assert models()[0]["tplug"]["summary"] == "Second, edited summary."

    text = module.read_text()
    module.write_text("import no_such_dependency_abc\n" + text)
    rows, _ = models("--check")
    assert rows["tplug"]["status"] == "unavailable"
    assert "no_such_dependency_abc" in rows["tplug"]["summary"]
    module.write_text(text)
    assert models("--check")[0]["tplug"]["status"] == "available"

    install(site, "other", "Another model.")  # a new distribution in the same folder
    rows, _ = models()
    assert rows["other"]["summary"] == "Another model." and rows["other"]["version"] == "1.0"

    install(site, "tplug", "Upgraded.", version="2.0")
    rows, _ = models()
    assert (rows["tplug"]["version"], rows["tplug"]["summary"]) == ("2.0", "Upgraded.")

    module.unlink()  # the distribution is still declared, its module is gone
    rows, _ = models()
    assert rows["tplug"]["status"] == "unavailable"
    assert "its module 'basket_tplug' is not installed" in rows["tplug"]["summary"]


@pytest.mark.parametrize(("words", "expected"), [
    ("basket train --model cn", "cnngru"),
    ("basket compare --models tifuknn,gpt", "tifuknn,gptopfreq"),
    ("basket models --params xgb", "xgboost"),
])
def test_shell_completion_offers_model_names(basket, words, expected):
    code, out, err, modules = basket(_BASKET_COMPLETE="complete_bash", COMP_WORDS=words,
                                     COMP_CWORD=str(len(words.split()) - 1))
    assert code == 0, err
    assert out.split() == [expected]
    assert heavy_in(modules) == []  # completing imports no model
