"""The index directory: atomic commit points, one segment a write, tombstones, leftovers, fallback to the
previous commit point, conversion of a format-1 (snapshot) index."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from semsearch.documents import Document
from semsearch.embedding.base import Embedder
from semsearch.errors import IndexCorruptError, IndexNotFoundError
from semsearch.index.writer import IndexWriter
from semsearch.store.commit import CommitPoint
from semsearch.store.layout import IndexDirectory
from semsearch.store.reader import open_index


class FakeEmbedder(Embedder):
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


def _commit(root) -> CommitPoint:
    layout = IndexDirectory(root)
    return CommitPoint.read(layout.commit_path(layout.generation()))


def test_each_write_publishes_one_commit_and_one_segment_and_keeps_one_previous_commit(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    for i in range(4):
        writer.write(_docs(f"d{i}"))
    layout = IndexDirectory(tmp_path)
    assert layout.generations() == [4, 3]
    commit = _commit(tmp_path)
    assert [s.passages for s in commit.segments] == [1, 1, 1, 1]
    assert sorted(p.name for p in layout.segments.iterdir()) == sorted(s.name for s in commit.segments)
    reader = open_index(tmp_path)
    assert reader.summary.documents == 4 and reader.path.name == "segments_4"


def test_a_write_touches_no_existing_segment_file(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a", "b"))
    first = IndexDirectory(tmp_path).segments
    before = {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()}
    writer.write(_docs("c"))
    writer.write(_docs("b"), delete_ids=["a"])  # unchanged b, deleted a: a tombstone file beside, nothing rewritten
    after = {p: p.stat().st_mtime_ns for p in first.rglob("*") if p in before}
    assert after == before
    commit = _commit(tmp_path)
    assert (commit.segments[0].deleted, commit.segments[0].deletes) == (1, "deletes_3.npy")


def test_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="run 'semsearch index"):
        open_index(tmp_path)


def test_damaged_newest_commit_falls_back_to_the_previous_one(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a"))
    writer.write(_docs("b"))
    newest = _commit(tmp_path).segments[-1].name
    (IndexDirectory(tmp_path).segments / newest / "vectors.faiss").write_bytes(b"garbage")
    reader = open_index(tmp_path)
    assert reader.path.name == "segments_1" and reader.summary.documents == 1


def test_damaged_only_commit_names_the_file(tmp_path):
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("a"))
    folder = IndexDirectory(tmp_path).segments / _commit(tmp_path).segments[0].name
    data = (folder / "vectors.faiss").read_bytes()
    (folder / "vectors.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="vectors.faiss"):
        open_index(tmp_path)


def test_leftover_temporary_folders_are_removed_by_the_next_write(tmp_path):
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("a"))
    (tmp_path / ".tmp-deadbeef").mkdir()
    (tmp_path / "segments_9.0123.tmp").write_text("{}")
    (IndexDirectory(tmp_path).segments / "seg-orphan").mkdir()
    IndexWriter(tmp_path, FakeEmbedder()).write(_docs("b"))
    assert not (tmp_path / ".tmp-deadbeef").exists() and not (tmp_path / "segments_9.0123.tmp").exists()
    assert not (IndexDirectory(tmp_path).segments / "seg-orphan").exists()


def test_readers_of_an_old_commit_keep_working_after_its_segments_are_removed(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a"))
    old = open_index(tmp_path)
    writer.write(_docs("a2"), delete_ids=["a"])  # the segment of a: fully deleted, dropped from the commit
    writer.write(_docs("c"))
    writer.write(_docs("d"))
    assert not old.segments[0].path.exists()
    assert old.fetch_document("a") is not None
    assert open_index(tmp_path).fetch_document("a") is None


def test_delete_and_upsert_in_one_write(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a", "b", "c"))
    report = writer.write(_docs("d"), delete_ids=["a", "zz"])
    assert (report.added, report.deleted, report.not_found, report.documents) == (1, 1, ["zz"], 3)
    reader = open_index(tmp_path)
    assert sorted(reader.rows.doc_ids) == ["b", "c", "d"]
    assert reader.size == 3 and sum(s.index.ntotal for s in reader.segments) == 4  # a is tombstoned, not rewritten
    assert reader.fetch_document("a") is None and reader.fetch_passages([0, 1, 2, 3]).keys() == {1, 2, 3}


def test_an_updated_document_is_found_once_in_its_new_version(tmp_path):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write(_docs("a", "b"))
    changed = Document("a", "Une toute nouvelle version du document a, avec d'autres mots encore.", lang="fr")
    report = writer.write([changed, *_docs("b")])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    reader = open_index(tmp_path)
    assert sorted(reader.rows.doc_ids) == ["a", "b"]
    assert reader.fetch_document("a")[0].text == changed.text
    dense = reader.dense_search(FakeEmbedder().embed_query(changed.text), 10)
    assert sorted(reader.rows.doc_ids[reader.rows.doc_index[r]] for r in dense) == ["a", "b"]


def _legacy_index(tmp_path):
    """A format-1 index, as the previous release wrote it (CURRENT + snapshots/<name>/), built here by hand
    from a segment's files, which are a snapshot's plus postings; and the segment-format index it came from."""
    from unittest import mock

    from semsearch.store import segment as segment_module

    source = tmp_path / "new"
    with mock.patch.object(segment_module, "VECTOR_FORMAT", "float32"):  # a snapshot's vectors were float32
        IndexWriter(source, FakeEmbedder()).write(_docs("a", "b"))
    segment = IndexDirectory(source).segments / _commit(source).segments[0].name
    legacy = tmp_path / "legacy"
    snapshot = legacy / "snapshots" / "20240101T000000-000000000-abcdef"
    shutil.copytree(segment, snapshot, ignore=shutil.ignore_patterns("postings_*", "passage_lengths.npy", "segment.json"))
    manifest = {"model": "fake:hash", "dim": 8, "documents": 2, "passages": 2, "index_type": "Flat",
                "built_at": "2024-01-01T00:00:00+00:00", "chunking": {}, "languages": ["fr"], "sources": [], "format_version": 1}
    (snapshot / "manifest.json").write_text(json.dumps(manifest))
    (legacy / "CURRENT").write_text(snapshot.name + "\n")
    return legacy, source


def test_a_format_1_snapshot_index_is_converted_once_without_re_embedding(tmp_path, caplog):
    legacy, source = _legacy_index(tmp_path)
    with caplog.at_level("WARNING"):
        reader = open_index(legacy)
    assert "converted the index" in caplog.text and "nothing re-embedded" in caplog.text
    assert sorted(reader.rows.doc_ids) == ["a", "b"] and reader.path.name == "segments_1"
    assert not (legacy / "CURRENT").exists() and not (legacy / "snapshots").exists()
    original = open_index(source)
    assert np.allclose(reader.lexical_scores(["document"]), original.lexical_scores(["document"]))
    report = IndexWriter(legacy, FakeEmbedder()).write(_docs("c"))
    assert (report.added, report.documents, report.passages_embedded) == (1, 3, 1)


def test_a_write_into_a_format_1_index_converts_it_first(tmp_path):
    legacy, _ = _legacy_index(tmp_path)
    report = IndexWriter(legacy, FakeEmbedder()).write(_docs("a", "c"))  # a unchanged: nothing re-embedded
    assert (report.added, report.unchanged, report.passages_embedded, report.documents) == (1, 1, 1, 3)
    assert IndexDirectory(legacy).generations() == [2, 1] and not (legacy / "CURRENT").exists()
