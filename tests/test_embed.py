"""`basket embed`: co-occurrence inputs, the EV file, neighbours, and EV files models refuse."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import invented_name, one_line_error

from basketcli.data.ev_file import EmbeddingFile, align_vectors, nearest, read_ev, write_ev
from basketcli.data.split import leave_last_out
from basketcli.engine.autoencoder import cooccurrence_inputs
from basketcli.errors import ArtifactError, ConfigError

FAST = ("--dim", "8", "--epochs", "2")


def test_cooccurrence_rows_use_training_baskets_only(tiny_data):
    split = leave_last_out(tiny_data)
    inputs, n_context, n_catalog = cooccurrence_inputs(split.train, context=10)
    assert inputs.shape == (tiny_data.n_items, 10) and n_context == 10 and n_catalog == 0
    assert (inputs.data > 0).all()
    norms = np.sqrt(np.asarray(inputs.multiply(inputs).sum(axis=1)).ravel())
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
    # No product is its own context.
    counts = split.train.item_basket_counts()
    top = np.lexsort((np.arange(len(counts)), -counts))[:10]
    assert all(inputs[item, col] == 0 for col, item in enumerate(top))


def test_ev_file_round_trip_and_damage(tmp_path):
    path = tmp_path / "ev.npz"
    ids = np.array([5, 3, 9])
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    write_ev(path, EmbeddingFile(ids, vectors, {"dim": 2, "loss": 0.5}))
    ev = read_ev(path)
    assert ev.product_ids.tolist() == [5, 3, 9] and ev.dim == 2 and ev.metadata["loss"] == 0.5
    np.savez(tmp_path / "nometa.npz", product_ids=ids, vectors=vectors)
    with pytest.raises(ArtifactError, match="not an EV file"):
        read_ev(tmp_path / "nometa.npz")
    np.savez(tmp_path / "short.npz", product_ids=ids, vectors=vectors[:2],
             metadata=np.array(json.dumps({})))
    with pytest.raises(ArtifactError, match="2 vectors for 3 product ids"):
        read_ev(tmp_path / "short.npz")
    np.savez(tmp_path / "pickled.npz", product_ids=ids, vectors=vectors,
             metadata=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ArtifactError, match="pickled.npz"):
        read_ev(tmp_path / "pickled.npz")


def test_align_vectors_checks_size_and_products():
    ev = EmbeddingFile(np.array([30, 10, 20]), np.eye(3, dtype=np.float32), {})
    vectors, covered = align_vectors(ev, np.array([10, 20, 40]), dim=3)
    assert covered.tolist() == [True, True, False]
    assert np.argmax(vectors[0]) == 1 and np.argmax(vectors[1]) == 2 and not vectors[2].any()
    with pytest.raises(ConfigError, match="3 dimensions but embedding_dim is 8"):
        align_vectors(ev, np.array([10, 20]), dim=8)
    with pytest.raises(ConfigError, match="only 0 of the 2 products"):
        align_vectors(ev, np.array([1, 2]), dim=3)


def test_nearest_by_cosine():
    ev = EmbeddingFile(np.array([1, 2, 3]),
                       np.array([[1, 0], [0.9, 0.1], [-1, 0]], dtype=np.float32), {})
    best = nearest(ev, 1, n=2)
    assert [pid for pid, _ in best] == [2, 3]
    assert best[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))


def test_embed_command_writes_an_ev_file_and_names_neighbours(invoke, tiny_csv, invented_catalog,
                                                              tmp_path):
    out = tmp_path / "ev.npz"
    r = invoke("embed", "--data", tiny_csv, "--catalog", invented_catalog, *FAST, "--out", out,
               "--neighbors", "1", "--n-neighbors", "3", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["products"] == 40 and result["dim"] == 8 and len(result["losses"]) == 2
    assert result["catalog_columns"] > 0
    assert len(result["neighbors"]) == 3 and all(n["name"] for n in result["neighbors"])
    ev = read_ev(out)
    assert ev.vectors.shape == (40, 8) and ev.metadata["fingerprint"] == result["fingerprint"]
    r = invoke("embed", "--data", tiny_csv, "--catalog", invented_catalog, *FAST, "--out", out,
               "--force", "--neighbors", result["query_name"].upper())
    assert r.exit_code == 0 and "nearest to" in r.stdout


def test_embed_unknown_product_is_one_line(invoke, tiny_csv, invented_catalog, tmp_path):
    out = tmp_path / "ev.npz"
    r = invoke("embed", "--data", tiny_csv, "--catalog", invented_catalog, *FAST, "--out", out,
               "--neighbors", invented_name(1) + "z")
    one_line_error(r, "no such product", "did you mean")
    r = invoke("embed", "--data", tiny_csv, *FAST, "--out", out, "--neighbors", "Bananas")
    one_line_error(r, "need a catalog")
    assert not out.exists()


SMALL_NEURAL = ("--set", "embedding_dim=8", "--set", "order_hidden=16", "--set", "epochs=1")


def test_train_refuses_ev_file_of_wrong_size_or_products(invoke, tiny_csv, tmp_path):
    wrong_dim = tmp_path / "dim4.npz"
    write_ev(wrong_dim, EmbeddingFile(np.arange(1, 41), np.ones((40, 4), np.float32), {}))
    run = tmp_path / "run"
    r = invoke("train", "--model", "cnngru", "--data", tiny_csv, *SMALL_NEURAL,
               "--set", f"embeddings={wrong_dim}", "--out", run)
    one_line_error(r, "4 dimensions but embedding_dim is 8")
    assert not run.exists()  # nothing half-written
    other = tmp_path / "other.npz"
    write_ev(other, EmbeddingFile(np.arange(1000, 1040), np.ones((40, 8), np.float32), {}))
    r = invoke("train", "--model", "attngru", "--data", tiny_csv, *SMALL_NEURAL,
               "--set", f"embeddings={other}", "--out", run)
    one_line_error(r, "only 0 of the 40 products")
    r = invoke("train", "--model", "attngru", "--data", tiny_csv, *SMALL_NEURAL,
               "--set", f"embeddings={tmp_path / 'missing.npz'}", "--out", run)
    one_line_error(r, "missing.npz", "not found")
    assert not run.exists()
