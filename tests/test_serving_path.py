"""The serving path's speed work, checked for what it must keep or load (never for wall-clock time):
the warm-up before ready, the query embedded beside the search, the response built once, the
lexical highlights analyzed once per reader."""

from __future__ import annotations

import numpy as np

from semsearch.service.api_models import SearchResponse
from semsearch.service.metrics import Metrics, TimedEmbedder
from semsearch.text import analyzer, lang

from .service_helpers import client_for

FRENCH = "Combien de soldats américains sont en Irak ?"
ENGLISH = "How many US soldiers are in Iraq?"


def _lazy_loads() -> dict[str, int]:
    """Misses of the caches that load something on first use: the language identifier for a set
    of candidate languages, a stemmer, a stop-word list."""
    return {
        "language identifier": lang._identifier.cache_info().misses,
        "stemmer": analyzer._stemmer.cache_info().misses,
        "stop words": analyzer._stopwords.cache_info().misses,
    }


def _query_model_calls(client) -> float:
    return sum(
        s.value
        for m in client.app.state.metrics.registry.collect()
        for s in m.samples
        if s.name == "semsearch_embed_duration_seconds_count" and s.labels.get("kind") == "query"
    )


def test_first_searches_after_ready_load_nothing_lazily(seed_index, embedder):
    lang._identifier.cache_clear()
    analyzer._stemmer.cache_clear()
    analyzer._stopwords.cache_clear()
    analyzer._term.cache_clear()  # as in a fresh process: words analyzed by earlier tests would skip the stemmer's load
    with client_for(seed_index, embedder, query_cache_size=0) as client:
        assert _query_model_calls(client) >= 1, "the warm-up made the model's first query call before ready"
        searcher = client.app.state.service.searcher
        assert searcher.sentence_terms._items, "the lexical warm-up analyzed passages of this reader"
        loaded = _lazy_loads()
        for query in (FRENCH, ENGLISH):
            for mode in ("hybrid", "dense", "lexical"):
                response = client.get("/search", params={"q": query, "mode": mode})
                assert response.status_code == 200, response.text
        assert _lazy_loads() == loaded


def test_search_answers_json_that_matches_its_documented_model(seed_index, embedder):
    with client_for(seed_index, embedder) as client:
        for response in (
            client.get("/search", params={"q": FRENCH, "k": 5}),
            client.post("/search", json={"query": FRENCH, "k": 5, "mode": "lexical", "collapse": False}),
        ):
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            body = SearchResponse.model_validate(response.json())
            assert body.results and body.results[0].text and body.results[0].highlight


def test_a_submitted_query_is_embedded_like_a_direct_call_and_timed(embedder):
    metrics = Metrics()
    timed = TimedEmbedder(embedder, metrics)
    future = timed.submit_queries([ENGLISH])
    assert np.array_equal(future.result(timeout=60), embedder.embed_queries([ENGLISH]))
    count = [s.value for m in metrics.registry.collect() for s in m.samples if s.name == "semsearch_embed_duration_seconds_count"]
    assert count == [1.0]


def test_lexical_highlight_is_the_sentence_holding_most_query_terms_also_from_the_cache(seed_searcher):
    query = "Parlement irakien résolution retrait des forces étrangères"
    terms = set(analyzer.analyze(query, "fr"))
    for _ in range(2):  # the second search reads the sentence terms from the reader's cache
        hits = seed_searcher.search(query, k=5, mode="lexical", collapse=False).results
        assert hits
        for hit in hits:
            table = seed_searcher.reader.sentences
            row = int(np.flatnonzero(seed_searcher.reader.rows.vids == _vid(seed_searcher, hit.passage_id))[0])
            spans = table.spans[table.ptr[row] : table.ptr[row + 1]]
            counts = [len(terms & set(analyzer.analyze(hit.text[a:b], hit.lang or "fr"))) for a, b in spans]
            best = max(counts)
            assert best > 0 and hit.highlight
            for a, b in hit.highlight:
                assert counts[[tuple(map(int, s)) for s in spans].index((a, b))] == best


def _vid(searcher, passage_id: str) -> int:
    rows = searcher.reader.fetch_passages([int(v) for v in searcher.reader.rows.vids])
    return next(vid for vid, row in rows.items() if row.passage_id == passage_id)


def test_a_new_commit_is_warmed_by_one_search_the_first_by_one_a_mode_and_language():
    from types import SimpleNamespace

    from semsearch.search.warmup import warm_up

    class CountingSearcher:
        reader = SimpleNamespace(summary=SimpleNamespace(languages=["fr"]))

        def __init__(self) -> None:
            self.calls: list[str] = []

        def search(self, question: str, k: int, mode: str) -> None:
            self.calls.append(mode)

    first, swap = CountingSearcher(), CountingSearcher()
    warm_up(first)
    warm_up(swap, first=False)
    assert sorted(set(first.calls)) == ["dense", "hybrid", "lexical"] and len(first.calls) == 6
    assert swap.calls == ["hybrid"]  # on the write path of every HTTP write: one search, not six
