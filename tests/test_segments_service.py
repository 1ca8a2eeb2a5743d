"""Segments in a running service: /stats shows them, merges run in the background after writes,
POST /admin/optimize force-merges behind the write key, and a commit made by another process is
served within about a second without a restart."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from .conftest import run_cli
from .service_helpers import AUTH, SEED_IDS, Server, client_for, server_errors


def _article(i: int) -> dict:
    return {
        "id": f"seg/{i}.txt",
        "title": f"Conseil {i}",
        "text": f"Le conseil municipal de la commune {i} a voté un budget de {i} millions d'euros pour ses écoles. Fin {i}.",
        "date": "2024-05",
        "source": "AFP",
    }


def _wait(predicate, timeout: float) -> float | None:
    """Seconds until `predicate()` held, None if it never did within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_stats_show_segments_and_tombstones_and_admin_optimize_merges_them(seed_index, embedder):
    with client_for(seed_index, embedder) as client:
        for i in range(3):
            assert client.post("/documents", json={"documents": [_article(i)]}, headers=AUTH).status_code == 200
        assert client.delete("/documents/seg/1.txt", headers=AUTH).status_code == 200
        stats = client.get("/stats").json()
        assert (stats["segments"], stats["documents"]) == (3, len(SEED_IDS) + 2)  # seeds, 0, 2 (1's segment emptied)
        updated = _article(0) | {"text": _article(0)["text"].replace("écoles", "collèges")}
        assert client.post("/documents", json={"documents": [updated]}, headers=AUTH).json()["updated"] == 1
        stats = client.get("/stats").json()
        assert stats["deleted_passages"] == 0 and stats["segments"] == 3  # 0's old segment held only 0: dropped
        assert client.delete(f"/documents/{sorted(SEED_IDS)[0]}", headers=AUTH).status_code == 200
        stats = client.get("/stats").json()
        assert stats["deleted_passages"] > 0 and stats["merging"] is False and stats["merging_segments"] == 0

        assert client.post("/admin/optimize").status_code == 401
        assert client.post("/admin/optimize", params={"max_segments": 0}, headers=AUTH).status_code == 422
        response = client.post("/admin/optimize", headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["segments"] == 1 and body["merges"] >= 1 and body["purged"] == stats["deleted_passages"]
        after = client.get("/stats").json()
        assert (after["segments"], after["deleted_passages"], after["documents"]) == (1, 0, stats["documents"])
        assert after["merges"] >= 1 and after["snapshot"] == body["snapshot"]
        hits = client.get("/search", params={"q": "budget des collèges de la commune 0", "k": 3}).json()["results"]
        assert hits[0]["doc_id"] == "seg/0.txt" and "collèges" in hits[0]["text"]
        assert client.get("/documents/seg/1.txt").status_code == 404
        assert server_errors(client) == []


def test_background_merges_keep_the_segment_count_bounded_while_writes_go_on(seed_index, embedder):
    with client_for(seed_index, embedder) as client:
        for i in range(12):
            response = client.post("/documents", json={"documents": [_article(i)]}, headers=AUTH)
            assert response.status_code == 200, response.text
        assert _wait(lambda: client.get("/stats").json()["segments"] < 10 and not client.get("/stats").json()["merging"], 30) is not None
        stats = client.get("/stats").json()
        assert stats["merges"] >= 1 and stats["documents"] == len(SEED_IDS) + 12
        for i in (0, 11):
            assert client.get(f"/documents/seg/{i}.txt").status_code == 200
        # Two force-merges at once: the second waits for the first and merges nothing, and still answers
        # with the commit live after it, not the one it saw before waiting.
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: client.post("/admin/optimize", headers=AUTH, timeout=120), range(2)))
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        live = client.get("/stats").json()
        assert [(a.json()["segments"], a.json()["snapshot"]) for a in answers] == [(1, live["snapshot"])] * 2
        assert server_errors(client) == []


def test_a_running_server_serves_what_another_process_indexed_within_two_seconds(seed_index, tmp_path):
    server = Server(seed_index, tmp_path, tmp_path / "serve.log")
    try:
        server.wait_ready()
        corpus = tmp_path / "new.jsonl"
        corpus.write_text(json.dumps(_article(42)) + "\n")
        run_cli("index", str(corpus), "--index-dir", str(seed_index), "--quiet")  # another process commits
        seen = _wait(lambda: server.client.get("/documents/seg/42.txt").status_code == 200, 10)
        assert seen is not None and seen < 2.0, f"served after {seen} s"
        hits = server.search("budget de 42 millions d'euros pour les écoles", k=3)
        assert hits[0]["doc_id"] == "seg/42.txt"
        run_cli("delete", "seg/42.txt", "--index-dir", str(seed_index))
        gone = _wait(lambda: server.client.get("/documents/seg/42.txt").status_code == 404, 10)
        assert gone is not None and gone < 2.0, f"still served after {gone} s"
        assert server.client.get("/stats").json()["documents"] == len(SEED_IDS)
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text()
