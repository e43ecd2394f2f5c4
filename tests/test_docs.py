"""docs/plugins.md is executed, block by block, so the plugin guide cannot drift from the code.

- python blocks run in order in one namespace, in a subprocess (the guide's torch model must not
  import torch into the test process); ``test_*`` functions they define are then called.
- shell blocks run in order as one bash script (``cd`` carries over) in a temporary folder:
  ``basket new-plugin``, the new package's own tests, ``basket models`` and ``compare`` on the
  bundled sample, BASKET_LOAD_PLUGINS, uninstalling. Blocks marked ``<!-- docs-test: slow -->``
  (``train``/``evaluate``/``grid``/``predict`` with the new model, building the wheel: about
  25 s more) run only in the slow test; by default they are syntax-checked.
- toml blocks are parsed and checked against what ``basket new-plugin`` writes.

Default tests never pip-install into the environment: there the script's ``pip`` is a shell
function that "installs" the new package the way pip would make it visible, by putting its
folder and a ``.dist-info`` with its entry points on PYTHONPATH (importlib.metadata finds
entry points there). The slow test runs the same blocks with the real pip, installing into the
current environment and uninstalling at the end.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
FENCE = re.compile(r"^(<!-- docs-test: slow -->\n)?```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
LANGUAGES = {"python", "shell", "toml"}
PLUGIN = "mymodel"


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int  # line of the block's first code line in the guide
    slow: bool  # marked <!-- docs-test: slow -->: runs only in the slow test


def blocks(language: str | None = None, path: Path = GUIDE) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = [
        Block(m.group(2), m.group(3), text.count("\n", 0, m.start(2)) + 2, bool(m.group(1)))
        for m in FENCE.finditer(text)
    ]
    return [b for b in found if language is None or b.language == language]


def test_every_block_is_one_the_tests_execute():
    found = blocks()
    assert found, "no code blocks found in docs/plugins.md"
    unknown = [(b.line, b.language) for b in found if b.language not in LANGUAGES]
    assert not unknown, f"blocks the docs tests would not execute (line, language): {unknown}"
    assert all(b.language == "shell" for b in found if b.slow), "only shell blocks may be slow"


def test_guide_is_linked_from_the_template_readme():
    assert "docs/plugins.md" in (ROOT / "examples" / "plugin-template" / "README.md").read_text()


# --- toml --------------------------------------------------------------------------------------
def test_toml_blocks_match_what_new_plugin_writes(tmp_path):
    from basketcli.workflows.new_plugin import create_plugin

    folder, _, _ = create_plugin(PLUGIN, tmp_path)
    generated = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [block] = blocks("toml")
    documented = tomllib.loads(block.code)["project"]
    assert documented["name"] == generated["name"]
    assert documented["entry-points"] == generated["entry-points"]
    assert documented["dependencies"][0] == generated["dependencies"][0]  # the basket pin


# --- python ------------------------------------------------------------------------------------
def run_python_blocks(guide: Path) -> None:
    """Subprocess side: exec every python block, then call the test functions they define."""
    from basketcli.testing import check_model

    namespace: dict = {"__name__": "docs_plugins"}
    for block in blocks("python", guide):
        # Padding with newlines makes tracebacks point at the guide's own line numbers.
        code = compile("\n" * (block.line - 1) + block.code, str(guide), "exec")
        exec(code, namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    for test in tests:
        with tempfile.TemporaryDirectory() as tmp:
            fixtures = {
                "tmp_path": Path(tmp),
                "basket_check_model": lambda model, **kw: check_model(
                    model, work_dir=Path(tmp) / "fixture", **kw),
            }
            test(**{p: fixtures[p] for p in inspect.signature(test).parameters})
    print(f"ran {len(tests)} documented tests: {', '.join(t.__name__ for t in tests)}")


def test_python_blocks_run():
    result = subprocess.run(
        [sys.executable, __file__, "--run-python-blocks", str(GUIDE)], capture_output=True,
        text=True, timeout=300, env={**os.environ, "COLUMNS": "200"}, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    out = result.stdout
    assert "'class', 'config', 'fit', 'score'" in out  # print(report.checks)
    assert re.search(r"│ recent\s+│", out), out  # the compare table has the documented model
    assert "ran 2 documented tests" in out


# --- shell -------------------------------------------------------------------------------------
SIMULATED_PIP = """
# docs test: pip without touching the environment (see tests/test_docs.py)
pip() {
  case "$1" in
    install)
      [ "$2" = "-e" ] || { echo "docs test: unexpected 'pip $*'" >&2; return 1; }
      local project; project="$(cd "$3" && pwd)"
      python "$DOCS_TEST" --fake-install "$project" "$FAKE_SITE"
      export PYTHONPATH="$FAKE_SITE:$project" ;;
    uninstall)
      rm -rf "$FAKE_SITE"; unset PYTHONPATH ;;
    wheel)
      python -m pip "$@" --no-build-isolation ;;  # builds offline, installs nothing
    *)
      echo "docs test: unexpected 'pip $*'" >&2; return 1 ;;
  esac
}
"""


def fake_install(project: Path, site: Path) -> None:
    """Subprocess side: the .dist-info pip would write, so the entry points are found."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    lines = []
    for group, points in meta.get("entry-points", {}).items():
        lines += [f"[{group}]", *(f"{name} = {value}" for name, value in points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def shell_script(simulated: bool, slow: bool) -> str:
    parts = ["set -euo pipefail", SIMULATED_PIP if simulated else ""]
    for block in blocks("shell"):
        if slow or not block.slow:
            parts.append(f"# docs/plugins.md line {block.line}\nset -x\n{block.code}set +x")
    # After the guide's last block (uninstall), the model must be gone.
    parts.append("basket models --json > {after}")
    return "\n".join(parts)


def run_shell_blocks(tmp_path: Path, simulated: bool, slow: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BASKET_LOAD_PLUGINS", "PYTHONPATH")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="200", DOCS_TEST=str(Path(__file__).resolve()),
        FAKE_SITE=str(tmp_path / "fake-site-packages"),
    )
    work = tmp_path / "work"
    work.mkdir()
    script = shell_script(simulated, slow).replace("{after}", str(tmp_path / "after.json"))
    return subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def check_shell_run(result: subprocess.CompletedProcess, tmp_path: Path, slow: bool) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + "\n" + result.stderr[-6000:]
    out = result.stdout
    assert "created my-plugins/basket-mymodel" in out
    assert re.search(r"\d+ passed", out)  # the new package's own tests
    assert re.search(rf"│ {PLUGIN}\s+│ Repeat/explore mixture", out), out  # basket models
    assert re.search(rf"│ {PLUGIN}\s+│\s+0\.\d+", out), out  # its compare row
    assert re.search(r"│ ptopfreq\s+│\s+0\.\d+", out), out
    after = json.loads((tmp_path / "after.json").read_text())
    assert PLUGIN not in {row["name"] for row in after["models"]}  # uninstalled
    if slow:
        package = tmp_path / "work" / "my-plugins" / "basket-mymodel"
        assert (package / "runs" / PLUGIN / "basket.json").is_file()  # train
        assert re.search(rf"│ {PLUGIN} \(runs/{PLUGIN}\)\s+│", out), out  # evaluate
        assert (package / "grids" / PLUGIN / "grid.json").is_file()  # grid
        assert re.search(r"│\s+1 │ .* │\s+24852 │", out), out  # predict
        assert list((package / "dist").glob("basket_mymodel-0.1.0-*.whl"))  # publish


def test_shell_blocks_run_with_a_simulated_install(tmp_path):
    check_shell_run(run_shell_blocks(tmp_path, simulated=True, slow=False), tmp_path, slow=False)


def test_slow_shell_blocks_are_valid_bash():
    for block in blocks("shell"):
        result = subprocess.run(["bash", "-n"], input=block.code, capture_output=True,
                                text=True, check=False)
        assert result.returncode == 0, f"docs/plugins.md line {block.line}: {result.stderr}"


@pytest.mark.slow
def test_every_shell_block_runs_with_pip(tmp_path):
    """The guide word for word, with the real pip: installs into this environment, then removes."""
    try:
        result = run_shell_blocks(tmp_path, simulated=False, slow=True)
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "basket-mymodel"],
                       capture_output=True, check=False)
    check_shell_run(result, tmp_path, slow=True)


# --- basket new-plugin, the guide's first command ---------------------------------------------
def test_new_plugin_fills_in_every_name(tmp_path):
    from basketcli.workflows.new_plugin import create_plugin

    folder, names, files = create_plugin("my_model", tmp_path)
    assert folder == tmp_path / "basket-my-model"
    assert sorted(f.as_posix() for f in files) == [
        ".gitignore", "README.md", "basket_my_model.py", "pyproject.toml",
        "tests/test_basket_my_model.py",
    ]
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == "basket-my-model"
    assert project["project"]["entry-points"]["basketcli.models"] == {
        "my_model": "basket_my_model:MyModel"}
    assert project["tool"]["setuptools"]["py-modules"] == ["basket_my_model"]
    for file in files:
        text = (folder / file).read_text()
        assert "remix" not in text.lower(), f"{file} still names the template"
    assert "template-only" not in (folder / "README.md").read_text()
    assert (names.model, names.class_name) == ("my_model", "MyModel")


def test_new_plugin_model_meets_the_contract(tmp_path, monkeypatch):
    import importlib

    from basketcli.testing import check_model
    from basketcli.workflows.new_plugin import create_plugin

    folder, _, _ = create_plugin("fresh", tmp_path)
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("basket_fresh")
    try:
        report = check_model(module.Fresh, work_dir=tmp_path)
    finally:
        sys.modules.pop("basket_fresh", None)
    assert report.model == "fresh" and "repeatable" in report.checks


def test_new_plugin_refuses_an_existing_folder(invoke, tmp_path):
    first = invoke("new-plugin", "twice", "--dir", tmp_path)
    assert first.exit_code == 0, first.output
    module = tmp_path / "basket-twice" / "basket_twice.py"
    module.write_text("# edited by its author\n")
    again = invoke("new-plugin", "twice", "--dir", tmp_path)
    assert again.exit_code == 2
    assert again.stderr.strip() == (
        f"error: {tmp_path / 'basket-twice'}: already exists; choose another --dir or NAME "
        "(nothing was overwritten)")
    assert module.read_text() == "# edited by its author\n"
    assert [p.name for p in tmp_path.iterdir()] == ["basket-twice"]  # no staging left behind


@pytest.mark.parametrize(("name", "reason"), [
    ("My-Model", "use lowercase letters, digits and single underscores"),
    ("2fast", "starting with a letter"),
    ("double__underscore", "single underscores"),
    ("a_name_that_is_too_long", "at most 20 characters"),
    ("model", "its class ModelConfig would shadow ModelConfig"),
    ("basket_data", "its class BasketData would shadow BasketData"),
    ("tifuknn", "a model of that name is already installed (from basket)"),
])
def test_new_plugin_refuses_bad_names_in_one_line(invoke, tmp_path, name, reason):
    result = invoke("new-plugin", name, "--dir", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: NAME {name!r}: ")
    assert reason in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()


def test_new_plugin_refuses_a_file_as_dir(invoke, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("")
    result = invoke("new-plugin", "okname", "--dir", target)
    assert result.exit_code == 2
    assert "not a folder" in result.stderr


def test_new_plugin_json_lists_what_it_wrote(invoke, tmp_path):
    result = invoke("new-plugin", "listed", "--dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["distribution"] == "basket-listed" and payload["class_name"] == "Listed"
    assert "basket_listed.py" in payload["files"]


if __name__ == "__main__":
    if sys.argv[1] == "--run-python-blocks":
        run_python_blocks(Path(sys.argv[2]))
    elif sys.argv[1] == "--fake-install":
        fake_install(Path(sys.argv[2]), Path(sys.argv[3]))
