"""Latent terms: a passage's sparse features stored with it, kept by merges, and added to the fused score of
passages in another language than the question (issue #22)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from semsearch.documents import Document
from semsearch.errors import IndexCorruptError
from semsearch.index.merge import Merger
from semsearch.index.writer import IndexWriter
from semsearch.search.fusion import FusionConfig, add_latent
from semsearch.search.searcher import Searcher
from semsearch.store import latent
from semsearch.store.reader import open_index

from .test_index_type import RandomEmbedder

SEEDS_QUESTIONS = Path(__file__).resolve().parents[1] / "bench" / "data" / "seeds_questions.json"


class LatentEmbedder(RandomEmbedder):
    """Random vectors, and latent terms that are the hashes of a text's words: a fake sparse head."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def latent_terms(self, texts):
        self.asked += list(texts)
        out = []
        for text in texts:
            idx = sorted({int.from_bytes(hashlib.sha1(w.lower().encode()).digest()[:2], "little") for w in text.split()})
            out.append((np.array(idx, np.int32), np.linspace(1.0, 0.5, len(idx)).astype(np.float32)))
        return out


def _docs(lo: int, hi: int, lang: str = "fr") -> list[Document]:
    return [Document(f"d{i}", f"Texte numéro {i} du document, avec des mots propres à lui {i * 7}.", lang=lang) for i in range(lo, hi)]


def test_a_blob_keeps_the_indices_and_the_weights_to_within_one_step_of_255():
    idx = np.array([3, 70, 16383, 65535], np.int32)
    val = np.array([0.9, 0.1, 0.45, 0.0], np.float32)
    back_idx, back_val = latent.decode(latent.encode(idx, val))
    assert back_idx.tolist() == idx.tolist()
    assert np.allclose(back_val, val, atol=0.9 / 255)
    assert len(latent.encode(idx, val)) == 4 + 3 * len(idx)


def test_a_feature_index_outside_16_bits_or_a_damaged_blob_is_refused():
    with pytest.raises(ValueError, match="outside"):
        latent.encode(np.array([65536]), np.array([1.0]))
    with pytest.raises(IndexCorruptError, match="not a scale and 3 bytes"):
        latent.decode(b"\x00\x00\x80\x3f\x01")


def test_latent_cosines_match_the_dense_cosine_and_are_zero_for_a_missing_blob():
    rng = np.random.default_rng(1)
    q = (np.array([1, 5, 9, 200]), rng.random(4).astype(np.float32))
    docs = [(np.array([5, 9, 300]), rng.random(3).astype(np.float32)), (np.array([7]), np.array([1.0], np.float32))]
    dense = np.zeros((3, 301))
    dense[0, q[0]] = q[1]
    for i, (idx, val) in enumerate(docs):
        dense[i + 1, idx] = latent.decode(latent.encode(idx, val))[1]
    expected = [float(dense[0] @ d) / (np.linalg.norm(dense[0]) * np.linalg.norm(d)) for d in dense[1:]]
    got = latent.cosines(q, [latent.encode(*d) for d in docs] + [None])
    assert np.allclose(got[:2], expected) and got[2] == 0.0


def test_latent_evidence_is_added_to_every_candidate_at_its_weight():
    got = add_latent(np.array([0.5, 0.4, 0.3]), np.array([0.1, 0.2, 0.0]), FusionConfig(cross_language_latent=3.0))
    assert np.allclose(got, [0.8, 1.0, 0.3])


def test_written_passages_carry_latent_terms_and_a_merge_keeps_those_of_live_passages(tmp_path):
    embedder = LatentEmbedder()
    writer = IndexWriter(tmp_path, embedder)
    writer.write(_docs(0, 6))
    writer.write(_docs(6, 10), delete_ids=["d2"])
    reader = open_index(tmp_path)
    assert len(reader.segments) == 2 and reader.has_latent_terms
    rows = np.arange(reader.size)
    before = dict(zip(reader.rows.vids.tolist(), reader.latent_terms(rows)))
    assert all(before.values())
    Merger(tmp_path).force_merge()
    merged = open_index(tmp_path)
    assert len(merged.segments) == 1 and merged.segments[0].info.latent_terms
    after = dict(zip(merged.rows.vids.tolist(), merged.latent_terms(np.arange(merged.size))))
    assert after == before  # the same live passages, the same blobs; the deleted one's is gone
    assert "d2" not in merged.rows.doc_ids


def test_an_index_with_a_segment_without_latent_terms_uses_none(tmp_path):
    IndexWriter(tmp_path, RandomEmbedder()).write(_docs(0, 3))  # a model without a sparse head
    IndexWriter(tmp_path, LatentEmbedder()).write(_docs(3, 6))
    reader = open_index(tmp_path)
    assert [s.info.latent_terms for s in reader.segments] == [False, True]
    assert not reader.has_latent_terms and reader.latent_terms(np.arange(reader.size)) is None
    Merger(tmp_path).force_merge()
    assert not open_index(tmp_path).segments[0].info.latent_terms  # part of its passages have none: not used


def test_with_latent_terms_off_none_are_computed_or_stored(tmp_path):
    embedder = LatentEmbedder()
    IndexWriter(tmp_path, embedder, latent_terms=False).write(_docs(0, 3))
    reader = open_index(tmp_path)
    assert embedder.asked == [] and not reader.has_latent_terms
    assert Searcher(reader, embedder).search("What does the second text say?", k=3).results  # ranks without them


def test_a_question_asks_for_its_latent_terms_only_when_a_candidate_is_in_another_language(tmp_path):
    embedder = LatentEmbedder()
    IndexWriter(tmp_path, embedder).write(_docs(0, 4, "fr"))
    searcher = Searcher(open_index(tmp_path), embedder)
    embedder.asked.clear()
    searcher.search("Texte numéro deux du document", k=3)  # French over French
    assert embedder.asked == []
    searcher.search("What does the second text say?", k=3)  # English over French
    assert embedder.asked == ["What does the second text say?"]
    searcher.search("What does the second text say?", k=3)  # cached with the query's vector
    assert len(embedder.asked) == 1


# Acceptance: the real default model over the French seeds.

def test_the_seeds_index_holds_the_real_models_latent_terms(seed_searcher):
    reader = seed_searcher.reader
    assert reader.has_latent_terms
    blobs = reader.latent_terms(np.arange(reader.size))
    sizes = [len(latent.decode(b)[0]) for b in blobs]
    assert min(sizes) > 20 and max(sizes) <= 256


def _passage_mrr(searcher, questions: list[dict], lang: str) -> float:
    """MRR@10 of the passages that answer each question (bench/data/seeds_questions.json's "000#2": the
    first three characters of the seed's file name and the passage's ordinal), before grouping."""
    total = 0.0
    for q in questions:
        ranking = searcher.rank(q[lang], 10, "hybrid")
        vids = searcher.reader.rows.vids[ranking.rows].tolist()
        rows = searcher.reader.fetch_passages(vids)
        ids = [f"{rows[v].doc_id[:3]}#{rows[v].ordinal}" for v in vids]
        total += next((1.0 / (i + 1) for i, pid in enumerate(ids) if pid in q["relevant"]), 0.0)
    return total / len(questions)


def test_latent_terms_rank_the_seeds_english_questions_no_worse_than_without(seed_searcher):
    questions = json.loads(SEEDS_QUESTIONS.read_text())
    shipped = seed_searcher.fusion
    assert shipped.cross_language_latent > 0
    with_latent = _passage_mrr(seed_searcher, questions, "en")
    seed_searcher.fusion = replace(shipped, cross_language_latent=0.0)
    try:
        without = _passage_mrr(seed_searcher, questions, "en")
        french = _passage_mrr(seed_searcher, questions, "fr")
    finally:
        seed_searcher.fusion = shipped
    assert with_latent >= without
    assert _passage_mrr(seed_searcher, questions, "fr") == french  # French over French: latent terms unused
