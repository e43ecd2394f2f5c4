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
