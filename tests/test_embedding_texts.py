"""What a cluster must embed for the writer (`texts_to_embed`), and a segment written from those vectors alone.

Unit tests: a small deterministic fake model stands for the embedding (token counts are the real
model's, so the passages are the real ones); the cluster itself is tested in tests/test_ray_index.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from semsearch.distributed.staging.prepare import prepare_segment
from semsearch.distributed.staging.publish import open_staging
from semsearch.embedding import Embedder
from semsearch.index.chunking import ChunkingConfig, split_passages
from semsearch.index.embedding_texts import texts_to_embed
from semsearch.index.writer import IndexWriter
from semsearch.ingest.readers import read_paths
from semsearch.store import vectors as vector_store
from semsearch.store.commit import CommitPoint
from semsearch.store.commit_writer import ModelId
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


def test_a_segment_prepared_from_the_cluster_s_vectors_holds_what_the_writer_computes(embedder, tmp_path: Path):
    """The Ray job's writing task: vectors looked up by text (`texts_to_embed`'s), no model at hand."""
    model = HashingModel(embedder)
    IndexWriter(tmp_path / "direct", model).write(read_paths([SEEDS]).documents)
    docs = read_paths([SEEDS]).documents
    texts = planned_texts(model, docs)
    vectors = dict(zip(texts, HashingModel(embedder).embed_passages(texts)))
    items = [(doc, split_passages(doc, model.count_tokens, ChunkingConfig())) for doc in docs]
    layout = IndexDirectory(tmp_path / "prepared")
    with layout.temp_folder() as staging:
        open_staging(layout, staging, ModelId(model.spec, model.dim), asdict(ChunkingConfig()))
        prepared = prepare_segment(layout.root, staging, items, lambda batch: np.stack([vectors[t] for t in batch]), model.dim)
        got = layout.root / prepared.folder
        direct = only_segment(tmp_path / "direct")
        formats = [json.loads((folder / "segment.json").read_text()).get("vector_format", "float32") for folder in (got, direct)]
        assert formats[0] == formats[1]
        for load in (vector_store.load_vectors, vector_store.load_sentences):
            np.testing.assert_array_equal(np.asarray(load(got, formats[0])[0]), np.asarray(load(direct, formats[1])[0]))
