"""Where passage vectors come from: embedded from the passage's text (default) or the normalized mean of its
sentences' vectors, each text embedded once (issue #20, indexing throughput); recorded in the index, which
keeps its own."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from pydantic import ValidationError

from semsearch.documents import Document
from semsearch.index.chunking import ChunkingConfig
from semsearch.index.merge import Merger
from semsearch.index.segment_build import EMBEDDED, SENTENCE_MEAN, chunk, embed_passages, embedding_text
from semsearch.index.writer import IndexWriter
from semsearch.search.searcher import Searcher
from semsearch.settings import Settings
from semsearch.store.commit import CommitPoint
from semsearch.store.commit_writer import live_commit
from semsearch.store.layout import IndexDirectory
from semsearch.store.reader import open_index
from semsearch.text.sentences import sentence_spans

from .test_index_type import RandomEmbedder


class RecordingEmbedder(RandomEmbedder):
    """A fixed random unit vector per text; remembers every passage text it was asked for."""

    spec = "fake:recording"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def embed_passages(self, texts):
        self.asked.extend(texts)
        return super().embed_passages(texts)

    def embed_queries(self, texts):
        return super().embed_passages(texts)


def _docs(lo: int, hi: int) -> list[Document]:
    return [
        Document(
            f"d{i}",
            f"Le conseil municipal a voté le budget {i} mardi soir. Les travaux commenceront au printemps prochain.\n\n"
            f"Un second paragraphe, d'une seule phrase, assez long pour rester seul numéro {i}.",
            title=f"Budget {i}",
            lang="fr",
        )
        for i in range(lo, hi)
    ]


def _mean(vectors: np.ndarray) -> np.ndarray:
    mean = vectors.mean(axis=0)
    return mean / np.linalg.norm(mean)


def test_sentence_mean_embeds_only_sentences_and_its_passage_vector_is_their_normalized_mean():
    passages = chunk(_docs(0, 3), RecordingEmbedder().count_tokens, ChunkingConfig())
    embedder = RecordingEmbedder()
    derived = embed_passages(passages, embedder.embed_passages, embedder.dim, passage_vectors=SENTENCE_MEAN)
    sentence_texts = [embedding_text(doc, p.text[a:b]) for doc, p in passages for a, b in sentence_spans(p.text, p.lang)]
    assert embedder.asked == sentence_texts  # each sentence once, no passage text
    starts = np.concatenate([[0], np.cumsum(derived.counts)])
    for i in range(len(passages)):
        own = derived.sentences[starts[i]:starts[i + 1]]
        np.testing.assert_allclose(derived.passages[i], _mean(own), atol=1e-6)


def test_embedded_passage_vectors_are_the_default_and_sentence_vectors_do_not_depend_on_the_choice():
    passages = chunk(_docs(0, 3), RecordingEmbedder().count_tokens, ChunkingConfig())
    default, derived = RecordingEmbedder(), RecordingEmbedder()
    embedded = embed_passages(passages, default.embed_passages, default.dim)
    mean = embed_passages(passages, derived.embed_passages, derived.dim, passage_vectors=SENTENCE_MEAN)
    assert [embedding_text(doc, p.text) for doc, p in passages if len(p.text.split(". ")) > 1][0] in default.asked
    assert len(derived.asked) < len(default.asked)
    np.testing.assert_array_equal(embedded.sentences, mean.sentences)
    np.testing.assert_array_equal(embedded.spans, mean.spans)
    one_sentence = [i for i, c in enumerate(embedded.counts) if c == 1]
    assert one_sentence  # a passage of one sentence has the same vector either way
    np.testing.assert_allclose(embedded.passages[one_sentence], mean.passages[one_sentence], atol=1e-6)


def test_an_unknown_way_to_make_passage_vectors_is_refused():
    passages = chunk(_docs(0, 1), RecordingEmbedder().count_tokens, ChunkingConfig())
    with pytest.raises(ValueError, match="passage_vectors"):
        embed_passages(passages, RecordingEmbedder().embed_passages, 16, passage_vectors="average")
    with pytest.raises(ValidationError):
        Settings(passage_vectors="average")
    assert Settings().passage_vectors == EMBEDDED


def test_a_new_index_records_sentence_mean_and_stores_the_mean_of_its_sentence_vectors(tmp_path):
    IndexWriter(tmp_path, RecordingEmbedder(), passage_vectors=SENTENCE_MEAN).write(_docs(0, 4))
    assert live_commit(IndexDirectory(tmp_path)).passage_vectors == SENTENCE_MEAN
    reader = open_index(tmp_path)
    ptr = reader.sentences.ptr
    for row in range(reader.size):
        own = np.asarray(reader.sentences.vectors[int(ptr[row]):int(ptr[row + 1])], np.float32)
        np.testing.assert_allclose(np.asarray(reader.vectors[row], np.float32), _mean(own), atol=0.02)  # int8 storage
    hits = Searcher(reader, RecordingEmbedder()).search("budget 2 travaux", k=3).results
    assert hits and hits[0].highlight  # the answering sentence is still marked
    reader.close()


def test_writes_into_an_index_follow_the_passage_vectors_it_was_created_with(tmp_path, caplog):
    IndexWriter(tmp_path, RecordingEmbedder(), passage_vectors=SENTENCE_MEAN).write(_docs(0, 2))
    later = RecordingEmbedder()
    with caplog.at_level(logging.WARNING, logger="semsearch.index.writer"):
        report = IndexWriter(tmp_path, later, passage_vectors=EMBEDDED).write(_docs(2, 4))
    assert report.added == 2
    assert not any(t.startswith("Budget 2\nLe conseil") and ". Les travaux" in t for t in later.asked)  # no passage text
    assert "sentence_mean" in caplog.text
    assert live_commit(IndexDirectory(tmp_path)).passage_vectors == SENTENCE_MEAN
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="semsearch.index.writer"):
        assert IndexWriter(tmp_path, RecordingEmbedder(), passage_vectors=EMBEDDED).write(delete_ids=["d0"]).deleted == 1
    assert "passage vectors" not in caplog.text  # a deletion embeds nothing: nothing to warn about
    Merger(tmp_path).force_merge()
    assert live_commit(IndexDirectory(tmp_path)).passage_vectors == SENTENCE_MEAN  # deletions and merges keep it too


def test_an_index_committed_before_the_choice_existed_makes_embedded_passage_vectors(tmp_path):
    IndexWriter(tmp_path, RecordingEmbedder()).write(_docs(0, 2))
    layout = IndexDirectory(tmp_path)
    path = layout.commit_path(live_commit(layout).generation)
    data = json.loads(path.read_text())
    del data["passage_vectors"]
    path.write_text(json.dumps(data))
    assert CommitPoint.read(path).passage_vectors == EMBEDDED
    later = RecordingEmbedder()
    IndexWriter(tmp_path, later, passage_vectors=SENTENCE_MEAN).write(_docs(2, 3))
    assert any(t.startswith("Budget 2\nLe conseil") and ". Les travaux" in t for t in later.asked)  # the passage text
    assert live_commit(layout).passage_vectors == EMBEDDED


def test_indexing_on_ray_refuses_to_make_passage_vectors_from_sentences(tmp_path):
    from semsearch.distributed.index_job import _check_passage_vectors
    from semsearch.errors import SemsearchError

    fresh = IndexDirectory(tmp_path / "fresh")
    _check_passage_vectors(fresh, Settings())  # a new index, embedded: the cluster's way
    with pytest.raises(SemsearchError, match="SEMSEARCH_PASSAGE_VECTORS"):
        _check_passage_vectors(fresh, Settings(passage_vectors=SENTENCE_MEAN))
    IndexWriter(tmp_path / "derived", RecordingEmbedder(), passage_vectors=SENTENCE_MEAN).write(_docs(0, 1))
    with pytest.raises(SemsearchError, match="the index at .* makes passage vectors 'sentence_mean'"):
        _check_passage_vectors(IndexDirectory(tmp_path / "derived"), Settings())
