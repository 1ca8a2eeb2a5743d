"""What a search loads on first use, loaded before a snapshot is served.

Without it the first search after /readyz turned 200 paid for the query model's first call, the
language identifier for the index's languages, stemmers and stop words, and the first reads of the
memory-mapped FAISS, BM25 and sentence-vector files: 600-900 ms, against about 13 ms for the next
ones (issue #14, BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import time

from ..text.analyzer import analyze
from .searcher import MODES, Searcher

log = logging.getLogger(__name__)

# One question per language the analyzer knows best; any text would do, a question is realistic.
_QUESTIONS = {"fr": "Combien de soldats sont déployés ?", "en": "How many soldiers are deployed?"}


def warm_up(searcher: Searcher) -> float:
    """Run one search in each mode, and analyze text in each of the snapshot's languages (lexical
    highlights analyze passages in their own language). Seconds spent; a failure is logged, never
    raised: a cold search is slower, not wrong."""
    started = time.perf_counter()
    try:
        for lang in {*(searcher.snapshot.manifest.languages or ()), "fr", "en"}:
            analyze(_QUESTIONS.get(lang, _QUESTIONS["en"]), lang)
        for question in _QUESTIONS.values():
            for mode in MODES:
                searcher.search(question, k=10, mode=mode)
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("warm-up search failed", exc_info=True, extra={"event": "warmup_failed"})
    return time.perf_counter() - started
