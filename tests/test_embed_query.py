"""`basket embed`: refusing to overwrite without --force, querying an existing EV file with
--ev, and the catalog recorded in the EV file."""

from __future__ import annotations

import json

from conftest import one_line_error

FAST = ["--dim", "4", "--epochs", "1", "--context", "20"]


def test_out_is_not_overwritten_without_force(invoke, tiny_csv, tmp_path):
    out = tmp_path / "ev.npz"
    assert invoke("embed", "--data", tiny_csv, *FAST, "--out", out).exit_code == 0
    before = out.read_bytes()
    one_line_error(invoke("embed", "--data", tiny_csv, *FAST, "--out", out, "--seed", "1"),
                   "already exists", "--force")
    assert out.read_bytes() == before
    r = invoke("embed", "--data", tiny_csv, *FAST, "--out", out, "--seed", "1", "--force")
    assert r.exit_code == 0, r.output
    assert out.read_bytes() != before


def test_an_existing_ev_file_answers_neighbours_without_training(invoke, tiny_csv, tmp_path):
    out = tmp_path / "ev.npz"
    trained = invoke("embed", "--data", tiny_csv, *FAST, "--out", out, "--neighbors", "3",
                     "--json")
    assert trained.exit_code == 0, trained.output
    expected = json.loads(trained.stdout)
    assert expected["catalog"] is None and expected["catalog_columns"] == 0
    queried = invoke("embed", "--data", tiny_csv, "--ev", out, "--neighbors", "3", "--json")
    assert queried.exit_code == 0, queried.output
    result = json.loads(queried.stdout)
    assert result["neighbors"] == expected["neighbors"] and result["epochs"] is None
    r = invoke("embed", "--data", tiny_csv, "--ev", out, "--neighbors", "3")
    assert r.exit_code == 0 and "nearest to 3" in r.stdout
    one_line_error(invoke("embed", "--data", tiny_csv, "--ev", out), "--ev FILE goes with")
    one_line_error(invoke("embed", "--data", tiny_csv), "give --out FILE")
