"""Short searches run on the event loop; the rest on a worker thread.

A search whose query vector is cached (or a lexical one) needs no model call (a hybrid search that may ask
for its query's latent terms, searcher.may_ask_latent, needs them cached too); on the seeds it takes
about 1.3 ms of CPU. Handed to a worker thread it cost about 0.8 ms more a request at 8 clients: the
hand-off itself, and the GIL shared by the searches in flight (BENCHMARKS.md, serving). A search that
needs the model stays on a thread: the query batching gathers the queries that wait there together.

Only short work may hold the event loop, so a search runs inline only while such searches have been
short: an average of the CPU time of the last ones (inline or on a thread) under `budget_s`; a large
index's searches go to threads after the first, and come back when they are short again. Requests
for facets, a histogram or a deeper pool than the default always go to a thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from ..search.searcher import NOT_CACHED, Searcher, may_ask_latent, pool_depth

T = TypeVar("T")

INLINE_BUDGET_S = 0.003  # average CPU time a search under which searches that need no model call run inline
_WEIGHT = 0.2  # of the newest search in the average


class InlineSearches:
    """Runs a search's work inline or on a worker thread (module docstring). The average is updated
    without a lock: a lost update among concurrent searches only delays the next switch."""

    def __init__(self, budget_s: float = INLINE_BUDGET_S) -> None:
        self.budget_s = budget_s
        self.average_s = 0.0  # CPU seconds of the recent searches that needed no model call
        self.inline = 0  # searches run on the event loop, for tests and benchmarks

    async def run(self, searcher: Any, query: str, mode: str, k: int, plain: bool, work: Callable[[], T]) -> T:
        """`work()` (the search for `query` with `searcher`, and its response) inline when it is short,
        else on a worker thread. `plain`: no facets and no histogram asked."""
        if not plain or not isinstance(searcher, Searcher) or not isinstance(query, str):
            return await anyio.to_thread.run_sync(work)
        if pool_depth(searcher.reader.size, searcher.candidates, k if isinstance(k, int) else 0) > searcher.candidates:
            return await anyio.to_thread.run_sync(work)
        key = query.strip()  # the cache's key: the query as validate_query leaves it
        vector = None if mode == "lexical" else searcher.cache.peek(searcher.embedder, key)
        if mode != "lexical" and vector is None:
            return await anyio.to_thread.run_sync(work)
        latent = NOT_CACHED
        if mode == "hybrid":  # its latent terms too, when it may ask for them (an English question over French articles)
            latent = searcher.cache.peek_latent(searcher.embedder, key)
            if latent is NOT_CACHED and may_ask_latent(searcher, key):
                return await anyio.to_thread.run_sync(work)
        if self.average_s >= self.budget_s:
            return await anyio.to_thread.run_sync(self._timed, work)
        self.inline += 1
        if vector is None:
            return self._timed(work)
        with searcher.cache.pinned(searcher.embedder, key, vector, latent):
            return self._timed(work)

    def _timed(self, work: Callable[[], T]) -> T:
        started = time.thread_time()
        try:
            return work()
        finally:
            self.average_s += _WEIGHT * (time.thread_time() - started - self.average_s)
