"""Searching an index split over shards (shard.py) with the single-process Searcher, unmodified.

Per search the ingress embeds the query once, sums the shards' BM25 statistics of its terms (the DFS
phase), and gathers their candidates into a `CandidateView`: a small reader holding only those rows,
in the whole index's row order, that reports the whole index's size and newest date. `Searcher.search`
runs on it: fusion, relevance floor, grouping, highlights and facets are the single-process code, and
since the candidates hold the whole index's top-n of each kind, the results are those of `semsearch serve`
over the same commit. Passage texts are fetched from the shard that holds them.

`ShardPool` is how the ingress reaches shards: in-process (`LocalShards`, tests) or Ray Serve
deployment handles (semsearch/distributed/serving.py).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from cachetools import LRUCache

from ..dates import date_bounds
from ..embedding import Embedder
from ..errors import IndexNotFoundError, UnsupportedError
from ..store.commit import CommitPoint
from ..store.database import DocumentRow, PassageRow
from ..store.layout import IndexDirectory
from ..store.lexical import LexicalStats
from ..store.live_rows import passage_identity
from ..store.reader import IndexSummary, SegmentStats, ranges
from ..store.segment import RowTable, SentenceTable
from .results import SearchFilters, SearchResult
from .search_options import SearchOptions
from .searcher import QueryVectorCache, SearchConfig, build_searcher, pool_depth, query_language, query_terms, validate_query
from .shard import Candidates, ShardIndex, ShardQuery, ShardSummary

PREFETCH = 50  # candidates of each kind (dense, lexical) whose passages come with a search's first read
SIMILAR_UNSUPPORTED = "similar articles are not served by a sharded service (semsearch serve --ray) yet; use semsearch serve"


class ShardPool(Protocol):
    """The shards as the ingress calls them: `submit` starts a call of a ShardIndex method on one shard
    and returns what waits for its answer."""

    def __len__(self) -> int: ...

    def submit(self, shard: int, method: str, *args: Any) -> Callable[[], Any]: ...


def gather(pool: ShardPool, method: str, *args: Any) -> list[Any]:
    """The same call on every shard, all started before any is awaited."""
    waits = [pool.submit(i, method, *args) for i in range(len(pool))]
    return [wait() for wait in waits]


class LocalShards:
    """ShardIndex objects in this process (tests, and the reference a sharded deployment is checked against)."""

    def __init__(self, shards: Sequence[ShardIndex]) -> None:
        self.shards = list(shards)

    def __len__(self) -> int:
        return len(self.shards)

    def submit(self, shard: int, method: str, *args: Any) -> Callable[[], Any]:
        answer = getattr(self.shards[shard], method)(*args)
        return lambda: answer


class ShardedView:
    """One commit as the routes see it (readyz, stats, documents, admin): counts and summary from the
    shards' summaries, documents fetched from whichever shard holds them. Row-level data lives in the
    shards: what needs it of the whole index (similar articles) answers a clear 501."""

    def __init__(self, layout: IndexDirectory, generation: int, pool: ShardPool) -> None:
        self.layout, self.pool = layout, pool
        self.path = layout.commit_path(generation)
        self.commit = CommitPoint.read(self.path)
        summaries: list[ShardSummary] = gather(pool, "summary", generation)
        types = {name: kind for s in summaries for name, kind in s.index_types.items()}
        self.size = sum(s.size for s in summaries)
        self.newest_date = max((s.newest_date for s in summaries), default=0)
        self.segments = list(self.commit.segments)
        self._segment_stats = [SegmentStats(e.name, e.passages, e.deleted, types.get(e.name, "Flat")) for e in self.segments]
        self.summary = IndexSummary(
            documents=sum(s.documents for s in summaries),
            passages=self.size,
            index_type=" + ".join(dict.fromkeys(s.index_type for s in self._segment_stats)) or "Flat",
            languages=sorted({x for s in summaries for x in s.languages}),
            sources=sorted({x for s in summaries for x in s.sources}),
        )

    @property
    def generation(self) -> int:
        return self.commit.generation

    @property
    def rows(self) -> RowTable:
        raise UnsupportedError(SIMILAR_UNSUPPORTED)

    def segment_stats(self) -> list[SegmentStats]:
        return list(self._segment_stats)

    def fetch_document(self, doc_id: str) -> tuple[DocumentRow, list[PassageRow]] | None:
        return next((found for found in gather(self.pool, "fetch_document", self.generation, doc_id) if found is not None), None)

    def fetch_passages(self, vids: list[int]) -> dict[int, PassageRow]:
        out: dict[int, PassageRow] = {}
        for part in gather(self.pool, "fetch_passages", self.generation, list(vids)) if vids else []:
            out.update(part)
        return out

    def close(self) -> None:
        """Nothing to release here: the shards drop old commits themselves."""


def open_view(layout: IndexDirectory, pool: ShardPool, generation: int | None = None) -> ShardedView:
    """The view of `generation` (default: the newest commit); every shard opens its part of it."""
    if generation is None:
        generations = layout.generations()
        if not generations:
            raise IndexNotFoundError(f"no index at {layout.root}: run 'semsearch index PATH' first")
        generation = generations[0]
    return ShardedView(layout, generation, pool)


class CandidateView:
    """The IndexView the Searcher runs on for one sharded search: the shards' candidates as rows (global
    row order), their dense and lexical scores, and the whole index's size, newest date and summary."""

    def __init__(self, view: ShardedView, parts: Sequence[Candidates], passages: PassageCache) -> None:
        self.view, self.summary, self.size, self.newest_date = view, view.summary, view.size, view.newest_date
        self.passages, self._prefetched = passages, False
        self.path, self.commit = view.path, view.commit
        parts = [p for p in parts if p.size]
        cat = _concat(parts)
        order = np.argsort(cat("global_rows", np.int64), kind="stable")
        doc_ids = [d for p in parts for d in p.doc_ids]
        docs: dict[str, int] = {}
        langs: dict[str, int] = {}
        sources: dict[str, int] = {}
        lang_codes = [langs.setdefault(x, len(langs)) for p in parts for x in p.langs]
        source_codes = [-1 if x is None else sources.setdefault(x, len(sources)) for p in parts for x in p.sources]
        self.rows = RowTable(
            cat("vids", np.int64)[order],
            np.array([docs.setdefault(d, len(docs)) for d in doc_ids], np.int32).reshape(-1)[order],
            list(docs), cat("headline", np.int64)[order], cat("date_lo", np.int32)[order], cat("date_hi", np.int32)[order],
            np.array(lang_codes, np.int16).reshape(-1)[order], list(langs),
            np.array(source_codes, np.int32).reshape(-1)[order], list(sources),
        )
        self._shard_of = dict(zip(self.rows.vids.tolist(), np.repeat([p.shard for p in parts], [p.size for p in parts])[order].tolist()))
        self._dense, self._lexical = cat("dense", np.float32)[order], cat("lexical", np.float32)[order]
        likely = np.union1d(np.argsort(-self._dense, kind="stable")[:PREFETCH], np.argsort(-self._lexical, kind="stable")[:PREFETCH])
        self._likely = self.rows.vids[likely].tolist()
        dim = view.commit.dim
        self.vectors = (np.concatenate([p.vectors for p in parts]) if parts else np.zeros((0, dim), np.float32))[order]
        counts = cat("sentence_counts", np.int64)
        index = ranges((np.cumsum(counts) - counts)[order], counts[order])  # each candidate's sentences, in row order
        ptr = np.zeros(len(order) + 1, np.int64)
        np.cumsum(counts[order], out=ptr[1:])
        spans = np.concatenate([p.spans for p in parts]) if parts else np.zeros((0, 2), np.int32)
        vectors = np.concatenate([p.sentence_vectors for p in parts]) if parts else np.zeros((0, dim), np.float32)
        self.sentences = SentenceTable(vectors[index], spans[index], ptr)
        latent = [b for p in parts for b in p.latent] if all(p.latent is not None for p in parts) else None
        self._latent = [latent[i] for i in order.tolist()] if latent is not None else None

    @functools.cached_property
    def identity(self) -> np.ndarray:
        """IndexReader.identity over the candidates: the same order, so ties break as in one process."""
        return passage_identity(self.rows.doc_ids, self.rows.doc_index, self.rows.vids)

    def dense_search(self, qvec: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray:
        """IndexReader.dense_search over the candidates: FAISS's scores as the shards gave them, equal
        scores in row order; rows only the lexical side brought are not dense candidates."""
        allowed = np.isfinite(self._dense) if mask is None else np.isfinite(self._dense) & mask
        rows = np.flatnonzero(allowed)
        return rows[np.lexsort((rows, -self._dense[rows]))[:n]]

    def lexical_scores(self, terms: list[str]) -> np.ndarray:
        """The shards' BM25+ scores, computed with the collection's statistics for these same terms."""
        return self._lexical

    def fetch_document(self, doc_id: str) -> tuple[DocumentRow, list[PassageRow]] | None:
        return self.view.fetch_document(doc_id)

    def latent_terms(self, rows: np.ndarray) -> list[bytes | None] | None:
        """The candidates' latent terms as their shards sent them (None when a shard's segments lack them)."""
        if self._latent is None:
            return None
        return [self._latent[int(r)] for r in rows]

    def fetch_passages(self, vids: list[int]) -> dict[int, PassageRow]:
        """From the cache, else from the shards holding them: the first miss of a search also brings the
        candidates most likely read next (the best PREFETCH of each kind), since the Searcher's grouping
        reads passages one at a time and each read would be a round trip."""
        wanted = [int(v) for v in vids if int(v) in self._shard_of]
        out, missing = self.passages.get(wanted)
        if missing and not self._prefetched:
            self._prefetched = True
            missing = list(dict.fromkeys(missing + self.passages.get(self._likely)[1]))
        by_shard: dict[int, list[int]] = {}
        for vid in missing:
            by_shard.setdefault(self._shard_of[vid], []).append(vid)
        generation = self.view.generation
        waits = [self.view.pool.submit(shard, "fetch_passages", generation, ids) for shard, ids in by_shard.items()]
        for wait in waits:
            found = wait()
            self.passages.put(found)
            out.update({vid: row for vid, row in found.items() if vid in set(wanted)})
        return out


class PassageCache:
    """Passage rows by vid, bounded (LRU), shared by the searches of every commit: a vid's row never changes
    (an updated document gets new vids; merges keep them)."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._items: LRUCache[int, PassageRow] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, vids: list[int]) -> tuple[dict[int, PassageRow], list[int]]:
        """The cached rows, and the vids that are not cached."""
        found: dict[int, PassageRow] = {}
        missing: list[int] = []
        with self._lock:
            for vid in vids:
                row = self._items.get(vid)  # a read marks it used
                if row is None:
                    missing.append(vid)
                else:
                    found[vid] = row
        return found, missing

    def put(self, rows: dict[int, PassageRow]) -> None:
        with self._lock:
            self._items.update(rows)


def _concat(parts: Sequence[Candidates]) -> Callable[[str, Any], np.ndarray]:
    def cat(name: str, dtype: Any) -> np.ndarray:
        arrays = [np.asarray(getattr(p, name)) for p in parts]
        return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)

    return cat


@dataclass
class ShardedSearcher:
    """What a route takes as `service.searcher` in a sharded service: `search` as Searcher's, per commit."""

    reader: ShardedView
    embedder: Embedder
    config: SearchConfig
    cache: QueryVectorCache
    passages: PassageCache

    @property
    def candidates(self) -> int:
        return self.config.candidates

    def nearest(self, vector: np.ndarray, n: int, filters: SearchFilters | None = None) -> np.ndarray:
        raise UnsupportedError(SIMILAR_UNSUPPORTED)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: SearchFilters | None = None,
        collapse: bool = True,
        per_doc: int | None = None,
        options: SearchOptions | None = None,
    ) -> SearchResult:
        """Searcher.search over the shards' candidates (module docstring)."""
        started = time.perf_counter()
        query = validate_query(query, k, mode)
        for value, name in ((filters.date_from, "date_from"), (filters.date_to, "date_to")) if filters else ():
            if value:
                date_bounds(value, name)  # a bad date is the caller's error, before any shard is asked
        view = self.reader
        n = pool_depth(view.size, self.candidates, k)  # what Searcher.search ranks, so what it asks its reader for
        parts: list[Candidates] = []
        if n:
            lang = query_language(query, view.summary.languages)
            terms = query_terms(query, lang, view.summary.languages, self.config.fusion.bridge_terms)
            vector = self.cache.submit(self.embedder, query) if mode != "lexical" else None
            stats = LexicalStats.total(gather(view.pool, "stats", view.generation, terms)) if mode != "dense" else None
            parts = gather(view.pool, "candidates", view.generation, ShardQuery(vector() if vector else None, terms, stats, n, mode, filters))
        searcher = build_searcher(CandidateView(view, parts, self.passages), self.embedder, self.config, self.cache)
        result = searcher.search(query, k=k, mode=mode, filters=filters, collapse=collapse, per_doc=per_doc, options=options)
        result.took_ms = round((time.perf_counter() - started) * 1000, 2)
        return result
