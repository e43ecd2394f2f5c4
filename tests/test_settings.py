"""--set / --param / config-file parsing: valid objects or one-line BasketErrors, nothing else."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcli.cli.parsing import parse_assignments, read_config_file
from basketcli.errors import BasketError, ConfigError
from basketcli.settings import build_config
from basketcli_models.neighbourhood.tifuknn import TifuKNNConfig


def test_values_are_validated_by_the_model_config():
    config = build_config(TifuKNNConfig, parse_assignments(["k=50", "alpha=0.5"]), "tifuknn")
    assert config.k == 50 and config.alpha == 0.5


@pytest.mark.parametrize(
    ("pairs", "fragment"),
    [
        (["kk=5"], "unknown setting 'kk'"),
        (["k=-1"], "k='-1'"),
        (["alpha=abc"], "alpha='abc'"),
        (["k"], "expected key=value"),
        (["=5"], "expected key=value"),
        (["k=[1,"], "not valid JSON"),
    ],
)
def test_bad_settings_name_the_key(pairs, fragment):
    with pytest.raises(ConfigError) as err:
        build_config(TifuKNNConfig, parse_assignments(pairs), "tifuknn")
    assert fragment in err.value.message
    assert "\n" not in err.value.message


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean alpha"):
        build_config(TifuKNNConfig, {"alpah": 1}, "tifuknn")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_random_assignments_never_crash(pairs):
    try:
        config = build_config(TifuKNNConfig, parse_assignments(pairs), "tifuknn")
    except BasketError as exc:
        assert "\n" not in exc.message and exc.message
    else:
        assert isinstance(config, TifuKNNConfig)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_config_files_never_crash(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_bytes(content)
    try:
        values = read_config_file(path)
        build_config(TifuKNNConfig, values, "tifuknn")
    except BasketError as exc:
        assert "\n" not in exc.message


def test_config_file_json_and_toml(tmp_path):
    (tmp_path / "a.json").write_text('{"k": 7}')
    (tmp_path / "a.toml").write_text("k = 8\nalpha = 0.5\n")
    assert read_config_file(tmp_path / "a.json") == {"k": 7}
    assert build_config(TifuKNNConfig, read_config_file(tmp_path / "a.toml"), "t").k == 8


# --- list settings take commas -----------------------------------------------------------------
def test_a_list_setting_takes_comma_separated_text_or_a_json_list():
    from basketcli_models.stack import StackConfig

    for pairs in (["models=tifuknn,upcf"], ["models= tifuknn , upcf,"],
                  ['models=["tifuknn", "upcf"]'], ["models=[tifuknn,upcf]"]):
        assert build_config(StackConfig, parse_assignments(pairs), "stack").models == [
            "tifuknn", "upcf"], pairs
    assert build_config(StackConfig, {"models": "taiw"}, "stack").models == ["taiw"]


def test_list_text_in_config_files_and_the_python_api(tmp_path):
    from basketcli import registry

    (tmp_path / "s.toml").write_text('models = "tifuknn,upcf"\n')
    (tmp_path / "x.json").write_text('{"neighbours": "tifuknn, taiw", "exclude_features": ""}')
    assert build_config(registry.get_model_class("stack").Config,
                        read_config_file(tmp_path / "s.toml"), "stack").models == [
        "tifuknn", "upcf"]
    xgboost = build_config(registry.get_model_class("xgboost").Config,
                           read_config_file(tmp_path / "x.json"), "xgboost")
    assert xgboost.neighbours == ["tifuknn", "taiw"] and xgboost.exclude_features == []
    assert registry.create_model("stack", {"models": "upcf,taiw"}).config.models == [
        "upcf", "taiw"]


def test_grid_lists_list_values_in_brackets_or_json():
    from basketcli.cli.parsing import parse_params
    from basketcli.workflows.grid import plan_runs

    params = parse_params(['neighbours=[],[tifuknn],[tifuknn,upcf],["taiw"]'])
    assert params == {"neighbours": [[], ["tifuknn"], ["tifuknn", "upcf"], ["taiw"]]}
    runs = plan_runs("xgboost", params, {"exclude_features": "aisle,department"})
    assert [r.params["neighbours"] for r in runs] == [[], ["tifuknn"], ["tifuknn", "upcf"],
                                                      ["taiw"]]
    assert all(r.config["exclude_features"] == ["aisle", "department"] for r in runs)


@pytest.mark.parametrize(("value", "fragment"), [
    ("tifuknn,stack", "setting models='tifuknn,stack' for model stack: a stack cannot stack "
                      "itself"),
    ("tifuknn,tifuknn", "setting models='tifuknn,tifuknn' for model stack: a model is named"),
    ("", "setting models='' for model stack: List should have at least 1 item"),
])
def test_bad_list_values_are_one_line_naming_the_setting(value, fragment):
    from basketcli_models.stack import StackConfig

    with pytest.raises(ConfigError) as err:
        build_config(StackConfig, {"models": value}, "stack")
    assert err.value.message.startswith(fragment) and "\n" not in err.value.message


def test_a_bad_list_setting_on_the_command_line_is_one_line(invoke, tiny_csv, tmp_path):
    from conftest import one_line_error

    one_line_error(invoke("train", "--model", "stack", "--set", "models=tifuknn,stack",
                          "--data", tiny_csv, "--out", tmp_path / "run"),
                   "setting models='tifuknn,stack' for model stack", "cannot stack itself")
    one_line_error(invoke("grid", "--model", "xgboost", "--param",
                          "exclude_features=[aisle],[aisle,nope]", "--data", tiny_csv, "--out",
                          tmp_path / "grid"),
                   "--param: setting exclude_features=['aisle', 'nope'] for model xgboost",
                   "unknown feature 'nope'")


def test_which_settings_split_their_text():
    from typing import Annotated, Literal

    from pydantic import Field

    from basketcli.protocol import ModelConfig

    class Config(ModelConfig):
        sizes: tuple[int, ...] = (1,)
        tags: set[str] = set()
        either: list[str] | str = "x"
        scope: list[int] | Literal["all"] = "all"
        ranks: Annotated[list[float], Field(min_length=1)] = [1.0]
        rows: list[dict[str, int]] = []
        name: str = "a,b"

    config = build_config(Config, {"sizes": "1, 2", "tags": "a,b", "either": "p,q",
                                   "scope": "3,4", "ranks": "0.5", "name": "c,d"}, "m")
    assert config.sizes == (1, 2) and config.tags == {"a", "b"} and config.either == "p,q"
    assert config.scope == [3, 4] and config.ranks == [0.5] and config.name == "c,d"
    assert build_config(Config, {"scope": "all"}, "m").scope == "all"
    with pytest.raises(ConfigError, match=r"^setting rows='a' for model m: "):
        build_config(Config, {"rows": "a"}, "m")  # a list of mappings: JSON only
