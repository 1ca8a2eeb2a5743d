"""Crash safety of writes over HTTP: a real `semsearch serve` is SIGKILLed before, during and after
the commit of a POST /documents (segment written, renamed, tombstones, commit point). After each restart the index loads, holds every document
whose write was acknowledged (a 200 was received), and no document is half there.

"During the commit" is hit deterministically with the test-only SEMSEARCH_FAULT hook
(semsearch/store/layout.py), which SIGKILLs the process at a named point.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from semsearch.documents import Document
from semsearch.index.writer import IndexWriter
from semsearch.service.metrics import Metrics
from semsearch.service.state import ServiceState
from semsearch.store.commit import CommitPoint
from semsearch.store.layout import FAULT_ENV, FAULT_POINTS, IndexDirectory, fault
from semsearch.store.reader import open_index

from .service_helpers import AUTH, SEED_IDS, Server, make_settings
from .test_snapshots import FakeEmbedder

KILLED = -9


def article(tag: str, sentences: int = 2) -> dict:
    """A document whose last sentence carries a marker: present only if it was written whole."""
    body = " ".join(
        f"Le marché couvert de la ville {tag} a accueilli {i + 3} cents visiteurs pendant la foire aux livres anciens."
        for i in range(sentences)
    )
    return {"id": f"crash/{tag}.txt", "title": f"Foire {tag}", "date": "2024-03", "text": f"{body} Fin du texte {tag}."}


def check_index(index_dir: Path) -> dict[str, str]:
    """Opens the live commit as a fresh process would and checks it is whole; its documents' texts."""
    reader = open_index(index_dir)
    try:
        texts: dict[str, str] = {}
        for segment, deleted in zip(reader.segments, reader.deletes):
            conn = segment.conn
            n_passages = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
            assert n_passages == segment.size == segment.index.ntotal == len(segment.vectors)
            orphans = conn.execute("SELECT COUNT(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM passages p WHERE p.doc_id = d.doc_id)")
            assert orphans.fetchone()[0] == 0, "a document without passages"
            live = {v for v in segment.rows.vids.tolist()} - set(deleted.tolist())
            query = "SELECT d.doc_id, d.text, MIN(p.vid) FROM documents d JOIN passages p USING (doc_id) GROUP BY d.doc_id"
            for doc_id, text, vid in conn.execute(query):
                if vid in live:
                    assert doc_id not in texts, f"{doc_id} live in two segments"
                    texts[doc_id] = text
        assert reader.summary.documents == len(texts) == reader.commit.documents
        assert reader.summary.passages == reader.size == reader.commit.passages
        assert np.all(np.diff(reader.sentences.ptr) > 0), "a passage without sentence vectors"
    finally:
        reader.close()
    return texts


def leftovers(index_dir: Path) -> list[str]:
    """Temp folders and files, segment folders and tombstone files no kept commit point names."""
    layout = IndexDirectory(index_dir)
    kept = {(e.name, e.deletes) for g in layout.generations() for e in CommitPoint.read(layout.commit_path(g)).segments}
    names = [p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-") or p.name.endswith(".tmp")]
    names += [p.name for p in layout.segments.iterdir() if p.name not in {n for n, _ in kept}]
    return names + [f"{p.parent.name}/{p.name}" for p in layout.segments.glob("*/deletes_*.npy") if (p.parent.name, p.name) not in kept]


def post_in_background(server: Server, documents: list[dict]) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(server.client.post("/documents", json={"documents": documents}, headers=AUTH, timeout=120))
        except httpx.TransportError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_sigkill_before_during_and_after_the_swap_of_a_write_loses_no_acknowledged_document(seed_index, tmp_path):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    log_path = tmp_path / "serve.log"
    acked: dict[str, str] = {}  # id -> marker of every document whose write answered 200
    unacked: list[str] = []  # ids whose write died: each may be present (whole) or absent
    kills = 0

    def start(fault: str | None = None) -> Server:
        server = Server(seed_index, workdir, log_path, env={FAULT_ENV: fault} if fault else None)
        server.wait_ready()
        assert not leftovers(seed_index), "serve start-up did not clean the leftovers of the last crash"
        return server

    def verify(expect_present: tuple[str, ...] = (), expect_absent: tuple[str, ...] = ()) -> dict[str, str]:
        texts = check_index(seed_index)
        assert SEED_IDS <= set(texts)
        for doc_id, marker in acked.items():
            assert doc_id in texts and texts[doc_id].endswith(marker), f"acknowledged {doc_id} lost"
        for doc_id in unacked:
            if doc_id in texts:
                assert texts[doc_id].endswith(f"Fin du texte {doc_id.split('/')[1][:-4]}."), f"{doc_id} is half written"
        assert all(d in texts for d in expect_present) and not any(d in texts for d in expect_absent)
        return texts

    # 1. Before the swap, from outside: a write acknowledged, then a larger one killed mid-embedding.
    server = start()
    doc = article("avant")
    response = server.client.post("/documents", json={"documents": [doc, article("compagnon")]}, headers=AUTH)
    assert response.status_code == 200 and response.json()["added"] == 2, response.text  # one segment of two
    acked[doc["id"]] = "Fin du texte avant."
    acked["crash/compagnon.txt"] = "Fin du texte compagnon."
    batch = [article(f"pendant-{i}", sentences=6) for i in range(6)]
    thread, outcome = post_in_background(server, batch)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".tmp-") for p in seed_index.iterdir()):
        assert time.monotonic() < deadline and not outcome, f"the write never started: {outcome}"
        time.sleep(0.02)
    time.sleep(0.5)
    assert server.kill() == KILLED
    kills += 1
    thread.join(30)
    assert outcome and isinstance(outcome[0], httpx.TransportError), f"the write finished before the kill: {outcome}"
    unacked.extend(d["id"] for d in batch)
    verify(expect_absent=tuple(d["id"] for d in batch))

    # 2. During the commit, at each point of a write, by the fault hook (merges: tests/test_crash_safety.py).
    expected_after = {
        "segment_written": "absent", "before_rename": "absent", "after_rename": "absent", "after_deletes": "absent",
        "after_pointer": "present",
    }
    for point in expected_after:
        server = start(point)
        verify()
        doc = article(point.replace("_", "-"))
        replaced = article("avant") | {"text": article("avant")["text"].replace("foire", "grande foire")}
        with pytest.raises(httpx.TransportError):  # an update too: its tombstone is part of the commit
            server.client.post("/documents", json={"documents": [doc, replaced]}, headers=AUTH)
        assert server.proc.wait(30) == KILLED
        server.kill()
        kills += 1
        unacked.append(doc["id"])
        if point in ("segment_written", "before_rename"):
            assert any(name.startswith(".tmp-") for name in leftovers(seed_index))
        if point in ("after_rename", "after_deletes"):
            assert any(name.startswith("seg-") for name in leftovers(seed_index)), "no orphan segment to clean"
        if point == "after_deletes":
            assert any("/deletes_" in name for name in leftovers(seed_index)), "no orphan tombstones to clean"
        texts = verify()
        assert (doc["id"] in texts) == (expected_after[point] == "present"), point
        if expected_after[point] == "present":  # the update is in the same commit: all of it or nothing
            acked[doc["id"]] = f"Fin du texte {point.replace('_', '-')}."
            assert "grande foire" in texts["crash/avant.txt"]
        else:
            assert "grande foire" not in texts["crash/avant.txt"]

    # 3. After the swap: a clean start (leftovers gone, acknowledged documents served), then a write
    # answered 200 and the process killed at once.
    server = start()
    # after mid-embedding, segment_written, before_rename, after_rename, after_deletes
    assert log_path.read_text().count('"event": "leftovers_removed"') == 5
    for doc_id in acked:
        assert server.client.get(f"/documents/{doc_id}").status_code == 200
    results = server.client.get("/search", params={"q": "foire aux livres anciens avant", "k": 10}).json()["results"]
    assert "crash/avant.txt" in {hit["doc_id"] for hit in results}
    doc = article("apres")
    response = server.client.post("/documents", json={"documents": [doc]}, headers=AUTH)
    assert response.status_code == 200 and response.json()["added"] == 1, response.text
    acked[doc["id"]] = "Fin du texte apres."
    assert server.kill() == KILLED
    kills += 1
    verify(expect_present=("crash/apres.txt",))
    assert "Traceback" not in log_path.read_text().replace('"traceback"', "")
    print(f"\ncrash (serve): {kills} SIGKILLs, {len(acked)} acknowledged documents, 0 lost")


# -- the pieces, without a model -------------------------------------------------------------------


def _docs(*ids: str) -> list[Document]:
    return [Document(i, f"Texte du document {i} avec assez de mots pour faire un passage.", lang="fr") for i in ids]


def test_fault_hook_is_inert_unless_its_point_is_named(monkeypatch):
    monkeypatch.delenv(FAULT_ENV, raising=False)
    for point in FAULT_POINTS:
        fault(point)  # still alive
    monkeypatch.setenv(FAULT_ENV, "after_rename")
    fault("before_rename")
    fault("after_pointer")


def test_leftovers_of_each_crash_point_are_removed_under_the_lock(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a"))
    layout = IndexDirectory(tmp_path)
    live = CommitPoint.read(layout.commit_path(1)).segments[0].name
    (tmp_path / ".tmp-0123").mkdir()
    (tmp_path / "segments_2.0123.tmp").write_text("{}")
    orphan = layout.segments / "seg-ffffffff"  # renamed into place, never named by a commit
    orphan.mkdir()
    tombstones = layout.segments / live / "deletes_2.npy"  # written, never named by a commit
    np.save(tombstones, np.array([0]))
    removed = {p.name for p in layout.remove_leftovers()}
    assert removed == {".tmp-0123", "segments_2.0123.tmp", orphan.name, tombstones.name}
    assert layout.generation() == 1 and (layout.segments / live).is_dir()
    assert open_index(tmp_path).fetch_document("a") is not None


def test_a_temp_folder_whose_owner_is_alive_is_not_a_leftover(tmp_path):
    """A merge writes its segment without the writer lock: a write's clean-up must not remove it."""
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("a"))
    layout = IndexDirectory(tmp_path)
    with layout.temp_folder() as temp:
        (temp / "vectors.npy").write_bytes(b"x")
        IndexWriter(tmp_path, FakeEmbedder()).write(_docs("b"))
        assert (temp / "vectors.npy").exists()
    assert not temp.exists()


def test_serve_start_up_cleans_leftovers_unless_another_writer_holds_the_lock(tmp_path, embedder):
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("a"))
    leftover = tmp_path / ".tmp-feedface"
    leftover.mkdir()
    service = ServiceState(make_settings(tmp_path), Metrics(), embedder=embedder)
    with open(tmp_path / ".lock", "a+") as handle:  # another process writing: its temp must survive


        fcntl.flock(handle, fcntl.LOCK_EX)
        service._remove_leftovers()
        assert leftover.exists()
        fcntl.flock(handle, fcntl.LOCK_UN)
    service._remove_leftovers()
    assert not leftover.exists()


def test_fault_points_are_all_in_the_code():
    root = Path(IndexDirectory.__init__.__code__.co_filename).parents[1]
    source = "".join(p.read_text() for p in root.rglob("*.py"))
    for point in FAULT_POINTS:
        assert f'fault("{point}")' in source, point
    assert os.environ.get(FAULT_ENV) is None, "SEMSEARCH_FAULT must never be set for the test run itself"
