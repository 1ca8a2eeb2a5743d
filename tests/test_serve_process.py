"""Acceptance: a real `semsearch serve` process on a loopback port, indexing the seeds on start,
taking writes over HTTP, and keeping them across a restart."""

from __future__ import annotations

import signal

from .conftest import SEEDS
from .service_helpers import API_KEY, AUTH, SEED_IDS, SOLDIERS, Server

DOC = {
    "id": "desk/2024/tombouctou.txt",
    "title": "Festival au désert",
    "date": "2024-02",
    "text": "Le festival des musiques du désert de Tombouctou a réuni 12 000 spectateurs malgré la tempête de sable. "
    "Les organisateurs annoncent une édition plus longue l'an prochain, avec des concerts sur les dunes.",
}
DOC_QUESTION = "Combien de spectateurs au festival de Tombouctou ?"


def test_serve_indexes_the_seeds_answers_and_keeps_writes_across_a_restart(tmp_path):
    index_dir = tmp_path / "index"
    workdir = tmp_path / "cwd"  # no ./seeds here: only --corpus may be indexed
    workdir.mkdir()
    log_path = tmp_path / "serve.log"

    server = Server(index_dir, workdir, log_path, "--corpus", str(SEEDS))
    try:
        seen = server.wait_ready()
        # The model loads and the seeds are indexed after the port opens: /readyz said 503 meanwhile.
        assert seen[-1] == 200 and set(seen) <= {200, 503}
        assert server.client.get("/stats").json()["documents"] == len(SEED_IDS)

        fr = server.search("Combien de soldats américains sont en Irak ?")
        assert any(SOLDIERS.search(hit["text"]) for hit in fr), fr
        en = server.search("How many US soldiers are in Iraq?")
        assert any(SOLDIERS.search(hit["text"]) for hit in en), en

        assert server.client.post("/documents", json={"documents": [DOC]}).status_code == 401
        added = server.client.post("/documents", json={"documents": [DOC]}, headers=AUTH)
        assert added.status_code == 200 and added.json()["added"] == 1, added.text
        assert server.search(DOC_QUESTION)[0]["doc_id"] == DOC["id"]  # the very next request sees it
    finally:
        server.stop()
    # A clean shutdown: uvicorn finishes, then exits by the signal it was sent (or 0).
    assert server.proc.returncode in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()

    server = Server(index_dir, workdir, log_path, "--corpus", str(SEEDS))
    try:
        assert server.wait_ready()[-1] == 200
        assert server.client.get("/stats").json()["documents"] == len(SEED_IDS) + 1  # seeds not indexed twice
        assert server.search(DOC_QUESTION)[0]["doc_id"] == DOC["id"]
        assert server.client.get(f"/documents/{DOC['id']}").json()["title"] == DOC["title"]

        deleted = server.client.delete(f"/documents/{DOC['id']}", headers=AUTH)
        assert deleted.status_code == 200 and deleted.json()["deleted"] == 1, deleted.text
        assert server.client.get(f"/documents/{DOC['id']}").status_code == 404
        assert all(hit["doc_id"] in SEED_IDS for hit in server.search(DOC_QUESTION, k=10))
        metrics = server.client.get("/metrics").text
        assert 'route="/search",status="200"' in metrics
    finally:
        server.stop()
    log = log_path.read_text()
    assert API_KEY not in log
    assert '"event": "request"' in log and "Traceback" not in log
