"""The vector index type by collection size, search-time parameters, and a collection that grows past a threshold."""

from __future__ import annotations

import hashlib

import faiss
import numpy as np
import pytest

from semsearch.documents import Document
from semsearch.embedding.base import Embedder
from semsearch.index.merge import Merger
from semsearch.index.writer import IndexWriter
from semsearch.search.results import SearchFilters
from semsearch.search.search_options import SearchOptions
from semsearch.search.searcher import Searcher
from semsearch.settings import Settings
from semsearch.store import vectors
from semsearch.store.reader import open_index

SMALL_TIERS = ((0, "Flat"), (200, "IVF{nlist},SQ8"))


class RandomEmbedder(Embedder):
    """Random unit vectors, a fixed one per text (seeded by its hash): no model, and no two passages alike."""

    spec = "fake:random"
    dim = 16
    max_tokens = 512

    def embed_passages(self, texts):
        out = np.array(
            [np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")).standard_normal(self.dim)
             for t in texts],
            dtype=np.float32,
        ).reshape(-1, self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if len(out) else out

    embed_queries = embed_passages

    def embed_query(self, text):
        return self.embed_queries([text])[0]

    def count_tokens(self, text):
        return len(text.split())


def _docs(lo, hi):
    return [
        Document(f"d{i}", f"Texte du document {i} avec assez de mots pour faire un passage entier.", lang="fr",
                 source="alpha" if i % 2 else "beta")
        for i in range(lo, hi)
    ]


def _unit(n, dim=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# -- which type at which size ------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 500, 50_000, 99_999])
def test_small_collections_are_exact(n):
    assert vectors.choose_index_type(n) == "Flat"


@pytest.mark.parametrize("n", [100_000, 250_000, 1_000_000, 10_000_000, 100_000_000])
def test_large_collections_get_ivf_with_enough_training_points(n):
    chosen = vectors.choose_index_type(n)
    assert chosen.startswith("IVF") and chosen.endswith(",SQ8")
    nlist = int(chosen[3:].split(",")[0])
    assert nlist & (nlist - 1) == 0
    assert nlist * vectors.MIN_TRAIN_PER_LIST <= n
    assert 1 <= vectors.ivf_nprobe(nlist, n) <= nlist


def test_one_million_gets_the_measured_type():
    assert vectors.choose_index_type(1_000_000) == "IVF2048,SQ8"  # see BENCHMARKS.md, "Vector index scale"
    assert vectors.ivf_nprobe(2048, 1_000_000) == 135


def test_nlist_never_outgrows_the_training_set():
    for n in (39, 40, 100, 1_000, 5_000, 20_000, 99_999, 100_000, 3_000_000):
        assert vectors.ivf_nlist(n) * vectors.MIN_TRAIN_PER_LIST <= n


def test_override_wins_at_any_size():
    assert vectors.choose_index_type(10, "HNSW32") == "HNSW32"
    assert vectors.choose_index_type(5_000_000, "Flat") == "Flat"
    assert vectors.choose_index_type(100_000, "IVF{nlist},Flat") == "IVF512,Flat"


def test_ivf_override_on_too_few_vectors_falls_back_to_exact():
    assert vectors.choose_index_type(1_000, "IVF4096,SQ8") == "Flat"
    assert vectors.choose_index_type(1_000_000, "IVF4096,SQ8") == "IVF4096,SQ8"


def test_tiers_are_configurable():
    assert vectors.choose_index_type(199, tiers=SMALL_TIERS) == "Flat"
    assert vectors.choose_index_type(200, tiers=SMALL_TIERS) == "IVF4,SQ8"
    assert vectors.choose_index_type(200, "Flat", tiers=SMALL_TIERS) == "Flat"


def test_override_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEMSEARCH_INDEX_TYPE", "HNSW32")
    assert vectors.choose_index_type(10, Settings().index_type) == "HNSW32"
    monkeypatch.delenv("SEMSEARCH_INDEX_TYPE")
    assert Settings().index_type is None


# -- search parameters and filters, through the IDMap2 wrapper ----------------------------------


@pytest.mark.parametrize("index_type", ["Flat", "HNSW32", "IVF16,SQ8", "IVF16,Flat", "IVF16,PQ8x4,RFlat", "HNSW16,SQ8"])
def test_filters_work_with_every_index_type(index_type):
    x = _unit(2_000)
    ids = np.arange(len(x), dtype=np.int64) * 7 + 3  # ids are not row numbers
    index = vectors.build_index(x, ids, index_type)
    assert index.ntotal == len(x)
    _, found = index.search(x[:50], 1, params=vectors.search_parameters(index))
    assert np.mean(found[:, 0] == ids[:50]) >= 0.9  # each vector finds itself (approximate types may miss a few)
    for allowed in (ids[::2], ids[::100], ids[5:6], ids[::3][:5_000]):  # broad (bitmap) to narrow (hash set)
        _, found = index.search(x[:20], 10, params=vectors.search_parameters(index, allowed))
        hits = found[found >= 0]
        assert np.isin(hits, allowed).all()
        assert (found >= 0).sum(axis=1).min() == min(10, len(allowed))  # k results whenever k are allowed


def test_search_parameters_use_stored_defaults_and_widen_for_filters():
    x = _unit(4_000)
    ids = np.arange(len(x), dtype=np.int64)
    index = vectors.build_index(x, ids, "IVF64,SQ8")
    assert vectors.search_parameters(index).nprobe == vectors.ivf_nprobe(64, len(x))
    assert vectors.search_parameters(index, nprobe=3).nprobe == 3
    assert vectors.search_parameters(index, ids[: len(ids) // 4], nprobe=3).nprobe == 6  # 1 / sqrt(1/4)
    assert vectors.search_parameters(index, ids[:1], nprobe=3).nprobe == 64  # a narrow filter scans every list
    hnsw = vectors.build_index(x, ids, "HNSW32")
    assert vectors.search_parameters(hnsw).efSearch == vectors.HNSW_EF_SEARCH
    assert vectors.search_parameters(hnsw, ids[:10]).efSearch == vectors.HNSW_MAX_EF_SEARCH
    assert vectors.search_parameters(vectors.build_index(x, ids, "Flat")) is None


def test_a_segment_probes_its_share_of_the_collection_not_of_itself(monkeypatch):
    monkeypatch.setattr(vectors, "IVF_SCAN_CODES", 2_000)
    monkeypatch.setattr(vectors, "IVF_MIN_NPROBE", 2)
    x = _unit(4_000)
    index = vectors.build_index(x, np.arange(len(x), dtype=np.int64), "IVF64,SQ8")
    alone = vectors.collection_nprobe(index, len(x))
    assert alone == vectors.ivf_nprobe(64, len(x)) == 32  # half the lists: 2,000 of 4,000 codes
    # one of ten such segments: a tenth of that, so ten segments scan what one merged index would
    assert vectors.collection_nprobe(index, 10 * len(x)) == 4
    assert vectors.collection_nprobe(index, 1_000_000) == 2  # never under the floor
    assert vectors.collection_nprobe(vectors.build_index(x, np.arange(len(x), dtype=np.int64), "Flat"), 10 * len(x)) is None


def test_an_ivf_index_survives_a_file_round_trip(tmp_path):
    x = _unit(3_000)
    ids = np.arange(len(x), dtype=np.int64) + 100
    vectors.save_index(vectors.build_index(x, ids, "IVF32,SQ8"), tmp_path)
    index = vectors.load_index(tmp_path)
    assert isinstance(faiss.downcast_index(index), faiss.IndexIVFScalarQuantizer)  # ids in the lists, no IDMap2
    assert index.ntotal == len(x)
    params = vectors.search_parameters(index, ids[::10])
    assert params.nprobe == 32
    _, found = index.search(x[::10][:20], 1, params=params)
    assert (found[:, 0] == ids[::10][:20]).all()


# -- a collection that grows past the threshold -------------------------------------------------


def _every_passage_finds_itself(reader):
    rows = reader.dense_search  # every live passage's own vector finds it first, whatever its segment's type
    return all(rows(np.asarray(reader.vectors[[r]][0], dtype=np.float32), 1)[0] == r for r in range(reader.size))


def test_index_type_is_chosen_by_segment_size_and_a_merge_past_the_threshold_switches_it(tmp_path):
    writer = IndexWriter(tmp_path, RandomEmbedder(), index_tiers=SMALL_TIERS)
    writer.write(_docs(0, 150))
    small = open_index(tmp_path)
    assert small.summary.index_type == "Flat"
    assert small.segments[0].index.ntotal == small.size == 150
    assert _every_passage_finds_itself(small)

    report = writer.write(_docs(150, 320))
    assert report.added == 170
    two = open_index(tmp_path)
    assert [s.info.index_type for s in two.segments] == ["Flat", "Flat"]  # 170 passages: under the IVF threshold

    merger = Merger(tmp_path, index_tiers=SMALL_TIERS)
    merger.force_merge()
    big = open_index(tmp_path)
    assert big.summary.index_type == vectors.choose_index_type(320, tiers=SMALL_TIERS) == "IVF8,SQ8"
    assert isinstance(vectors._inner(big.segments[0].index), faiss.IndexIVFScalarQuantizer)
    assert big.segments[0].index.ntotal == big.size == big.summary.passages == 320
    assert sorted(big.rows.doc_ids) == sorted(f"d{i}" for i in range(320))
    assert _every_passage_finds_itself(big)

    writer.write(delete_ids=[f"d{i}" for i in range(200)])
    tombstoned = open_index(tmp_path)
    assert tombstoned.size == 120 and _every_passage_finds_itself(tombstoned)  # deleted ones excluded inside FAISS
    merger.force_merge()
    shrunk = open_index(tmp_path)
    assert shrunk.summary.index_type == "Flat"
    assert shrunk.segments[0].index.ntotal == shrunk.size == 120
    assert _every_passage_finds_itself(shrunk)


def test_filtered_search_on_an_ivf_index(tmp_path):
    IndexWriter(tmp_path, RandomEmbedder(), index_tiers=SMALL_TIERS).write(_docs(0, 400))
    reader = open_index(tmp_path)
    assert reader.summary.index_type.startswith("IVF")
    searcher = Searcher(reader, RandomEmbedder())
    every = SearchOptions(relevant_only=False)  # random vectors: the relevance cutoff is not what is tested here
    result = searcher.search("document", k=10, mode="dense", filters=SearchFilters(source="alpha"), options=every)
    assert len(result.results) == 10 and {hit.source for hit in result.results} == {"alpha"}
    result = searcher.search("document", k=10, mode="hybrid", filters=SearchFilters(source="beta"), options=every)
    assert len(result.results) == 10 and {hit.source for hit in result.results} == {"beta"}
    assert len(searcher.search("document", k=10, mode="dense", options=every).results) == 10
