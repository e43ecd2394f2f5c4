"""The plugin registry: lazy listing, BASKET_LOAD_PLUGINS, in-process models, clear errors for
unknown names, duplicate names and broken plugins, and a light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from basketcli import registry
from basketcli.errors import PluginLoadError, UnknownModelError
from basketcli_models.topfreq import GTopFreq, PTopFreq


@dataclass(frozen=True)
class FakeDistribution:
    name: str
    version: str = "1.0"


@dataclass(frozen=True)
class FakeEntryPoint:
    """What the registry reads of an importlib.metadata.EntryPoint."""

    name: str
    value: str
    dist: FakeDistribution | None
    group: str = registry.GROUP


def plugin(name: str, value: str, distribution: str) -> FakeEntryPoint:
    return FakeEntryPoint(name, value, FakeDistribution(distribution))


@pytest.fixture
def installed(monkeypatch):
    """Pretend some third-party distributions are installed beside the built-in models."""
    real = registry.entry_points

    def install(*fakes: FakeEntryPoint) -> None:
        monkeypatch.setattr(registry, "entry_points",
                            lambda group: [*real(group=group), *fakes])
        registry.refresh()

    return install


THIRD_PARTY = (
    plugin("alpha", "basketcli_models.topfreq:PTopFreq", "basket-alpha"),
    plugin("beta", "basketcli_models.topfreq:GTopFreq", "basket_beta"),
    plugin("gamma", "basketcli_models.topfreq:GPTopFreq", "Basket.Gamma"),
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120, check=False)


# --- listing is lazy -----------------------------------------------------------------------------
def test_listing_imports_no_model_module():
    code = (
        "import json, sys\n"
        "from basketcli import registry\n"
        "names = registry.list_models()\n"
        "modules = {e.target.partition(':')[0] for e in registry.entries().values()}\n"
        "print(json.dumps({'names': names, 'imported': sorted(modules & set(sys.modules)),\n"
        "                  'heavy': [m for m in ('numpy', 'torch', 'xgboost', 'pandas')\n"
        "                            if m in sys.modules]}))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {"gtopfreq", "ptopfreq", "tifuknn"} <= set(found["names"])
    assert found["imported"] == []
    assert found["heavy"] == []


@pytest.mark.parametrize("args", [["--help"], ["models"]])
def test_help_and_models_import_no_torch_xgboost_or_pandas(args):
    code = (
        "import sys\n"
        "from basketcli.cli import main\n"
        f"sys.argv = ['basket', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "heavy = [m for m in ('torch', 'xgboost', 'pandas') if m in sys.modules]\n"
        "sys.stderr.write(f'\\nexit={code} heavy={heavy}\\n')\n"
    )
    result = run_python(code, COLUMNS="200")
    assert result.stderr.strip().splitlines()[-1] == "exit=0 heavy=[]", result.stderr[-2000:]


# --- BASKET_LOAD_PLUGINS -------------------------------------------------------------------------
def test_unset_loads_every_plugin(installed, monkeypatch):
    monkeypatch.delenv("BASKET_LOAD_PLUGINS", raising=False)
    installed(*THIRD_PARTY)
    assert {"alpha", "beta", "gamma", "ptopfreq"} <= set(registry.list_models())
    assert registry.problems() == []


def test_empty_loads_only_the_builtin_models(installed):
    installed(*THIRD_PARTY)  # conftest sets BASKET_LOAD_PLUGINS=""
    names = registry.list_models()
    assert "ptopfreq" in names
    assert not {"alpha", "beta", "gamma"} & set(names)
    assert all(entry.builtin for entry in registry.entries().values())


def test_a_list_loads_those_distributions_whatever_their_spelling(installed, monkeypatch):
    monkeypatch.setenv("BASKET_LOAD_PLUGINS", "basket_alpha, Basket-Beta")
    installed(*THIRD_PARTY)
    names = set(registry.list_models())
    assert {"alpha", "beta", "ptopfreq"} <= names
    assert "gamma" not in names
    assert registry.get_entry("beta").distribution == "basket_beta"


def test_a_listed_distribution_that_is_not_installed_is_reported(installed, monkeypatch):
    monkeypatch.setenv("BASKET_LOAD_PLUGINS", "basket-alpha,basket-missing")
    installed(*THIRD_PARTY)
    [problem] = registry.problems()
    assert "BASKET_LOAD_PLUGINS names 'basket-missing'" in problem


def test_glob_patterns_filter_the_listing():
    assert registry.list_models("*topfreq") == ["gptopfreq", "gtopfreq", "ptopfreq"]


# --- in-process registration ---------------------------------------------------------------------
def test_register_and_unregister_in_process():
    class LastOrder(GTopFreq):
        """Test double."""

        name = "last_order"

    registry.register(LastOrder)
    assert "last_order" in registry.list_models()
    assert registry.get_model_class("last_order") is LastOrder
    assert registry.get_entry("last_order").distribution == "in-process"
    registry.unregister("last_order")
    assert "last_order" not in registry.list_models()


def test_register_needs_a_name():
    with pytest.raises(TypeError, match="no `name`"):
        registry.register(type("Nameless", (), {}))


def test_an_in_process_model_shadows_an_installed_one():
    registry.register(GTopFreq, name="ptopfreq")
    assert registry.get_model_class("ptopfreq") is GTopFreq


# --- unknown names -------------------------------------------------------------------------------
def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownModelError) as error:
        registry.get_model_class("ptopfrq")
    assert "did you mean ptopfreq" in error.value.message
    assert "basket models" in error.value.message


def test_unknown_name_on_the_command_line_is_one_line(invoke):
    result = invoke("models", "--params", "tifuknm")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unknown model 'tifuknm'; did you mean tifuknn?" in result.stderr


# --- two distributions, one name -----------------------------------------------------------------
def test_duplicate_names_warn_naming_both_and_keep_the_first(installed, monkeypatch):
    monkeypatch.delenv("BASKET_LOAD_PLUGINS", raising=False)
    installed(plugin("twin", "basketcli_models.topfreq:PTopFreq", "basket-first"),
              plugin("twin", "basketcli_models.topfreq:GTopFreq", "basket-second"))
    [problem] = registry.problems()
    assert "'twin' is claimed by basket-first" in problem and "basket-second" in problem
    assert "keeping basket-first" in problem
    assert registry.get_model_class("twin") is PTopFreq


def test_a_plugin_claiming_a_builtin_name_is_reported(installed, monkeypatch):
    monkeypatch.delenv("BASKET_LOAD_PLUGINS", raising=False)
    installed(plugin("ptopfreq", "basketcli_models.topfreq:GTopFreq", "basket-impostor"))
    [problem] = registry.problems()
    assert "claimed by basket" in problem and "basket-impostor" in problem
    assert registry.get_entry("ptopfreq").distribution == "basket"


def test_the_same_distribution_found_twice_is_not_a_conflict(installed, monkeypatch):
    monkeypatch.delenv("BASKET_LOAD_PLUGINS", raising=False)
    twice = plugin("alpha", "basketcli_models.topfreq:PTopFreq", "basket-alpha")
    installed(twice, twice)
    assert registry.problems() == []


def test_basket_models_shows_the_duplicate_warning(installed, monkeypatch, invoke):
    monkeypatch.delenv("BASKET_LOAD_PLUGINS", raising=False)
    installed(plugin("twin", "basketcli_models.topfreq:PTopFreq", "basket-first"),
              plugin("twin", "basketcli_models.topfreq:GTopFreq", "basket-second"))
    result = invoke("models", "twin")
    assert result.exit_code == 0
    assert "warning: model 'twin' is claimed by basket-first" in result.stderr
    assert "basket-first" in result.stdout and "basket-second" not in result.stdout


# --- broken plugins ------------------------------------------------------------------------------
BROKEN_MODULES = {
    "needs_missing_dependency": "import no_such_dependency_xyz\n",
    "raises_on_import": "raise RuntimeError('bad plugin')\n",
    "exits_on_import": "raise SystemExit(3)\n",
    "not_a_model": "class Thing:\n    pass\n",
}


@pytest.fixture
def broken_plugins(installed, monkeypatch, tmp_path):
    for module, source in BROKEN_MODULES.items():
        (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("BASKET_LOAD_PLUGINS", raising=False)
    installed(
        plugin("needy", "needs_missing_dependency:Model", "basket-needy"),
        plugin("crashy", "raises_on_import:Model", "basket-crashy"),
        plugin("exity", "exits_on_import:Model", "basket-exity"),
        plugin("thingy", "not_a_model:Thing", "basket-thingy"),
        plugin("ghost", "module_that_is_gone:Model", "basket-ghost"),
    )
    yield
    for module in [*BROKEN_MODULES, "no_such_dependency_xyz"]:
        sys.modules.pop(module, None)


@pytest.mark.parametrize(("name", "reason"), [
    ("needy", "needs the package 'no_such_dependency_xyz', which is not installed"),
    ("crashy", "failed to load: RuntimeError: bad plugin"),
    ("exity", "failed to load: SystemExit: 3"),
    ("thingy", "not_a_model:Thing is not a basketcli.protocol.BasketModel subclass"),
    ("ghost", "its module 'module_that_is_gone' is not installed; reinstall basket-ghost"),
])
def test_a_broken_plugin_is_a_one_line_error(broken_plugins, name, reason):
    with pytest.raises(PluginLoadError) as error:
        registry.get_model_class(name)
    assert error.value.message.startswith(f"model {name!r} (from basket-{name})")
    assert reason in error.value.message


def test_basket_models_lists_broken_plugins_as_unavailable(broken_plugins, invoke):
    result = invoke("models", "--json", "--check")
    assert result.exit_code == 0, result.output
    listing = {row["name"]: row for row in json.loads(result.stdout)["models"]}
    assert listing["ptopfreq"]["status"] == "available"
    for name in ("needy", "crashy", "exity", "thingy", "ghost"):
        assert listing[name]["status"] == "unavailable"
    assert "no_such_dependency_xyz" in listing["needy"]["summary"]


def test_basket_models_table_survives_broken_plugins(broken_plugins, invoke):
    result = invoke("models", "--check")
    assert result.exit_code == 0, result.output
    assert "unavailable" in result.stdout and "no_such_dependency_xyz" in result.stdout
    assert "Traceback" not in result.output
