"""Fast start of `basket`, `basket --help`, `--version` and `basket models`: the same output and
exit code as Typer's, none of the deferred modules imported once the startup cache is warm, and
a cache that follows what changed (a plugin edited, broken, fixed, installed or upgraded, a
new basket version) and is never required (corrupt or unwritable: same output).

Commands run as subprocesses of a script named ``basket`` (Typer names the program after
argv[0]), each test with its own cache folder and BASKET_FAST_START=0 for Typer's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from basketcli.cli import command_map, listing, startup_cache

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
# What `basket --help` and `basket models` leave to the commands that need them.
DEFERRED = ("typer", "numpy", "pydantic", "pandas", "torch", "xgboost", "scipy", "plugins",
            "importlib.metadata", "rich.markdown", "basketcli.registry", "basketcli.protocol")


@pytest.fixture
def basket(tmp_path):
    """Run `basket ARGS` in a fresh process with this test's cache folder; returns
    (exit code, stdout, stderr, imported module names)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "basket"
    script.write_text(SCRIPT)
    modules_out = tmp_path / "modules.txt"

    def run(*args: str, **env: str):
        full_env = {**os.environ, "BASKET_CACHE_DIR": str(tmp_path / "cache"),
                    "MODULES_OUT": str(modules_out), **env}
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                                text=True, env=full_env, cwd=tmp_path, timeout=120)
        return (result.returncode, result.stdout, result.stderr,
                modules_out.read_text().split("\n"))

    return run


def deferred_in(modules: list[str]) -> list[str]:
    return [m for m in modules
            if any(m == d or m.startswith(f"{d}.") for d in DEFERRED) or m.endswith("_cmd")]


@pytest.mark.parametrize(("args", "env"), [
    (["--help"], {"COLUMNS": "80"}),
    (["--help"], {"COLUMNS": "120", "FORCE_COLOR": "1"}),
    ([], {"COLUMNS": "70"}),
    (["--version"], {}),
    (["models"], {"COLUMNS": "150", "FORCE_COLOR": "1"}),
    (["models", "--json", "*topfreq"], {}),
])
def test_the_fast_path_prints_what_typer_prints(basket, args, env):
    code, out, err, _ = basket(*args, BASKET_FAST_START="0", **env)
    assert out, err
    for _ in range(2):  # the first run fills the startup cache, the second reads it
        assert basket(*args, **env)[:3] == (code, out, err)


@pytest.mark.parametrize("args", [["--help"], ["models"], ["models", "--json"]])
def test_a_warm_start_imports_none_of_the_deferred_modules(basket, args):
    code, _, err, modules = basket(*args)
    assert code == 0, err
    assert "typer" in modules or "numpy" in modules  # the first run did the work
    code, _, err, modules = basket(*args)
    assert code == 0, err
    assert deferred_in(modules) == []


def test_other_commands_still_go_through_typer(basket):
    code, out, _, modules = basket("models", "--help", COLUMNS="100")
    assert code == 0 and "--params" in out and "typer" in modules
    code, out, err, _ = basket("models", "--bogus")
    assert code == 2 and "No such option" in err


# --- other commands import only their own module -----------------------------------------------
def test_the_command_map_covers_every_command():
    from basketcli.cli import app

    found = command_map.command_modules(app)
    assert set(found) == {info.name for info in app.registered_commands} | {"data"}
    assert found["predict"] == ["basketcli.cli.predict_cmd"]
    assert found["data"] == ["basketcli.cli.data_cmd", "basketcli.cli.synth_cmd"]


@pytest.mark.parametrize(("args", "word"), [
    (["predict", "--run", "x"], "predict"), (["--debug", "train"], "train"),
    (["--help", "train"], None), (["--version"], None), ([], None), (["--debug"], None),
])
def test_the_command_word(args, word):
    assert command_map.command_word(args) == word


def test_a_command_imports_only_its_module_once_the_map_is_cached(basket):
    expected = {args: basket(*args, BASKET_FAST_START="0", COLUMNS="100")[:3]
                for args in (("predict", "--help"), ("data", "info", "--help"))}
    assert basket("evaluate", "--help")[0] == 0  # every module imported; the map is cached
    for args, result in expected.items():
        *output, modules = basket(*args, COLUMNS="100")
        assert tuple(output) == result
        assert [m for m in modules if m.endswith("_cmd")] == [
            f"basketcli.cli.{name}_cmd" for name in {"predict": ["predict"],
                                                      "data": ["data", "synth"]}[args[0]]]


# --- the models cache follows the plugins --------------------------------------------------------
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


def test_the_models_cache_follows_edits_breakage_installs_and_upgrades(basket, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    module = install(site, "tplug", "First summary.")
    env = {"PYTHONPATH": str(site), "BASKET_LOAD_PLUGINS": "basket-tplug,basket-other"}

    def models() -> tuple[dict[str, dict], list[str]]:
        code, out, err, modules = basket("models", "--json", **env)
        assert code == 0, err
        return {row["name"]: row for row in json.loads(out)["models"]}, modules

    rows, _ = models()
    assert rows["tplug"]["summary"] == "First summary."
    rows, modules = models()
    assert rows["tplug"]["status"] == "available" and "basket_tplug" not in modules  # cached

    module.write_text(module.read_text().replace("First summary.", "Second, edited summary."))
    assert models()[0]["tplug"]["summary"] == "Second, edited summary."

    text = module.read_text()
    module.write_text("import no_such_dependency_abc\n" + text)
    for _ in range(2):  # a broken plugin is never cached: tried again on every listing
        rows, _ = models()
        assert rows["tplug"]["status"] == "unavailable"
        assert "no_such_dependency_abc" in rows["tplug"]["summary"]
    module.write_text(text)
    assert models()[0]["tplug"]["status"] == "available"

    install(site, "other", "Another model.")  # a new distribution in the same folder
    rows, _ = models()
    assert rows["other"]["summary"] == "Another model." and rows["other"]["version"] == "1.0"

    install(site, "tplug", "Upgraded.", version="2.0")
    rows, _ = models()
    assert (rows["tplug"]["version"], rows["tplug"]["summary"]) == ("2.0", "Upgraded.")


def test_a_new_basket_version_makes_the_cache_stale(monkeypatch):
    listing.model_listing()  # the conftest's private cache folder; built-in models only
    assert listing.cached_listing() is not None
    monkeypatch.setattr(startup_cache, "__version__", "999.0")
    assert listing.cached_listing() is None


# --- the cache is never required -----------------------------------------------------------------
def test_a_corrupt_or_unwritable_cache_changes_nothing(basket, tmp_path):
    env = {"COLUMNS": "100", "FORCE_COLOR": "1"}
    commands = (("--help",), ("models",))
    expected = {args: basket(*args, BASKET_FAST_START="0", **env)[:3] for args in commands}
    for args in commands:
        basket(*args, **env)
    files = sorted((tmp_path / "cache").glob("cli-*.json"))
    assert len(files) == 2
    damages = {
        "garbage": lambda document: "{not json",
        "wrong shape": lambda document: json.dumps({**document, "models": None, "page": {
            **document.get("page", {}), "calls": [{"objects": [{"type": "Bogus"}]}]}}),
    }
    for damage in damages.values():
        for file in files:
            file.write_text(damage(json.loads(file.read_text())))
        for args in commands:
            assert basket(*args, **env)[:3] == expected[args]
    (tmp_path / "elsewhere").write_text("a file where the cache folder should be")
    for args in commands:
        assert basket(*args, BASKET_CACHE_DIR=str(tmp_path / "elsewhere"), **env)[:3] == \
            expected[args]


def test_writes_are_atomic(tmp_path, monkeypatch):
    monkeypatch.setenv("BASKET_CACHE_DIR", str(tmp_path))
    startup_cache.write("probe", {"value": 1})
    assert startup_cache.read("probe") == {"value": 1}
    with pytest.raises(TypeError):
        startup_cache.write("probe", {"value": object()})  # fails halfway through json.dump
    assert startup_cache.read("probe") == {"value": 1}
    assert [p.name for p in tmp_path.iterdir()] == [f"{startup_cache._file_name('probe')}"]


def test_the_cache_folder_is_the_data_cache_folder(monkeypatch, tmp_path):
    from basketcli.data.prepare import cache_dir

    assert startup_cache.cache_dir() == cache_dir()
    monkeypatch.delenv("BASKET_CACHE_DIR")
    assert startup_cache.cache_dir() == cache_dir()
