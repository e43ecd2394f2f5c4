"""README.md's ```bash blocks run as written, in order, from a fresh clone.

Every command of every bash block is taken apart (``#`` comments dropped, ``&&`` chains split)
and handled by what it is:

- the set-up installs (``pip install ...``) and the test suite itself are only checked to be
  there: the tests run inside an installed environment;
- ``ruff check ...`` runs in the checkout (what it reads), without a cache;
- every ``basket`` command runs in a temporary folder holding a link to ``examples/`` (what
  the commands read), so ``runs/``, ``tuned/`` and ``grids/`` land there, each in a new process
  as a user runs it. Those of more than ~20 s on 2 cores (``SLOW``) run in the slow test only
  (``-m slow``), with all the others in README order; the default test runs the rest (about
  20 s).

A command the test does not know how to handle fails it, so a new README command is either run
or listed here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)

# The two set-up commands, checked to be there (never run: they install into the environment).
SET_UP = (
    "pip install torch==2.13.0 && pip install -e '.[completejourney]' && basket compare",
    "pip install torch==2.13.0 && pip install -e '.[dev,dask]' && python -m pytest -q",
)
NOT_RUN = {"pip", "python -m pytest"}  # installs and the test suite itself
# Commands of more than ~20 s on 2 cores (and one that reads what such a command wrote).
SLOW = {
    "basket compare": "every installed model, the neural ones too: about 5 min",
    "basket tune --model xgboost --budget 10m": "10 min, as asked",
    "basket train --model xgboost --config tuned/xgboost/best.json --out runs/xgb":
        "reads tune's best.json",
}


def commands() -> list[list[str]]:
    """Every command of README's bash blocks, in order, as argument lists."""
    found = []
    for block in BASH_BLOCK.findall(README.read_text(encoding="utf-8")):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                found.append(words[:cut])
                words = words[cut + 1:]
    return found


def kind(command: list[str]) -> str:
    text = " ".join(command)
    if text.startswith(tuple(NOT_RUN)):
        return "not run"
    if command[0] == "ruff":
        return "ruff"
    if command[0] == "basket":
        return "slow" if text in SLOW else "fast"
    return "unknown"


def run_readme(tmp_path: Path, slow: bool) -> list[str]:
    """Run README's commands in order (the slow ones too with ``slow``); returns those run."""
    work = tmp_path / "clone"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    ran = []
    for command in commands():
        how = kind(command)
        if how == "not run" or (how == "slow" and not slow):
            continue
        text = " ".join(command)
        if how == "ruff":
            executable = shutil.which("ruff")
            assert executable, "ruff is not installed (it is in the dev extra)"
            done = subprocess.run([executable, *command[1:]], cwd=ROOT, capture_output=True,
                                  text=True, timeout=120,
                                  env={**os.environ, "RUFF_NO_CACHE": "true"})
        else:
            done = subprocess.run(
                [sys.executable, "-c", "from basketcli.cli import main; main()", *command[1:]],
                cwd=work, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"README: {text}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ran.append(text)
    # What the walk wrote is there and whole.
    assert (work / "runs" / "tifu" / "basket.json").is_file()
    assert (work / "grids" / "gp" / "grid.csv").is_file()
    predictions = json.loads((work / "predictions.json").read_text())
    assert predictions["customers"][0]["basket"][0]["name"]  # names from the catalog
    return ran


def test_the_set_up_commands_are_there_and_every_command_is_known():
    text = README.read_text(encoding="utf-8")
    for set_up in SET_UP:
        assert f"```bash\n{set_up}\n```" in text, set_up
    found = commands()
    unknown = [" ".join(c) for c in found if kind(c) == "unknown"]
    assert not unknown, f"README commands the test does not run: {unknown}"
    listed = {" ".join(c) for c in found}
    assert set(SLOW) <= listed, set(SLOW) - listed  # SLOW names README's commands word for word
    assert sum(kind(c) == "fast" for c in found) >= 10


def test_the_readme_commands_run(tmp_path):
    ran = run_readme(tmp_path, slow=False)
    assert "basket train --model ptopfreq --data completejourney --out runs/cj" in ran
    assert not set(SLOW) & set(ran)


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path):
    ran = run_readme(tmp_path, slow=True)
    assert set(SLOW) <= set(ran)
