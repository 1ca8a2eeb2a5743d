"""What a cluster must embed for the writer (`texts_to_embed`), and the writer fed precomputed vectors.

Unit tests: a small deterministic fake model stands for the embedding (token counts are the real
model's, so the passages are the real ones); the cluster itself is tested in tests/test_ray_index.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from semsearch.embedding import Embedder
from semsearch.embedding.precomputed import PrecomputedEmbedder
from semsearch.index.chunking import ChunkingConfig, split_passages
from semsearch.index.embedding_texts import texts_to_embed
from semsearch.index.readers import read_paths
from semsearch.index.writer import IndexWriter
from semsearch.store import vectors as vector_store
from semsearch.store.commit import CommitPoint
from semsearch.store.layout import IndexDirectory

from .conftest import SEEDS


class HashingModel(Embedder):
    """A vector from each text's hash; records every passage text it is asked for."""

    dim = 8
    max_tokens = 512

    def __init__(self, real: Embedder) -> None:
        self.real = real
        self.spec = "fake:hashing"
        self.asked: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.asked.extend(texts)
        rows = np.array([np.frombuffer(hashlib.sha256(t.encode()).digest()[:32], dtype=np.int32)[: self.dim] for t in texts], dtype=np.float32)
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).reshape(-1, self.dim).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return self.real.count_tokens(text)


def planned_texts(model: Embedder, docs) -> list[str]:
    from semsearch.text.lang import detect_language

    texts: list[str] = []
    for doc in docs:
        doc.lang = doc.lang or detect_language(doc.text)
        texts += texts_to_embed(doc, split_passages(doc, model.count_tokens, ChunkingConfig()))
    return texts


def test_texts_to_embed_are_exactly_the_texts_the_writer_embeds(embedder, tmp_path: Path):
    model = HashingModel(embedder)
    docs = read_paths([SEEDS]).documents
    planned = planned_texts(model, read_paths([SEEDS]).documents)
    IndexWriter(tmp_path / "index", model).write(docs)
    assert set(planned) == set(model.asked)
    assert len(planned) == len(set(planned)) < len(model.asked)  # each text once: overlapping sentences are embedded once


def only_segment(index_dir: Path) -> Path:
    """The folder of the one segment that a single write makes."""
    layout = IndexDirectory(index_dir)
    (entry,) = CommitPoint.read(layout.commit_path(layout.generation())).segments
    return layout.segments / entry.name


def test_writer_with_precomputed_vectors_writes_the_index_the_model_would(embedder, tmp_path: Path):
    model = HashingModel(embedder)
    IndexWriter(tmp_path / "direct", model).write(read_paths([SEEDS]).documents)
    texts = planned_texts(model, read_paths([SEEDS]).documents)
    served = PrecomputedEmbedder(HashingModel(embedder))
    served.add(texts, HashingModel(embedder).embed_passages(texts))
    IndexWriter(tmp_path / "served", served).write(read_paths([SEEDS]).documents)
    assert served.fallbacks == 0 and served.model.asked == []  # the model behind it embedded nothing
    direct, got = (only_segment(tmp_path / name) for name in ("direct", "served"))
    np.testing.assert_array_equal(np.asarray(vector_store.load_vectors(got)[0]), np.asarray(vector_store.load_vectors(direct)[0]))
    np.testing.assert_array_equal(np.asarray(vector_store.load_sentences(got)[0]), np.asarray(vector_store.load_sentences(direct)[0]))

def test_precomputed_embedder_embeds_a_text_it_was_not_given_with_the_model_and_counts_it(embedder):
    served = PrecomputedEmbedder(HashingModel(embedder))
    served.add(["known"], HashingModel(embedder).embed_passages(["known"]))
    out = served.embed_passages(["known", "unknown"])
    assert served.fallbacks == 1 and served.model.asked == ["unknown"]
    np.testing.assert_array_equal(out, HashingModel(embedder).embed_passages(["known", "unknown"]))
    served.clear()
    assert len(served) == 0


def test_precomputed_embedder_refuses_vectors_of_the_wrong_shape(embedder):
    served = PrecomputedEmbedder(HashingModel(embedder))
    with pytest.raises(ValueError, match="2 texts"):
        served.add(["a", "b"], np.zeros((2, 3), dtype=np.float32))
