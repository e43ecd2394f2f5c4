"""Made for schedulers and logs: off a terminal, long stages print plain `progress: ` lines on
stderr (never on stdout, whatever the output format); --quiet / BASKET_QUIET=1 leaves errors
only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

from basketcli.cli import ui


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def task(total: int | None, clock: Clock) -> tuple[ui.LineTask, list[str]]:
    lines: list[str] = []
    return ui.LineTask("scoring tifuknn", total, lines.append, clock), lines


def test_a_long_stage_prints_a_line_every_interval_and_one_when_done():
    clock = Clock()
    stage, lines = task(10_000, clock)
    with stage:
        for _ in range(10):  # 1,024 customers every 10 s: lines at 30, 60 and 90 s
            clock.now += 10
            stage.advance(1024)
        clock.now += 4.4
        stage.advance(10_000 - 10 * 1024)
    assert lines == [
        "progress: scoring tifuknn 3,072/10,000 (31%), 30 s elapsed, about 1 min left",
        "progress: scoring tifuknn 6,144/10,000 (61%), 1 min elapsed, about 38 s left",
        "progress: scoring tifuknn 9,216/10,000 (92%), 1 min 30 s elapsed, about 8 s left",
        "progress: scoring tifuknn done, 10,000 in 1 min 44 s",
    ]


def test_the_interval_is_a_constant_and_a_count_without_total_has_no_estimate(monkeypatch):
    monkeypatch.setattr(ui, "PROGRESS_INTERVAL", 5.0)
    clock = Clock()
    stage, lines = task(None, clock)
    with stage:
        clock.now += 6
        stage.advance(1024)
        clock.now += 2
        stage.advance(1)  # within 5 s of the last line: nothing
    assert lines == ["progress: scoring tifuknn 1,024, 6 s elapsed",
                     "progress: scoring tifuknn done, 1,025 in 8 s"]


def test_a_stage_under_a_second_or_one_that_fails_prints_nothing():
    clock = Clock()
    stage, lines = task(10, clock)
    with stage:
        clock.now += 0.9
        stage.advance(10)
    assert lines == []
    stage, lines = task(10, clock)
    with pytest.raises(KeyboardInterrupt), stage:
        clock.now += 50
        raise KeyboardInterrupt
    assert lines == []  # the error says what happened; no "done"


@pytest.mark.parametrize(("seconds", "text", "rough"), [
    (0.4, "0 s", "0 s"), (42, "42 s", "42 s"), (59.6, "1 min", "1 min"),
    (185, "3 min 5 s", "3 min"), (725, "12 min", "12 min"), (3599, "1 h", "1 h"),
    (4800, "1 h 20 min", "1 h 20 min"),
])
def test_durations(seconds, text, rough):
    assert ui.duration(seconds) == text and ui.duration(seconds, rough=True) == rough


@pytest.fixture
def every_stage_shows(monkeypatch):
    """Tiny data makes every stage quick: show them all, at every advance."""
    monkeypatch.setattr(ui, "PROGRESS_MIN_SECONDS", 0.0)
    monkeypatch.setattr(ui, "PROGRESS_INTERVAL", 0.0)


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_progress_goes_to_stderr_whatever_the_format(invoke, tiny_csv, every_stage_shows, fmt):
    r = invoke("compare", "--models", "ptopfreq", "--data", tiny_csv, "--bootstrap", "20",
               "--format", fmt)
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert "progress: scoring ptopfreq done, 30 in 0 s" in lines, lines
    assert all(line.startswith("progress: ") for line in lines), lines
    assert "progress: " not in r.stdout
    if fmt == "json":
        assert json.loads(r.stdout)["models"]


def test_quick_commands_print_nothing_on_stderr(invoke, tiny_csv):
    r = invoke("compare", "--models", "ptopfreq", "--data", tiny_csv, "--bootstrap", "20",
               "--json")
    assert r.exit_code == 0 and r.stderr == "", r.stderr


def test_progress_lines_may_come_before_a_one_line_error():
    from types import SimpleNamespace

    from conftest import one_line_error

    stderr = ("progress: scoring tifuknn done, 10,000 in 42 s\nepoch 1: loss 0.5\n"
              "error: training diverged\n")
    failed = SimpleNamespace(exit_code=2, stderr=stderr, output=stderr)
    assert one_line_error(failed, "diverged") == "error: training diverged"
    with pytest.raises(AssertionError):
        one_line_error(SimpleNamespace(exit_code=2, stderr="note\n" + stderr, output=""))


@pytest.mark.parametrize("how", ["option", "environment"])
def test_quiet_prints_results_and_errors_only(invoke, tiny_csv, tmp_path, every_stage_shows,
                                              monkeypatch, how):
    quiet = ["--quiet"] if how == "option" else []
    if how == "environment":
        monkeypatch.setenv("BASKET_QUIET", "1")
    # a warning (grid: --threshold means nothing to a ranker) and progress: none of it shows
    r = invoke(*quiet, "grid", "--model", "ptopfreq", "--param", "seed=0,1", "--threshold",
               "0.3", "--data", tiny_csv, "--out", tmp_path / "grid", "--format", "csv")
    assert r.exit_code == 0, r.output
    assert r.stderr == "" and r.stdout.startswith("seed,")
    assert (tmp_path / "grid" / "grid.csv").is_file()  # files are still written
    r = invoke(*quiet, "train", "--model", "ptopfreq", "--data", tiny_csv, "--out",
               tmp_path / "run")
    assert r.exit_code == 0 and r.stderr == "" and "recall@10" in r.stdout
    assert (tmp_path / "run" / "basket.json").is_file()
    r = invoke(*quiet, "compare", "--models", "nosuchmodel", "--data", tiny_csv)
    assert r.exit_code == 2 and r.stderr.startswith("error: unknown model 'nosuchmodel'")
    assert len(r.stderr.strip().splitlines()) == 1


def test_quiet_ends_with_its_command(invoke, tiny_csv, tmp_path, every_stage_shows):
    grid = ["grid", "--model", "ptopfreq", "--param", "seed=0,1", "--threshold", "0.3",
            "--data", tiny_csv, "--format", "csv"]
    assert invoke("--quiet", *grid, "--out", tmp_path / "a").stderr == ""
    after = invoke(*grid, "--out", tmp_path / "b").stderr
    assert "warning: --threshold ignored" in after and "progress: grid ptopfreq done" in after


def test_quiet_drops_warnings_notes_progress_and_python_warnings(capsys):
    with ui.command_output(True):
        warnings.warn("not shown", UserWarning, stacklevel=1)
        ui.warn("nor this")
        ui.note("nor this note")
        with ui.progress_bars() as progress, progress("a stage", 3) as stage:
            stage.advance(3)
    assert capsys.readouterr().err == ""
    assert not ui.quiet()
    with ui.command_output(False):
        ui.warn("shown")
    assert capsys.readouterr().err == "warning: shown\n"


def test_a_process_that_does_not_report_shows_no_progress(monkeypatch, capsys):
    monkeypatch.setattr(ui, "PROGRESS_MIN_SECONDS", 0.0)
    with ui.progress_bars(shown=False) as progress, progress("epoch 1/1", 2) as stage:
        stage.advance(2)
    with ui.progress_bars(bars=False) as progress, progress("epoch 1/1", 2) as stage:
        stage.advance(2)  # off a terminal, lines whatever ``bars`` says
    assert capsys.readouterr().err == "progress: epoch 1/1 done, 2 in 0 s\n"


def test_a_scheduler_sees_progress_lines(tiny_csv):
    """As a scheduler runs it: a separate process, stderr a pipe (stages shown from 0 s)."""
    script = ("from basketcli.cli import main, ui; ui.PROGRESS_MIN_SECONDS = 0.0; "
              "main()")
    done = subprocess.run(
        [sys.executable, "-c", script, "evaluate", "--model", "tifuknn", "--data",
         str(tiny_csv), "--bootstrap", "20", "--json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["models"][0]["name"] == "tifuknn"
    assert "progress: scoring tifuknn done, 30 in " in done.stderr, done.stderr
