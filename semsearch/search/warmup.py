"""What a search loads on first use, loaded before a reader is served.

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


def warm_up(searcher: Searcher, first: bool = True) -> float:
    """Run one search in each mode, and analyze text in each of the reader's languages (lexical
    highlights analyze passages in their own language). Seconds spent; a failure is logged, never
    raised: a cold search is slower, not wrong.

    `first=False` (a new commit while another is served: the model, the language identifier and the
    analyzers are loaded already) runs one hybrid search, which builds what is per commit (the rows'
    identity order, the new segment's first reads). Six searches there sat on the write path of every
    HTTP write, and at 1M passages under 8 search clients they were half of a write's time
    (bench/sustained_ingest.py, BENCHMARKS.md)."""
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
