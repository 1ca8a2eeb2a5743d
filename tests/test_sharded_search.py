"""A sharded search (search/shard.py, search/sharded_search.py) answers exactly as the single-process
Searcher over the same commit, with shards in this process (no Ray; tests/test_ray_serve.py runs the
same code on a Ray cluster with the real model). The index: many writes with updates and deletes
(tests/test_segments.py), so shards hold segments with tombstones and ties are frequent (fake model)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from semsearch.search.results import SearchFilters
from semsearch.search.search_options import SearchOptions
from semsearch.search.searcher import Searcher
from semsearch.search.shard import ShardIndex, assign_segments
from semsearch.search.sharded_search import LocalShards, PassageCache, ShardedSearcher, open_view
from semsearch.service.app import create_app
from semsearch.service.sharded_state import ShardedServiceState
from semsearch.store.layout import IndexDirectory
from semsearch.store.reader import open_index

from .service_helpers import AUTH, make_settings
from .test_segments import _grow
from .test_snapshots import FakeEmbedder

QUERIES = ["budget de la ville", "conseil école vote", "Le conseil numéro 12 a voté", "pont route eau euros", "foire"]
FILTERS = [None, SearchFilters(lang="fr", source="alpha"), SearchFilters(date_from="2024-03", date_to="2024-07")]


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    root = tmp_path_factory.mktemp("grown") / "index"
    _grow(root)
    return root


def sharded(root, shards: int, embedder) -> ShardedSearcher:
    pool = LocalShards([ShardIndex(root, i, shards) for i in range(shards)])
    settings = make_settings(root, model=embedder.spec)
    cache = Searcher(open_index(root), embedder).cache
    return ShardedSearcher(open_view(IndexDirectory(root), pool), embedder, settings.search_config(), cache, PassageCache())


def answers(searcher, query: str, mode: str, filters=None, options=None, collapse=True) -> list[tuple]:
    result = searcher.search(query, k=10, mode=mode, filters=filters, collapse=collapse, options=options)
    facets = {name: [(f.value, f.count) for f in counts] for name, counts in result.facets.items()}
    hits = [(h.passage_id, h.score, h.highlight, [d.passage_id for d in h.duplicates]) for h in result.results]
    return [hits, result.total, result.total_relation, result.query_lang, facets]


def test_segments_are_balanced_over_shards_and_each_is_in_exactly_one(grown):
    from semsearch.store.commit import CommitPoint

    layout = IndexDirectory(grown)
    commit = CommitPoint.read(layout.commit_path(layout.generation()))
    parts = assign_segments(commit, 3)
    assert sorted(n for p in parts for n in p) == sorted(e.name for e in commit.segments)
    live = {e.name: e.live for e in commit.segments}
    loads = [sum(live[n] for n in p) for p in parts]
    assert max(loads) - min(loads) <= max(live.values())
    assert assign_segments(commit, 3) == parts  # a function of the commit alone


def test_bm25_of_a_shard_with_the_summed_statistics_equals_the_whole_index(grown):
    from semsearch.store.commit import CommitPoint
    from semsearch.store.lexical import LexicalStats
    from semsearch.store.reader import open_commit

    layout = IndexDirectory(grown)
    whole = open_index(grown)
    parts = [open_commit(layout, whole.generation, only=lambda c, i=i: assign_segments(c, 2)[i]) for i in range(2)]
    assert sum(len(p.segments) for p in parts) == len(CommitPoint.read(whole.path).segments)
    for terms in (["budget", "vill"], ["conseil", "conseil", "pont"], ["inconnu"]):
        stats = LexicalStats.total([p.lexical_stats(terms) for p in parts])
        assert stats == whole.lexical_stats(terms)
        want = dict(zip(whole.rows.vids.tolist(), whole.lexical_scores(terms).dense().tolist()))
        for part in parts:
            got = dict(zip(part.rows.vids.tolist(), part.lexical_scores(terms, stats).dense().tolist()))
            assert got == {vid: want[vid] for vid in got}  # bit for bit


@pytest.mark.parametrize("shards", [1, 2, 3])
@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_sharded_search_equals_the_single_searcher(grown, shards, mode):
    embedder = FakeEmbedder()
    single, split = Searcher(open_index(grown), embedder), sharded(grown, shards, embedder)
    options = SearchOptions(relevant_only=False, facets=("source", "lang", "month"))
    for query in QUERIES:
        for filters in FILTERS:
            want, got = answers(single, query, mode, filters), answers(split, query, mode, filters)
            assert got[0] or not want[0]
            assert [h[0] for h in got[0]] == [h[0] for h in want[0]], (query, filters)
            assert np.allclose([h[1] for h in got[0]], [h[1] for h in want[0]], atol=1e-6)
            assert got == want, (query, filters)
        assert answers(split, query, mode, options=options, collapse=False) == answers(single, query, mode, options=options, collapse=False)
        recency = SearchOptions(half_life_days=30, sort="date", offset=2)
        assert answers(split, query, mode, options=recency) == answers(single, query, mode, options=recency)


def test_a_sharded_app_takes_a_write_with_the_key_and_finds_it_at_once(tmp_path):
    root = tmp_path / "index"
    _grow(root, writes=4, n=12)
    embedder = FakeEmbedder()
    pool = LocalShards([ShardIndex(root, i, 2) for i in range(2)])
    app = create_app(make_settings(root, model=embedder.spec), make_state=lambda s, m: ShardedServiceState(s, m, pool, embedder))
    with TestClient(app) as client:
        assert app.state.service.wait_ready(60), app.state.service.phase
        before = client.get("/stats").json()
        doc = {"id": "new/1", "text": "Le marché couvert de la commune ouvrira ses portes samedi, annonce le maire.", "lang": "fr"}
        assert client.post("/documents", json={"documents": [doc]}).status_code == 401
        assert client.post("/documents", json={"documents": [doc]}, headers=AUTH).status_code == 200
        found = client.get("/search", params={"q": "marché couvert samedi", "mode": "lexical"}).json()
        assert found["results"][0]["doc_id"] == "new/1"
        after = client.get("/stats").json()
        assert after["documents"] == before["documents"] + 1 and after["segments"] == before["segments"] + 1
        assert client.get("/documents/new%2F1").status_code == 200
        similar = client.get("/documents/new%2F1/similar")
        assert similar.status_code == 501 and "semsearch serve --ray" in similar.json()["error"]["message"]
        assert client.get("/").status_code == 200
        optimized = client.post("/admin/optimize", headers=AUTH, timeout=60)  # the ingress merges, the shards reopen
        assert optimized.status_code == 200 and optimized.json()["segments"] == 1, optimized.text
        found = client.get("/search", params={"q": "marché couvert samedi", "mode": "lexical"}).json()
        assert found["results"][0]["doc_id"] == "new/1" and client.get("/stats").json()["documents"] == after["documents"]
