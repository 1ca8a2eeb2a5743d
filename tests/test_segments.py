"""Segments: BM25+ with whole-collection statistics, tombstones, merges, and an index grown by many writes
that ranks like one built in a single write (small fake-model version; PIAF with a real model in
tests/test_segments_piaf.py)."""

from __future__ import annotations

import gc

import bm25s
import numpy as np
import pytest

from semsearch.documents import Document
from semsearch.index.merge import Merger
from semsearch.index.merge_policy import MergePolicy, simulate
from semsearch.index.writer import IndexWriter
from semsearch.search.results import SearchFilters
from semsearch.search.searcher import Searcher
from semsearch.store.commit import CommitPoint, SegmentEntry
from semsearch.store.layout import IndexDirectory
from semsearch.store.lexical import (
    BM25_B,
    BM25_DELTA,
    BM25_K1,
    BM25_METHOD,
    Bm25Query,
    LexicalStats,
    LiveSegment,
    Postings,
    bm25_plus,
    bm25_plus_sparse,
    length_norm,
    lexical_stats,
)
from semsearch.store.reader import RowLocator, open_index

from .test_snapshots import FakeEmbedder

WORDS = "budget école commune conseil vote euros ville marché foire livre maire route pont eau".split()


def _term_lists(n: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [list(rng.choice(WORDS, size=int(rng.integers(0, 12)))) for _ in range(n)]


def test_bm25_plus_over_one_segment_equals_bm25s():
    terms = _term_lists(300)
    reference = bm25s.BM25(k1=BM25_K1, b=BM25_B, method=BM25_METHOD)
    reference.index([t or ["\u2205"] for t in terms], show_progress=False)
    postings = Postings.build(terms)
    part = LiveSegment(postings, np.arange(len(terms)))
    for query in (["budget"], ["école", "école", "pont"], ["maire", "inconnu", "eau", "vote"]):
        known = [t for t in query if t in reference.vocab_dict]
        expected = reference.get_scores(known)
        assert np.allclose(bm25_plus([part], postings.lengths, query), expected, rtol=1e-5, atol=1e-5), query


def test_bm25_statistics_are_those_of_the_live_passages_of_all_segments():
    terms = _term_lists(200, seed=1)
    whole = Postings.build([t for i, t in enumerate(terms) if i % 7])  # one index of the live passages only
    parts, lengths, offset = [], [], 0
    for lo, hi in ((0, 80), (80, 150), (150, 200)):  # three segments holding all passages, every 7th deleted
        postings = Postings.build(terms[lo:hi])
        live = np.array([i % 7 != 0 for i in range(lo, hi)])
        to_global = np.full(hi - lo, -1)
        to_global[live] = np.arange(offset, offset + live.sum())
        offset += int(live.sum())
        parts.append(LiveSegment(postings, to_global))
        lengths.append(postings.lengths[live])
    for query in (["budget", "ville"], ["route", "route", "foire"]):
        expected = bm25_plus([LiveSegment(whole, np.arange(len(whole.lengths)))], whole.lengths, query)
        assert np.allclose(bm25_plus(parts, np.concatenate(lengths), query), expected, rtol=1e-6)


def _bm25_plus_every_row(parts, lengths, terms, stats=None) -> np.ndarray:
    """The scoring that visited every row (before sparse scores): the reference the sparse one must equal."""
    scores = np.zeros(len(lengths), np.float64)
    n = stats.passages if stats is not None else len(lengths)
    norm = length_norm(lengths, stats.total_length / n if stats is not None else float(lengths.astype(np.float64).mean()))
    baseline = 0.0
    for term in dict.fromkeys(terms):
        times = terms.count(term)
        rows, tf = [], []
        for part in parts:
            local, f = part.postings.lookup(term)
            g = part.to_global[local]
            rows.append(g[g >= 0])
            tf.append(np.asarray(f, np.float64)[g >= 0])
        rows, tf = np.concatenate(rows), np.concatenate(tf)
        df = stats.df.get(term, 0) if stats is not None else len(rows)
        if df == 0:
            continue
        idf = np.log((n + 1) / df)
        baseline += times * idf * BM25_DELTA
        scores[rows] += times * idf * (BM25_K1 + 1) * tf / (norm[rows] + tf)
    return (scores + baseline).astype(np.float32)


def test_sparse_bm25_plus_equals_scoring_every_row_bit_for_bit():
    rng = np.random.default_rng(3)
    for trial in range(60):
        terms = _term_lists(int(rng.integers(1, 300)), seed=trial)
        parts, lengths, offset = [], [], 0
        bounds = np.unique(np.r_[0, rng.integers(0, len(terms), 3), len(terms)])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            postings = Postings.build(terms[lo:hi])
            live = rng.random(hi - lo) < 0.8
            to_global = np.full(hi - lo, -1)
            to_global[live] = np.arange(offset, offset + live.sum())
            offset += int(live.sum())
            parts.append(LiveSegment(postings, to_global))
            lengths.append(postings.lengths[live])
        lengths = np.concatenate(lengths)
        query = list(rng.choice(WORDS + ["inconnu"], size=int(rng.integers(1, 7))))
        stats = None
        if trial % 3 == 0 and len(lengths):  # a shard: the collection's statistics are larger than its own
            own = lexical_stats(parts, lengths, query)
            stats = LexicalStats(own.passages * 2, own.total_length * 2.5, {t: c * 2 + 1 for t, c in own.df.items()})
        sparse = bm25_plus_sparse(parts, lengths, query, stats)
        expected = _bm25_plus_every_row(parts, lengths, query, stats) if len(lengths) else np.zeros(0, np.float32)
        assert np.array_equal(sparse.dense(), expected), trial
        assert np.all(sparse.values > sparse.baseline) and np.all(np.diff(sparse.rows) > 0)
        probe = rng.integers(0, max(len(lengths), 1), 20) if len(lengths) else np.zeros(0, np.int64)
        assert np.array_equal(sparse[probe], expected[probe])


def test_maxscore_top_rows_and_lookups_equal_scoring_every_row():
    """Bm25Query (MaxScore top n, exact lookups) against every row scored and sorted by (score, identity),
    over segments with deleted rows, filters, repeated terms and a shard's collection statistics."""
    from types import SimpleNamespace

    rng = np.random.default_rng(11)
    weights = 1.0 / np.arange(1, len(WORDS) + 1)  # Zipf: common terms beside rare ones, as MaxScore meets them
    pruned = 0
    for trial in range(150):
        size = int(rng.integers(50, 600))
        terms = [list(rng.choice(WORDS, size=int(rng.integers(0, 10)), p=weights / weights.sum())) for _ in range(size)]
        parts, lengths, seg_of, local_of, offset = [], [], [], [], 0
        bounds = np.unique(np.r_[0, rng.integers(0, size, 2), size])
        for s_i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            postings = Postings.build(terms[lo:hi])
            live = rng.random(hi - lo) < 0.85
            to_global = np.full(hi - lo, -1)
            to_global[live] = np.arange(offset, offset + live.sum())
            offset += int(live.sum())
            parts.append(LiveSegment(postings, to_global, np.flatnonzero(~live)))
            lengths.append(postings.lengths[live])
            seg_of.append(np.full(int(live.sum()), s_i))
            local_of.append(np.flatnonzero(live))
        lengths = np.concatenate(lengths)
        seg_of, local_of = np.concatenate(seg_of), np.concatenate(local_of)
        if not len(lengths):
            continue
        query = list(rng.choice(WORDS + ["inconnu"], size=int(rng.integers(1, 6))))
        stats = None
        if trial % 4 == 0:
            own = lexical_stats(parts, lengths, query)
            stats = LexicalStats(own.passages + 40, own.total_length * 1.3 + 100, {t: c + 3 for t, c in own.df.items()})
        expected = _bm25_plus_every_row(parts, lengths, query, stats)
        scores = Bm25Query(parts, lengths, query, RowLocator(seg_of, local_of), stats)
        probe = rng.integers(0, len(lengths), 30)
        assert np.array_equal(scores[probe], expected[probe]), trial
        identity = rng.permutation(len(lengths) * 2)[:len(lengths)].astype(np.int64)
        searcher = Searcher(SimpleNamespace(identity=identity), FakeEmbedder())
        mask = rng.random(len(lengths)) < 0.6 if trial % 3 == 0 else None
        n = int(rng.integers(1, 40))
        allowed = [r for r in range(len(lengths)) if (mask is None or mask[r]) and expected[r] > 0]
        want = sorted(allowed, key=lambda r: (-expected[r], identity[r]))[:n]
        assert searcher.top_rows(scores, n, mask, positive=True).tolist() == want, trial
        pruned += not scores.top_candidates(n, mask).complete
    assert pruned > 20  # the pruned path was taken, not only the full one


def _doc(i: int, version: int = 0) -> Document:
    words = [WORDS[(i * 3 + k * (version + 1)) % len(WORDS)] for k in range(12)]
    return Document(
        f"d{i}", f"Article {i} version {version}. " + " ".join(words) + f". Le conseil numéro {i} a voté.",
        lang="fr", source="alpha" if i % 2 else "beta", date=f"2024-0{1 + i % 9}",
    )


def _final_documents(n: int = 40) -> list[Document]:
    """What the grown index holds at the end: documents 0..n-1, every 5th in version 1, every 7th deleted."""
    return [_doc(i, 1 if i % 5 == 0 else 0) for i in range(n) if i % 7]


def _grow(root, writes: int = 20, n: int = 40) -> None:
    """The same final collection reached by `writes` writes with updates, deletes and re-adds in between."""
    writer = IndexWriter(root, FakeEmbedder())
    per = n // writes
    for w in range(writes):
        batch = [_doc(i) for i in range(w * per, (w + 1) * per)]
        deletes = [f"d{i}" for i in range(0, (w + 1) * per) if i % 7 == 0 and i % 2 == w % 2]
        writer.write(batch, delete_ids=deletes)
    writer.write([_doc(i, 1) for i in range(n) if i % 5 == 0 and i % 7], delete_ids=[f"d{i}" for i in range(n) if i % 7 == 0])


def _results(reader, query: str, mode: str, filters=None):
    result = Searcher(reader, FakeEmbedder()).search(query, k=10, mode=mode, filters=filters, collapse=False)
    return [(h.passage_id, h.score, h.highlight) for h in result.results]


def _same(a, b):
    """The same ranking; passages whose scores agree to 1e-5 may come in either order (a float sum's last bit
    depends on how the vectors are laid out in segments, and the fake model gives near-identical vectors)."""
    def canonical(results):
        return sorted(results, key=lambda x: (-round(float(x[1]), 5), x[0]))

    for results in (a, b):  # each is ranked by score
        scores = [float(x[1]) for x in results]
        assert all(s1 >= s2 - 1e-5 for s1, s2 in zip(scores, scores[1:])), scores
    a, b = canonical(a), canonical(b)
    assert [x[0] for x in a] == [x[0] for x in b]
    assert np.allclose([x[1] for x in a], [x[1] for x in b], atol=1e-4)
    assert [x[2] for x in a] == [x[2] for x in b]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_an_index_grown_by_many_writes_ranks_like_one_built_in_one_write(tmp_path, mode):
    _grow(tmp_path / "grown")
    IndexWriter(tmp_path / "single", FakeEmbedder()).write(_final_documents())
    grown, single = open_index(tmp_path / "grown"), open_index(tmp_path / "single")
    assert len(grown.segments) > 10 and len(single.segments) == 1
    assert sorted(grown.rows.doc_ids) == sorted(single.rows.doc_ids) and grown.size == single.size
    for query in ("budget de la commune", "marché et foire aux livres", "le pont sur l'eau", "conseil vote"):
        _same(_results(grown, query, mode), _results(single, query, mode))
        _same(_results(grown, query, mode, SearchFilters(source="alpha")), _results(single, query, mode, SearchFilters(source="alpha")))
    Merger(tmp_path / "grown").force_merge()
    merged = open_index(tmp_path / "grown")
    assert len(merged.segments) == 1 and merged.segment_stats()[0].deleted == 0
    for query in ("budget de la commune", "conseil vote"):
        _same(_results(merged, query, mode), _results(single, query, mode))


def test_an_old_reader_lets_its_segments_go_with_its_last_user_not_at_the_next_garbage_collection(tmp_path):
    # A server swaps readers on every commit: a reader kept alive by a reference cycle held merged-away
    # segments' files open until the collector's next full pass (seen as open descriptors in the soak).
    _grow(tmp_path / "grown", writes=4)
    reader = open_index(tmp_path / "grown")
    assert len(reader.segments) > 1
    Searcher(reader, FakeEmbedder()).search("conseil vote", k=5)
    reader.sentences.vectors[[0, 1]]  # noqa: B018 - the stacked views are what held the reader
    segments, finalizer = reader.segments, reader._finalizer
    gc.disable()
    try:
        del reader
        assert not finalizer.alive
        assert all(s.users == 0 for s in segments)
    finally:
        gc.enable()


def test_passage_identity_orders_rows_by_document_id_then_passage_order_whatever_the_segments(tmp_path):
    from semsearch.store.live_rows import passage_identity

    _grow(tmp_path / "grown")
    IndexWriter(tmp_path / "single", FakeEmbedder()).write(_final_documents())
    for reader in (open_index(tmp_path / "grown"), open_index(tmp_path / "single")):
        rows = reader.rows
        expected = sorted(range(reader.size), key=lambda r: (rows.doc_ids[rows.doc_index[r]], rows.vids[r]))
        assert np.argsort(reader.identity).tolist() == expected
        assert np.argsort(passage_identity(rows.doc_ids, rows.doc_index, rows.vids)).tolist() == expected


def test_a_reader_of_the_next_commit_reuses_the_live_rows_of_segments_whose_tombstones_did_not_change(tmp_path):
    _grow(tmp_path, writes=4)
    before = open_index(tmp_path)
    IndexWriter(tmp_path, FakeEmbedder()).write([_doc(100)], delete_ids=["d1"])
    after = open_index(tmp_path, previous=before)
    old = {s.name: (s, d) for s, d in zip(before.segments, before.deletes)}
    kept = [(s, d) for s, d in zip(after.segments, after.deletes) if s.name in old and len(d) == len(old[s.name][1])]
    changed = [s for s, d in zip(after.segments, after.deletes) if s.name in old and len(d) != len(old[s.name][1])]
    assert kept and changed  # d1's segment gained a tombstone, the others did not
    for segment, deleted in kept:
        assert segment is old[segment.name][0] and segment.live_rows(deleted) is old[segment.name][0].live_rows(old[segment.name][1])
    assert "d1" not in after.rows.doc_ids and "d100" in after.rows.doc_ids


def test_a_server_merge_borrows_its_sources_and_hands_the_merged_segment_over_open(tmp_path, monkeypatch):
    # Lucene's merged-segment warmer: the reader of the merge's commit (or of the write after it) must not
    # open the merged segment, which at 1M passages made a one-article write wait 50 s under the lock.
    from semsearch.service.metrics import Metrics
    from semsearch.service.state import ServiceState
    from semsearch.store import segment as segment_module

    from .service_helpers import make_settings

    _grow(tmp_path, writes=4)
    embedder = FakeEmbedder()
    service = ServiceState(make_settings(tmp_path, model=embedder.spec), Metrics(), embedder=embedder)
    service.bootstrap()
    before = _results(service.searcher.reader, "conseil vote", "hybrid")
    assert len(service.searcher.reader.segments) > 1
    opened: list[str] = []
    real_open = segment_module.Segment.open.__func__

    def counting_open(cls, path, dim):
        opened.append(path.name)
        return real_open(cls, path, dim)

    monkeypatch.setattr(segment_module.Segment, "open", classmethod(counting_open))
    reports = service.optimize()
    assert len(reports) == 1 and len(opened) == 1 and opened[0].startswith(".tmp")  # sources borrowed, merged warmed
    served = service.searcher.reader
    assert [s.name for s in served.segments] == [reports[0].merged] and served.segments[0].path.is_dir()
    _same(_results(served, "conseil vote", "hybrid"), before)
    service.write([_doc(200)])
    assert len(opened) == 2 and service.searcher.reader.segments[0] is served.segments[0]  # only the new one
    assert service.open_segments.known() == {}


def test_top_rows_equals_sorting_every_allowed_row_by_score_then_identity():
    from types import SimpleNamespace

    rng = np.random.default_rng(7)
    for trial in range(300):
        size = int(rng.integers(1, 400))
        identity = rng.permutation(size * 3)[:size].astype(np.int64)
        searcher = Searcher(SimpleNamespace(identity=identity), FakeEmbedder())
        floor = float(rng.choice([0.0, 0.5, -0.2]))
        scores = np.full(size, floor, np.float32)
        hits = rng.random(size) < rng.choice([0.02, 0.3, 0.9])
        scores[hits] = rng.choice([floor + 1, floor + 2, floor + rng.random()], size=int(hits.sum())).astype(np.float32)
        mask = rng.random(size) < 0.7 if trial % 3 == 0 else None
        positive = bool(trial % 2)
        n = int(rng.integers(1, 150))
        allowed = [r for r in range(size) if (mask is None or mask[r]) and (not positive or scores[r] > 0)]
        expected = sorted(allowed, key=lambda r: (-scores[r], identity[r]))[:n]
        assert searcher.top_rows(scores, n, mask, positive).tolist() == expected, trial


def test_merge_policy_merges_a_full_tier_and_segments_heavy_with_tombstones():
    entries = [SegmentEntry(f"s{i}", passages=10 + i, documents=1) for i in range(12)]
    entries.append(SegmentEntry("big", passages=50_000, documents=100, deleted=20_000, deleted_documents=40))
    merges = MergePolicy().find_merges(entries)
    assert merges == [[f"s{i}" for i in range(10)], ["big"]]
    assert MergePolicy().find_merges(entries[:9]) == []
    assert MergePolicy.force(entries) == [[e.name for e in sorted(entries, key=lambda e: e.live)]]


def test_merge_policy_rewrites_each_passage_a_few_times_over_many_one_article_writes():
    # Lucene's measure of a merge policy: passages written by merges per passage written. A merged segment
    # that stays in the lowest tier is merged again with each batch of new small segments.
    policy = MergePolicy()
    simulated = simulate(policy, writes=1500, passages=3, start=100_000)
    assert simulated.amplification < 5 and simulated.most <= 4 * policy.segments_per_tier
    assert MergePolicy(floor_passages=1_000).tier(5_000) == 0 and policy.tier(5_000) == 2


def test_background_merges_keep_the_segment_count_bounded(tmp_path):
    writer, merger = IndexWriter(tmp_path, FakeEmbedder()), Merger(tmp_path)
    for i in range(25):
        writer.write([_doc(i)])
        merger.maybe_merge()
    reader = open_index(tmp_path)
    assert len(reader.segments) < 10 and reader.size == 25 and reader.commit.merges >= 2


def test_merger_names_the_segments_it_merges_only_while_it_merges_them(tmp_path, monkeypatch):
    """`Merger.merging` (GET /stats `merging`) is set while segments are merged, not while the policy looks."""
    writer, merger = IndexWriter(tmp_path, FakeEmbedder()), Merger(tmp_path)
    for i in range(9):
        writer.write([_doc(i)])
    seen: list[tuple[str, ...]] = []
    original = Merger._write_merged

    def recording(self, *args):
        seen.append(self.merging)
        return original(self, *args)

    monkeypatch.setattr(Merger, "_write_merged", recording)
    assert merger.maybe_merge() == [] and seen == [] and merger.merging == ()  # 9 segments: nothing to merge
    writer.write([_doc(9)])
    reports = merger.maybe_merge()
    assert len(reports) == 1 and seen == [tuple(reports[0].sources)] and len(seen[0]) == 10
    assert merger.merging == ()


def test_a_delete_during_a_merge_is_carried_into_the_merged_segment(tmp_path, monkeypatch):
    writer = IndexWriter(tmp_path, FakeEmbedder())
    for i in range(4):
        writer.write([_doc(i)])
    merger = Merger(tmp_path)
    original = Merger._write_merged

    def write_then_delete(self, *args):
        passages = original(self, *args)
        writer.write(delete_ids=["d1"], documents=[_doc(2, 1)])  # a delete and an update while the merge runs
        return passages

    monkeypatch.setattr(Merger, "_write_merged", write_then_delete)
    reports = merger.force_merge()
    reader = open_index(tmp_path)
    assert reports and sorted(reader.rows.doc_ids) == ["d0", "d2", "d3"]
    assert reader.fetch_document("d1") is None and "version 1" in reader.fetch_document("d2")[0].text
    assert reader.commit.passages == reader.size and reader.commit.documents == 3
    monkeypatch.undo()
    merger.force_merge()
    final = open_index(tmp_path)
    assert len(final.segments) == 1 and sorted(final.rows.doc_ids) == ["d0", "d2", "d3"]
    layout = IndexDirectory(tmp_path)
    kept = {s.name for g in layout.generations() for s in CommitPoint.read(layout.commit_path(g)).segments}
    assert len(layout.generations()) == 2 and {p.name for p in layout.segments.iterdir()} == kept  # the rest is removed


def test_ties_order_document_ids_as_python_does_with_or_without_the_fast_array(monkeypatch):
    from semsearch.store import live_rows as searcher_module

    ids = ["zèbre", "Zoo", "a-10", "a-9", "été", "a-1", "ünïcode", "東京", "b"]
    expected = sorted(range(len(ids)), key=ids.__getitem__)
    assert searcher_module.sortable(ids).dtype.kind == "U"
    assert np.argsort(searcher_module.sortable(ids), kind="stable").tolist() == expected
    monkeypatch.setattr(searcher_module, "_SORT_BYTES", 0)  # too wide for the fixed-width array: Python objects
    assert searcher_module.sortable(ids).dtype == object
    assert np.argsort(searcher_module.sortable(ids), kind="stable").tolist() == expected
