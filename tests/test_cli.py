"""evaluate / compare / models / data info through the CLI, on the tiny data and the sample."""

import json

import pytest

from basketcli.evaluation.metrics import METRIC_KEYS


def test_compare_json_has_every_metric_and_the_references(invoke, tiny_csv):
    r = invoke("compare", "--models", "gptopfreq,tifuknn", "--data", tiny_csv, "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    names = [m["name"] for m in payload["models"]]
    assert names == ["gtopfreq", "ptopfreq", "tifuknn", "gptopfreq"]
    for row in payload["models"]:
        assert set(METRIC_KEYS) <= set(row["metrics"])
        assert row["fit_seconds"] >= 0 and row["score_seconds"] >= 0
    assert payload["data"]["users"] == 30


def test_compare_no_reference(invoke, tiny_csv):
    r = invoke("compare", "--models", "tifuknn", "--data", tiny_csv, "--no-reference", "--json")
    assert [m["name"] for m in json.loads(r.stdout)["models"]] == ["tifuknn"]


def test_compare_table_on_the_sample(invoke):
    r = invoke("compare", "--models", "ptopfreq", "--no-reference")
    assert r.exit_code == 0, r.output
    assert "ptopfreq" in r.stdout and "recall@10" in r.stdout and "592 customers" in r.stdout


def test_evaluate_model_and_run_dir(invoke, tiny_csv, tmp_path):
    r = invoke("evaluate", "--model", "tifuknn", "--data", tiny_csv, "--set", "k=5", "--json")
    assert r.exit_code == 0, r.output
    direct = json.loads(r.stdout)["models"][0]["metrics"]
    run = tmp_path / "run"
    r = invoke("train", "--model", "tifuknn", "--data", tiny_csv, "--set", "k=5", "--out", run)
    assert r.exit_code == 0, r.output
    r = invoke("evaluate", run, "--json")
    assert r.exit_code == 0, r.output
    saved = json.loads(r.stdout)["models"][0]["metrics"]
    assert saved == direct


def test_models_lists_builtins_and_params(invoke):
    r = invoke("models", "--json")
    names = {m["name"] for m in json.loads(r.stdout)["models"]}
    assert {"gtopfreq", "ptopfreq", "gptopfreq", "tifuknn"} <= names
    r = invoke("models", "--params", "tifuknn", "--json")
    params = {p["name"]: p for p in json.loads(r.stdout)["params"]}
    assert params["k"]["default"] == "300" and params["alpha"]["description"]


def test_data_info_json(invoke):
    r = invoke("data", "info", "--json")
    stats = json.loads(r.stdout)
    assert stats["users"] == 592 and 0.5 < stats["repeat_ratio"] < 0.8


def test_top_items_restricts_the_vocabulary(invoke):
    r = invoke("data", "info", "--top-items", "145", "--json")
    assert json.loads(r.stdout)["products"] == 145


def test_basketcli_cli_app_is_the_typer_app_with_every_command():
    import typer

    from basketcli.cli import app

    assert isinstance(app, typer.Typer)
    names = {info.name for info in app.registered_commands}
    assert names == {"compare", "embed", "evaluate", "grid", "models", "new-plugin", "predict",
                     "train", "tune"}
    assert [group.name for group in app.registered_groups] == ["data"]


def test_models_table_and_in_process_models(invoke):
    from basketcli import registry
    from basketcli_models.topfreq import PTopFreq

    registry.register(PTopFreq, name="inprocess")
    r = invoke("models")
    assert r.exit_code == 0, r.output
    assert "installed models" in r.stdout
    for column in ("name", "summary", "distribution", "version", "status"):
        assert column in r.stdout
    assert "inprocess" in r.stdout and "in-process" in r.stdout


def test_error_messages_print_brackets_literally(invoke, tmp_path):
    missing = tmp_path / "[shop]" / "orders.csv"  # Rich would read "[shop]" as markup
    result = invoke("data", "info", "--data", str(missing))
    assert result.exit_code == 2
    assert "[shop]" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("command", [[], ["data"], ["data", "synth"], ["compare"], ["tune"],
                                     ["predict"], ["models"]])
def test_help_shows_no_value_for_a_flag(invoke, command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "--help" in result.stdout and "<bool>" not in result.stdout


def every_command() -> dict[str, object]:
    """The root, every command and every group's commands: {"basket data synth": command}."""
    import typer

    from basketcli.cli import app

    def walk(command, words):
        yield " ".join(words), command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*words, name])

    return dict(walk(typer.main.get_command(app), ["basket"]))


@pytest.mark.parametrize("words", list(every_command()))
def test_help_at_80_columns_holds_every_option_name_whole(invoke, monkeypatch, words):
    """Typer's Rich help fits its table to the terminal; at 80 columns no option name or
    metavar may be cut (a user copies them)."""
    import re

    monkeypatch.setenv("COLUMNS", "80")
    result = invoke(*words.split()[1:], "--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert all(len(line) <= 80 for line in text.splitlines())
    for param in every_command()[words].params:
        names = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
        for name in [n for n in names if n.startswith("-")] + [param.metavar or ""]:
            if name:
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (words, name)


def test_help_says_quiet_and_its_environment_variable(invoke):
    text = invoke("--help").stdout
    assert "--quiet" in text and "BASKET_QUIET=1" in text and "[env var: BASKET_QUIET]" in text


def test_help_texts_print_brackets_and_flow_as_paragraphs(invoke, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert "basket[completejourney]" in invoke("train", "--help").stdout
    assert "'models=[upcf,taiw],[tifuknn]'" in invoke("grid", "--help").stdout
    # a docstring's line breaks are not kept mid-sentence
    assert "weights so far and --resume continues" in invoke("train", "--help").stdout
