"""Searches that need no model call run on the event loop while they are short (service/inline.py); the
others on a worker thread, with the same answers either way."""

from __future__ import annotations

import threading

import pytest

from semsearch.service.inline import InlineSearches

from .service_helpers import client_for

QUESTION = "Combien de soldats américains sont en Irak ?"


def _ran_on(client, monkeypatch) -> list[str]:
    """The names of the threads that ran the searches from now on."""
    searcher = client.app.state.service.searcher
    names: list[str] = []
    original = type(searcher).search

    def search(self, *args, **kwargs):
        names.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(searcher), "search", search)
    return names


def _body(response) -> dict:
    body = response.json()
    body.pop("took_ms")
    return body


def test_a_cached_query_runs_inline_with_the_same_answer_and_the_others_on_threads(seed_index, embedder, monkeypatch):
    with client_for(seed_index, embedder) as client:
        inline: InlineSearches = client.app.state.inline_searches
        threads = _ran_on(client, monkeypatch)
        first = client.get("/search", params={"q": QUESTION})  # not cached: the model, on a thread
        again = client.get("/search", params={"q": f"  {QUESTION} "})  # cached (the query as validated): inline
        posted = client.post("/search", json={"query": QUESTION})
        lexical = client.get("/search", params={"q": "Irak", "mode": "lexical"})
        assert [r.status_code for r in (first, again, posted, lexical)] == [200] * 4
        assert _body(first) == _body(posted)
        assert _body(first)["results"] == _body(again)["results"]
        loop = threads[1]
        assert threads[0] != loop and threads[2:] == [loop, loop]
        assert inline.inline == 3
        for params in ({"facets": "source"}, {"histogram": "month"}):  # more work: threads
            assert client.get("/search", params={"q": QUESTION, **params}).status_code == 200
        assert loop not in threads[4:] and inline.inline == 3


def test_searches_go_to_threads_while_they_have_been_long_and_errors_stay_the_same(seed_index, embedder, monkeypatch):
    with client_for(seed_index, embedder) as client:
        inline: InlineSearches = client.app.state.inline_searches
        assert client.get("/search", params={"q": QUESTION}).status_code == 200
        inline.average_s = 1.0  # as after long searches
        threads = _ran_on(client, monkeypatch)
        assert client.get("/search", params={"q": QUESTION}).status_code == 200
        assert inline.inline == 0 and inline.average_s < 1.0  # measured on its thread: the average comes down
        inline.average_s = 0.0
        for params in ({"q": QUESTION, "k": 0}, {"q": QUESTION, "mode": "fuzzy"}, {"q": QUESTION, "date_from": "yesterday"}):
            response = client.get("/search", params=params)
            assert response.status_code in (400, 422) and "error" in response.json(), response.text
        assert len(threads) >= 1


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_a_cached_search_on_the_loop_never_calls_the_model_even_when_evicted(seed_index, embedder, monkeypatch, mode):
    with client_for(seed_index, embedder) as client:
        assert client.get("/search", params={"q": QUESTION, "mode": mode}).status_code == 200
        service = client.app.state.service
        cache = service.searcher.cache
        peek = cache.peek

        def peek_then_evict(embedder, query):  # the LRU drops the vector between the check and the search
            vector = peek(embedder, query)
            cache._items.clear()
            return vector

        monkeypatch.setattr(cache, "peek", peek_then_evict)
        monkeypatch.setattr(type(service.searcher.embedder), "submit_queries", lambda *a, **k: pytest.fail("model called inline"))
        before = client.app.state.inline_searches.inline
        response = client.get("/search", params={"q": QUESTION, "mode": mode})
        assert response.status_code == 200 and client.app.state.inline_searches.inline == before + 1


ENGLISH = "How many US soldiers are in Iraq?"


def test_an_english_question_over_french_articles_runs_inline_only_once_its_latent_terms_are_cached(seed_index, embedder, monkeypatch):
    with client_for(seed_index, embedder) as client:
        inline: InlineSearches = client.app.state.inline_searches
        service = client.app.state.service
        cache = service.searcher.cache
        cache.get(service.searcher.embedder, ENGLISH)  # its vector cached, its latent terms not yet
        threads = _ran_on(client, monkeypatch)
        first = client.get("/search", params={"q": ENGLISH})  # may ask the model for latent terms: a thread
        assert first.status_code == 200 and inline.inline == 0
        peek_latent = cache.peek_latent

        def peek_then_evict(embedder, query):  # the LRU drops them between the check and the search
            latent = peek_latent(embedder, query)
            cache._latent.clear()
            return latent

        monkeypatch.setattr(cache, "peek_latent", peek_then_evict)
        monkeypatch.setattr(type(service.searcher.embedder), "latent_terms", lambda *a, **k: pytest.fail("model called inline"))
        again = client.get("/search", params={"q": ENGLISH})  # both cached: inline, and pinned
        assert again.status_code == 200 and inline.inline == 1 and threads[1] != threads[0]
        assert _body(first)["results"] == _body(again)["results"]
