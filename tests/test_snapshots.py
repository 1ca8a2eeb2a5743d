"""The index directory: atomic publication, leftovers, fallback to the previous snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.documents import Document
from semsearch.errors import IndexCorruptError, IndexNotFoundError
from semsearch.index.writer import IndexWriter
from semsearch.store.layout import IndexDirectory
from semsearch.store.snapshot import open_snapshot


class FakeEmbedder:
    """A deterministic stand-in so these storage tests need no model."""

    spec = "fake:hash"
    dim = 8
    max_tokens = 512

    def embed_passages(self, texts):
        out = np.array([[hash(t) % 97 + i for i in range(self.dim)] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if len(out) else out.reshape(0, self.dim)

    embed_queries = embed_passages

    def embed_query(self, text):
        return self.embed_queries([text])[0]

    def count_tokens(self, text):
        return len(text.split())


def _docs(*ids):
    return [Document(i, f"Texte du document {i} avec assez de mots pour faire un passage.", lang="fr") for i in ids]


def test_snapshot_names_sort_in_publish_order_across_a_second_and_a_clock_step_back(tmp_path, monkeypatch):
    import time

    # a second boundary (999999999 ns, then the next second) and then the clock stepping back a minute
    clock = iter([1_700_000_000_999_999_999, 1_700_000_001_000_000_001, 1_699_999_941_000_000_000])
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    writer = IndexWriter(tmp_path, FakeEmbedder())
    names = []
    for i in range(3):
        writer.write(_docs(f"d{i}"))
        names.append(IndexDirectory(tmp_path).current_name())
    assert names == sorted(names) and len(set(names)) == 3
    assert [p.name for p in IndexDirectory(tmp_path).snapshot_paths()] == [names[2], names[1]]


def test_write_publishes_a_new_snapshot_and_keeps_one_previous(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    names = []
    for i in range(4):
        writer.write(_docs(f"d{i}"))
        names.append(IndexDirectory(tmp_path).current_name())
    assert len(set(names)) == 4
    remaining = [p.name for p in IndexDirectory(tmp_path).snapshot_paths()]
    assert remaining == [names[3], names[2]]
    assert open_snapshot(tmp_path).manifest.documents == 4


def test_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="run 'semsearch index"):
        open_snapshot(tmp_path)


def test_damaged_current_snapshot_falls_back_to_the_previous_one(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a"))
    writer.write(_docs("b"))
    current = IndexDirectory(tmp_path).current_path()
    (current / "vectors.faiss").write_bytes(b"garbage")
    snapshot = open_snapshot(tmp_path)
    assert snapshot.path != current and snapshot.manifest.documents == 1


def test_damaged_only_snapshot_names_the_file(tmp_path):
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("a"))
    current = IndexDirectory(tmp_path).current_path()
    data = (current / "vectors.faiss").read_bytes()
    (current / "vectors.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="vectors.faiss"):
        open_snapshot(tmp_path)


def test_leftover_temporary_snapshots_are_removed_by_the_next_write(tmp_path):
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("a"))
    (tmp_path / ".tmp-deadbeef").mkdir()
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("b"))
    assert not (tmp_path / ".tmp-deadbeef").exists()


def test_readers_of_an_old_snapshot_keep_working_after_it_is_pruned(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a"))
    old = open_snapshot(tmp_path)
    for name in ("b", "c", "d"):
        writer.write(_docs(name))
    assert not old.path.exists()
    assert old.fetch_document("a") is not None


def test_delete_and_upsert_in_one_write(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a", "b", "c"))
    report = writer.write(_docs("d"), delete_ids=["a", "zz"])
    assert (report.added, report.deleted, report.not_found, report.documents) == (1, 1, ["zz"], 3)
    snapshot = open_snapshot(tmp_path)
    assert sorted(snapshot.rows.doc_ids) == ["b", "c", "d"]
    assert snapshot.index.ntotal == snapshot.size == 3
