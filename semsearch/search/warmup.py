"""What a search loads on first use, loaded before a reader is served.

Without it the first search after /readyz turned 200 would pay for the query model's first call, the
language identifier for the index's languages, stemmers and stop words, and the first reads of the
memory-mapped FAISS, BM25 and sentence-vector files: many times a warm search (BENCHMARKS.md, serving).
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from ..store.reader import IndexSummary
from ..text.analyzer import analyze
from .results import SearchResult
from .searcher import MODES

log = logging.getLogger(__name__)

# One question per language the analyzer knows best; any text would do, a question is realistic.
_QUESTIONS = {"fr": "Combien de soldats sont déployés ?", "en": "How many soldiers are deployed?"}


class _Summarized(Protocol):
    @property
    def summary(self) -> IndexSummary: ...


class Warmable(Protocol):
    """A Searcher, or the sharded service's searcher."""

    @property
    def reader(self) -> _Summarized: ...

    def search(self, query: str, k: int = 10, mode: str = "hybrid") -> SearchResult: ...


def warm_up(searcher: Warmable, first: bool = True) -> float:
    """Run one search in each mode, and analyze text in each of the reader's languages (lexical
    highlights analyze passages in their own language). Seconds spent; a failure is logged, never
    raised: a cold search is slower, not wrong.

    `first=False` (a new commit while another is served: the model, the language identifier and the
    analyzers are loaded already) runs one hybrid search, which builds what is per commit (the rows'
    identity order, the new segment's first reads): the warm-up sits on the write path of every HTTP
    write, so it does only what a new commit needs."""
    started = time.perf_counter()
    try:
        if not first:
            searcher.search(_QUESTIONS["fr"], k=10, mode="hybrid")
            return time.perf_counter() - started
        for lang in {*(searcher.reader.summary.languages or ()), "fr", "en"}:
            analyze(_QUESTIONS.get(lang, _QUESTIONS["en"]), lang)
        for question in _QUESTIONS.values():
            for mode in MODES:
                searcher.search(question, k=10, mode=mode)
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("warm-up search failed", exc_info=True, extra={"event": "warmup_failed"})
    return time.perf_counter() - started
