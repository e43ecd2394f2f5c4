"""Bad input across the commands: one line naming the input, exit code 2, no traceback, and no
file left behind."""

import json

import pytest


@pytest.fixture
def bad(tmp_path_factory, tiny_csv, invoke):
    """A folder of bad inputs, plus a few run directories in various broken states."""
    root = tmp_path_factory.mktemp("bad")
    files = {
        "empty.csv": "",
        "no_product.csv": "user_id,order_number,item\n1,1,5\n",
        "text_id.csv": "user_id,order_number,product_id\n1,1,abc\n1,2,5\n1,3,5\n1,4,5\n",
        "int_catalog.csv": "product_id,product_name\n5,Five\n",
        "one_order.csv": "user_id,order_number,product_id\n1,1,5\n2,1,6\n",
        "bad_time.csv": "user_id,timestamp,product_id\n1,yesterday,5\n",
        "no_order_col.csv": "user_id,product_id\n1,5\n",
        "data.txt": "hello\n",
        "garbage.parquet": "not parquet at all",
        "catalog_no_name.csv": "product_id,title\n1,x\n",
        "bad.json": "{not json",
        "list.json": "[1, 2]",
        "bad.toml": "k = = 3",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "folder").mkdir()
    run = root / "run"
    assert invoke("train", "--model", "ptopfreq", "--data", tiny_csv, "--out", run).exit_code == 0
    for name, edit in {
        "corrupt_json": lambda d: (d / "basket.json").write_text("{oops"),
        "newer_schema": lambda d: _patch(d, schema_version=99),
        "incomplete": lambda d: _patch(d, complete=False),
        "other_plugin": lambda d: _patch(d, plugin_distribution="someone-else"),
        "uninstalled_model": lambda d: _patch(d, model="ghostmodel"),
        "corrupt_state": lambda d: (d / "model.npz").write_bytes(b"\x00garbage"),
        "missing_state": lambda d: (d / "model.npz").unlink(),
        "truncated_state": lambda d: (d / "model.npz").write_bytes(
            (d / "model.npz").read_bytes()[:200]),
        "corrupt_bundle": lambda d: (d / "model.json").write_text("{"),
    }.items():
        copy = root / name
        _copy_tree(run, copy)
        edit(copy)
    (root / "not_a_run").mkdir()
    return root


def _copy_tree(src, dst):
    import shutil

    shutil.copytree(src, dst)


def _patch(run, **changes):
    info = json.loads((run / "basket.json").read_text())
    info.update(changes)
    (run / "basket.json").write_text(json.dumps(info))


# (command line with {b} = bad-input folder and {csv} = a good tiny data file, text the message
#  must contain). Every case must exit 2 with one line and create no file.
CASES = [
    ("compare --models ptopfreq --data {b}/missing.csv", "missing.csv"),
    ("compare --models ptopfreq --data {b}/empty.csv", "empty"),
    ("compare --models ptopfreq --data {b}/no_product.csv", "product_id"),
    ("compare --models ptopfreq --data {b}/text_id.csv --catalog {b}/int_catalog.csv",
     "integer ids where the data has text ids"),
    ("compare --models ptopfreq --data {b}/one_order.csv", "no customer has 4 or more orders"),
    ("compare --models ptopfreq --data {b}/one_order.csv --min-orders 1", "at least 3 orders"),
    ("compare --models ptopfreq --data {b}/bad_time.csv", "timestamp"),
    ("compare --models ptopfreq --data {b}/no_order_col.csv", "order_number"),
    ("compare --models ptopfreq --data {b}/data.txt", "data.txt"),
    ("compare --models ptopfreq --data {b}/garbage.parquet", "garbage.parquet"),
    ("compare --models ptopfreq --data {b}/folder", "orders.csv"),
    ("compare --models nosuchmodel --data {csv}", "nosuchmodel"),
    ("compare --models ptopfrq --data {csv}", "did you mean ptopfreq"),
    ("compare --models , --data {csv}", "--models"),
    ("compare --models ptopfreq --data {csv} --sizing bogus", "--sizing"),
    ("compare --models ptopfreq --data {csv} --sizing top-k:x", "--sizing"),
    ("evaluate --model tifuknn --data {csv} --set kk=3", "kk"),
    ("evaluate --model tifuknn --data {csv} --set k=abc", "k='abc'"),
    ("evaluate --model tifuknn --data {csv} --set alpha=2", "alpha"),
    ("evaluate --model tifuknn --data {csv} --set nonsense", "key=value"),
    ("evaluate --data {csv}", "RUN_DIR"),
    ("evaluate {b}/no_such_run", "no_such_run"),
    ("evaluate {b}/not_a_run", "not a basket run directory"),
    ("evaluate {b}/corrupt_json", "corrupt"),
    ("evaluate {b}/newer_schema", "newer"),
    ("evaluate {b}/incomplete", "incomplete"),
    ("evaluate {b}/other_plugin", "someone-else"),
    ("evaluate {b}/uninstalled_model", "ghostmodel"),
    ("evaluate {b}/corrupt_state", "model.npz"),
    ("evaluate {b}/missing_state", "model.npz: missing"),
    ("evaluate {b}/truncated_state", "model.npz: 200 bytes where"),
    ("evaluate {b}/corrupt_bundle", "model.json: corrupt"),
    ("evaluate {b}/run --data {csv} --top-items 5", "vocabulary"),
    ("train --model ptopfreq --data {csv} --out {b}/run", "already holds a run"),
    ("train --model ptopfreq --data {csv} --out {out} --config {b}/nothing.toml", "nothing.toml"),
    ("train --model ptopfreq --data {csv} --out {out} --config {b}/bad.toml", "bad.toml"),
    ("train --model ptopfreq --data {csv} --out {out} --config {b}/list.json", "list.json"),
    ("train --model tifuknn --data {csv} --out {out} --set k=0", "k="),
    ("train --model nosuchmodel --data {csv} --out {out}", "nosuchmodel"),
    ("data info --data {csv} --catalog {b}/nothing.csv", "nothing.csv"),
    ("data info --data {csv} --catalog {b}/catalog_no_name.csv", "product_name"),
    ("data info --data {csv} --top-items 0", "--top-items"),
    ("evaluate --model ptopfreq --data {csv} --threshold 2", "--threshold"),
    ("models --params nosuchmodel", "nosuchmodel"),
]


@pytest.mark.parametrize(("line", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(invoke, bad, tiny_csv, tmp_path, monkeypatch,
                                          line, fragment):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out_run"
    args = line.format(b=bad, csv=tiny_csv, out=out).split()
    before_bad = sorted(p.name for p in bad.rglob("*"))
    before_cwd = sorted(p.name for p in tmp_path.rglob("*"))
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert fragment in result.output, result.output
    if "Usage:" not in result.output:  # Typer's own usage errors come in a box
        # One error line, after any one-line warnings about the data.
        lines = [ln for ln in result.stderr.splitlines()
                 if ln.strip() and not ln.startswith("warning: ")]
        assert len(lines) == 1, result.stderr
        assert result.stdout == ""
    assert sorted(p.name for p in bad.rglob("*")) == before_bad, "a file was left behind"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before_cwd, "a file was left behind"


def test_the_table_is_large_enough():
    assert len(CASES) >= 25
