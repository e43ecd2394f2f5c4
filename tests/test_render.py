"""Every number of a result shows in full at 80 and at 200 columns, piped or not: compare and
evaluate (with intervals and verdicts), train, grid and `models --params`; and the CSV,
Markdown and JSON forms of a result."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console

from basketcli.evaluation.comparison import Versus
from basketcli.render import (
    compare_report,
    grid_report,
    metrics_tables,
    params_report,
    versus_text,
)
from basketcli.workflows.evaluate import CompareResult

WIDTHS = (80, 200)


def rendered(parts, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None)
    for part in parts:
        console.print(part, highlight=False)
    text = console.file.getvalue()
    assert all(len(line) <= width for line in text.splitlines()), "a line is wider than asked"
    assert "…" not in text, "a cell was cut"
    return text


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> CompareResult:
    from typer.testing import CliRunner

    from basketcli.cli import app
    from tests.conftest import make_tiny_data, write_long_csv

    path = write_long_csv(make_tiny_data(), tmp_path_factory.mktemp("data") / "tiny.csv")
    r = CliRunner().invoke(app, ["compare", "--models", "gptopfreq,tifuknn", "--data", str(path),
                                 "--json", "--bootstrap", "300"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    return CompareResult.model_validate(json.loads(r.stdout))


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_shows_every_number_with_its_interval_and_verdict(compared, width):
    from basketcli.evaluation.metrics import HEADLINE_KEYS

    text = rendered(compare_report(compared, width=width), width)
    for model in compared.models:
        for key in HEADLINE_KEYS:
            assert f"{model.metrics[key]:.4f}" in text, (model.name, key)
            low, high = model.intervals[key]
            assert f"±{(high - low) / 2:.4f}" in text, (model.name, key)
        for v in model.versus.values():
            assert f"{v.difference:+.4f} [{v.low:+.4f}, {v.high:+.4f}]" in text
            assert v.verdict in text
        assert f"{model.fit_seconds:.2f}" in text and f"{model.score_seconds:.2f}" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_every_metric_shows_when_all_are_asked_for(compared, width):
    from basketcli.evaluation.metrics import METRIC_KEYS

    text = rendered(compare_report(compared, METRIC_KEYS, width), width)
    for model in compared.models:
        for key in METRIC_KEYS:
            assert f"{model.metrics[key]:.4f}" in text, (model.name, key)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_single_row_table_and_a_grid(width):
    from basketcli.evaluation.metrics import HEADLINE_KEYS
    from basketcli.workflows.grid import GridResult, heatmap_of

    row = {"model": "attngru", **{k: 0.1234 + i / 100 for i, k in enumerate(HEADLINE_KEYS)},
           "fit seconds": 12.5}
    text = rendered(metrics_tables([row], "validation", extra_columns=("fit seconds",),
                                   width=width), width)
    assert all(f"{row[k]:.4f}" in text for k in HEADLINE_KEYS) and "12.50" in text
    rows = [{"pos_weight": pw, "threshold": t, "f1_micro": 0.1 * pw + t / 10,
             "precision@10": 0.2, "recall@10": 0.3 + t / 100, "ndcg@10": 0.4, "run": "r"}
            for pw in (1.0, 5.0) for t in (0.3, 0.4)]
    grid = GridResult(model="cnngru", out="grids/cnngru", sort="f1_micro",
                      param_names=["pos_weight", "threshold"], rows=rows, best=rows[0],
                      test=rows[0], runs_total=2, runs_fitted=2,
                      heatmap=heatmap_of(rows, ["pos_weight", "threshold"], "f1_micro"))
    text = rendered(grid_report(grid, width), width)
    for r in rows:
        assert f"{r['f1_micro']:.4f}" in text and f"{r['recall@10']:.4f}" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_params_table_shows_every_default_and_allowed_value(width):
    from basketcli.settings import describe_params
    from basketcli_models.neural.attngru import AttnGRU

    rows = describe_params(AttnGRU.Config)
    text = rendered(params_report("attngru", rows, width), width)
    flat = " ".join(text.split())
    for row in rows:
        assert row["name"] in text
        assert row["default"].replace(" ", "") in flat.replace(" ", ""), row


def builtin_models() -> list[str]:
    from basketcli import registry

    return [name for name in registry.list_models()
            if registry.describe_models(name)[0]["distribution"] == "basket"]


@pytest.mark.parametrize("width", (60, 80, 200))
def test_models_params_never_cuts_a_name_type_or_default(invoke, monkeypatch, width):
    """Every setting of every built-in model, at any width: its name whole on a line (it can be
    copied), its type and default whole (wrapped between words at most), no line too wide."""
    from basketcli import registry
    from basketcli.cli import ui
    from basketcli.settings import describe_params

    monkeypatch.setattr(ui.console, "width", width)  # what $COLUMNS sets when basket starts
    names = builtin_models()
    assert {"tifuknn", "xgboost", "stack", "attngru"} <= set(names)
    for model in names:
        r = invoke("models", "--params", model)
        assert r.exit_code == 0, r.output
        assert "…" not in r.stdout and all(len(line) <= width for line in r.stdout.splitlines())
        words = {word for line in r.stdout.splitlines() for word in line.replace("│", " ").split()}
        flat = " ".join(r.stdout.replace("│", " ").split())
        cls = registry.get_model_class(model)
        for row in describe_params(cls.Config, cls.search_space()):
            assert row["name"] in words, (model, width, row["name"])
            for field in ("type", "default", "tune"):
                assert " ".join(row[field].split()) in flat, (model, width, field, row)


def test_models_params_at_80_columns_as_a_user_runs_it():
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from basketcli.cli import main; main()",
                           "models", "--params", "xgboost"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "min_child_weight  float" in lines and "colsample_bytree  float" in lines
    assert all(len(line) <= 80 for line in lines)


def test_models_params_table_where_it_fits_blocks_where_it_does_not():
    from basketcli import registry
    from basketcli.settings import describe_params

    xgboost = registry.get_model_class("xgboost")
    rows = describe_params(xgboost.Config, xgboost.search_space())
    wide = rendered(params_report("xgboost", rows, 200), 200)
    assert "┃ name" in wide and "min_child_weight " in wide
    narrow = rendered(params_report("xgboost", rows, 80), 80)
    assert "┃" not in narrow
    assert "\nmin_child_weight  float\n  default 5.0; tune searches 1 to 50 (log)\n" in narrow
    assert "exclude_features  list[str]" in narrow  # a type in brackets is text, not markup
    assert "--set exclude_features=a,b" in narrow


def test_csv_and_markdown_hold_every_metric_and_interval(compared, invoke, monkeypatch):
    from basketcli.render import records_markdown
    from basketcli.reports import rows_csv

    records = compared.records()
    table = list(csv.DictReader(io.StringIO(rows_csv(records))))
    assert [r["model"] for r in table] == [m.name for m in compared.models]
    for model, row in zip(compared.models, table, strict=True):
        assert float(row["recall@10"]) == pytest.approx(model.metrics["recall@10"])
        assert float(row["recall@10 low"]) == pytest.approx(model.intervals["recall@10"][0])
    markdown = records_markdown(records)
    assert markdown.splitlines()[0].startswith("| model | source |")
    assert f"{compared.models[0].metrics['ndcg@10']:.4f}" in markdown


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_result_commands_take_format(invoke, tiny_csv, fmt):
    r = invoke("evaluate", "--model", "ptopfreq", "--data", tiny_csv, "--format", fmt,
               "--bootstrap", "50")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("model," if fmt == "csv" else "| model |")
    r = invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--format", fmt, "--out",
               tiny_csv.parent / f"run-{fmt}")
    assert r.exit_code == 0, r.output
    assert "recall@10" in r.stdout.splitlines()[0]


@pytest.mark.parametrize("columns", [None, "80"])
def test_compare_piped_shows_every_number_in_80_columns(invoke, tiny_csv, columns):
    """As a user runs it: a separate process, output piped (Rich then takes $COLUMNS, else 80)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    args = ["compare", "--models", "tifuknn", "--data", str(tiny_csv), "--bootstrap", "50"]
    done = subprocess.run([sys.executable, "-c", "from basketcli.cli import main; main()",
                           *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    assert "…" not in done.stdout
    r_json = invoke(*args, "--json")
    for model in json.loads(r_json.stdout)["models"]:
        for key in ("recall@10", "ndcg@10", "basket_f1"):
            assert f"{model['metrics'][key]:.4f}" in done.stdout


def test_unknown_format_or_metric_is_one_line(invoke, tiny_csv):
    from conftest import one_line_error

    one_line_error(invoke("compare", "--models", "ptopfreq", "--data", tiny_csv, "--format",
                          "xml"), "--format 'xml'", "csv")
    one_line_error(invoke("compare", "--models", "ptopfreq", "--data", tiny_csv, "--metrics",
                          "recal@10"), "--metrics 'recal@10'", "did you mean recall@10")


def test_versus_text_is_one_line_with_or_without_the_interval():
    v = Versus(reference="tifuknn", difference=0.0123, low=-0.0011, high=0.0234, p_value=0.08,
               verdict="no significant difference")
    assert versus_text(v) == "+0.0123 [-0.0011, +0.0234] n.s."
    better = v.model_copy(update={"verdict": "better"})
    assert versus_text(better, interval=False) == "+0.0123 better"
