"""Answering a query against one loaded snapshot: dense, lexical, or both fused.

Filters are applied before the top-k cut, so a filtered search returns k results when k exist.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..dates import date_bounds
from ..embedding import Embedder
from ..errors import InvalidInputError
from ..store.lexical import bm25_scores
from ..store.snapshot import Snapshot
from ..store.vectors import search_parameters
from ..text.analyzer import analyze
from ..text.lang import detect_language
from .fusion import FusionConfig, fuse

MODES = ("hybrid", "dense", "lexical")
MAX_QUERY_CHARS = 1000
MAX_K = 100


@dataclass
class SearchFilters:
    date_from: str | None = None
    date_to: str | None = None
    source: str | None = None
    lang: str | None = None


@dataclass
class DuplicateRef:
    doc_id: str
    passage_id: str
    title: str | None
    source: str | None
    date: str | None


@dataclass
class SearchHit:
    rank: int
    score: float
    doc_id: str
    passage_id: str
    title: str | None
    date: str | None
    source: str | None
    url: str | None
    lang: str | None
    text: str
    start: int
    end: int
    highlight: list[tuple[int, int]] = field(default_factory=list)  # offsets into `text`
    duplicates: list[DuplicateRef] = field(default_factory=list)


@dataclass
class SearchResult:
    query: str
    query_lang: str
    mode: str
    took_ms: float
    results: list[SearchHit]


class QueryVectorCache:
    """Bounded LRU of query embeddings: a repeated query costs no model call."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, embedder: Embedder, query: str) -> np.ndarray:
        key = (embedder.spec, query)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        vector = embedder.embed_query(query)
        with self._lock:
            self._items[key] = vector
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return vector


def validate_query(query: str, k: int, mode: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("query: must not be empty", "query")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"query: longer than {MAX_QUERY_CHARS} characters ({len(query)})", "query")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k: must be an integer from 1 to {MAX_K}", "k")
    if mode not in MODES:
        raise InvalidInputError(f"mode: {mode!r} is not one of {', '.join(MODES)}", "mode")
    return query.strip()


class Searcher:
    def __init__(
        self,
        snapshot: Snapshot,
        embedder: Embedder,
        fusion: FusionConfig = FusionConfig(),
        cache: QueryVectorCache | None = None,
        candidates: int = 100,
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.fusion = fusion
        self.cache = cache or QueryVectorCache()
        self.candidates = candidates

    # -- filters ---------------------------------------------------------------------------

    def _mask(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Boolean mask over rows, or None when nothing is filtered."""
        if filters is None or not any(vars(filters).values()):
            return None
        rows = self.snapshot.rows
        mask = np.ones(len(rows.vids), dtype=bool)
        if filters.date_from:
            lo, _ = date_bounds(filters.date_from, "date_from")
            mask &= (rows.date_hi >= lo) & (rows.date_hi > 0)
        if filters.date_to:
            _, hi = date_bounds(filters.date_to, "date_to")
            mask &= (rows.date_lo <= hi) & (rows.date_lo > 0)
        if filters.lang:
            wanted = filters.lang.strip().lower()
            codes = [i for i, lang in enumerate(rows.langs) if lang == wanted]
            mask &= np.isin(rows.lang, codes)
        if filters.source:
            wanted = filters.source.strip().casefold()
            codes = [i for i, s in enumerate(rows.sources) if s.casefold() == wanted]
            mask &= np.isin(rows.source, codes)
        return mask

    # -- retrieval -------------------------------------------------------------------------

    def _dense_top(self, qvec: np.ndarray, n: int, mask: np.ndarray | None) -> np.ndarray:
        """Row positions of the n nearest passages (among the allowed ones)."""
        rows = self.snapshot.rows
        allowed = None
        if mask is not None:
            allowed = rows.vids[mask]
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.int64)
        params = search_parameters(self.snapshot.index, allowed)  # nprobe / efSearch, and the filter
        _, ids = self.snapshot.index.search(qvec[None, :], n, params=params)
        ids = ids[0][ids[0] >= 0]
        return np.searchsorted(rows.vids, ids)

    def _lexical_scores(self, query: str, query_lang: str) -> np.ndarray:
        return bm25_scores(self.snapshot.bm25, analyze(query, query_lang), self.snapshot.size)

    @staticmethod
    def _top(scores: np.ndarray, n: int, mask: np.ndarray | None, positive: bool = False) -> np.ndarray:
        allowed = np.ones(len(scores), bool) if mask is None else mask.copy()
        if positive:
            allowed &= scores > 0
        idx = np.flatnonzero(allowed)
        if len(idx) > n:
            idx = idx[np.argpartition(-scores[idx], n - 1)[:n]]
        return idx[np.argsort(-scores[idx], kind="stable")]

    def rank(self, query: str, k: int, mode: str, filters: SearchFilters | None = None) -> tuple[np.ndarray, np.ndarray, str]:
        """Row positions and scores of the best k passages, and the query's language."""
        snapshot = self.snapshot
        langs = tuple(snapshot.manifest.languages) + ("en",)
        query_lang = detect_language(query, candidates=langs, default=(snapshot.manifest.languages or ["fr"])[0])
        mask = self._mask(filters)
        n = min(snapshot.size, max(self.candidates, k))
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0), query_lang
        if mode == "lexical":
            scores = self._lexical_scores(query, query_lang)
            top = self._top(scores, k, mask, positive=True)
            return top, scores[top], query_lang
        qvec = self.cache.get(self.embedder, query)
        dense_rows = self._dense_top(qvec, n, mask)
        if mode == "dense":
            dense_rows = dense_rows[:k]
            return dense_rows, self._cosines(dense_rows, qvec), query_lang
        lexical = self._lexical_scores(query, query_lang)
        lex_rows = self._top(lexical, n, mask, positive=True)
        candidates = np.union1d(dense_rows, lex_rows)
        fused = fuse(self._cosines(candidates, qvec), lexical[candidates], self.fusion)
        order = np.argsort(-fused, kind="stable")[:k]
        return candidates[order], fused[order], query_lang

    def _cosines(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        return np.asarray(self.snapshot.vectors[rows] @ qvec, dtype=np.float64) if len(rows) else np.zeros(0)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: SearchFilters | None = None,
        collapse: bool = True,
    ) -> SearchResult:
        """The k best passages; `collapse` groups passages that report the same fact (see quality issue)."""
        started = time.perf_counter()
        query = validate_query(query, k, mode)
        rows, scores, query_lang = self.rank(query, k, mode, filters)
        vids = [int(v) for v in self.snapshot.rows.vids[rows]]
        fetched = self.snapshot.fetch_passages(vids)
        hits = []
        for vid, score in zip(vids, scores):
            row = fetched.get(vid)
            if row is None:
                continue
            hits.append(
                SearchHit(
                    rank=len(hits) + 1,
                    score=round(float(score), 6),
                    doc_id=row.doc_id,
                    passage_id=row.passage_id,
                    title=row.title,
                    date=row.date,
                    source=row.source,
                    url=row.url,
                    lang=row.lang,
                    text=row.text,
                    start=row.start,
                    end=row.end,
                )
            )
        took = (time.perf_counter() - started) * 1000
        return SearchResult(query=query, query_lang=query_lang, mode=mode, took_ms=round(took, 2), results=hits)
