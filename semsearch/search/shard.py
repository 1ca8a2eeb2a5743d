"""One shard of a sharded service: a part of the segments of each commit, and its answers to the ingress.

The ingress (sharded_search.py) asks every shard for its BM25 statistics of the query terms, sums
them, then asks each for its candidates: its top-n dense rows (FAISS scores) and its top-n lexical
rows (scored with the collection's statistics), with everything the Searcher needs about their union.
A shard ranks with the single-process code (IndexReader, Searcher.top_rows and filter_mask), so
the union over shards holds the whole index's top-n of both kinds.

Which segments a shard holds is a function of the commit alone (`assign_segments`); the ingress names
the commit generation of each request, so all shards answer for the same commit. Nothing here imports
Ray: semsearch/distributed/serving.py runs a `ShardIndex` per shard deployment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cachetools import LRUCache

from ..store.commit import CommitPoint
from ..store.database import DocumentRow, PassageRow
from ..store.layout import IndexDirectory
from ..store.lexical import LexicalStats
from ..store.reader import IndexReader, open_commit, ranges
from .results import SearchFilters
from .searcher import Searcher

READERS_KEPT = 3  # generations a shard keeps open: requests in flight on the previous commit finish on it


def assign_segments(commit: CommitPoint, shards: int) -> list[list[str]]:
    """Segment names per shard, balanced by live passages (largest first to the least loaded shard);
    a new segment (one write) lands in one shard."""
    load = [0] * shards
    parts: list[list[str]] = [[] for _ in range(shards)]
    for entry in sorted(commit.segments, key=lambda e: (-e.live, e.name)):
        target = min(range(shards), key=lambda i: (load[i], i))
        parts[target].append(entry.name)
        load[target] += entry.live
    return parts


@dataclass(frozen=True)
class ShardQuery:
    """One search as the ingress sends it: the query vector (None in lexical mode), the analyzed terms,
    the summed statistics (None in dense mode), the pool depth n, the mode and the filters."""

    vector: np.ndarray | None
    terms: list[str]
    stats: LexicalStats | None
    n: int
    mode: str
    filters: SearchFilters | None = None


@dataclass
class Candidates:
    """A shard's candidates, in global row order (their rows in the single-process reader of the commit)."""

    shard: int
    global_rows: np.ndarray  # int64
    vids: np.ndarray
    doc_ids: list[str]
    headline: np.ndarray
    date_lo: np.ndarray
    date_hi: np.ndarray
    langs: list[str]
    sources: list[str | None]
    dense: np.ndarray  # float32 FAISS score; -inf: not among the shard's dense top-n
    lexical: np.ndarray  # float32 BM25+ with the collection's statistics (0 in dense mode)
    vectors: np.ndarray  # passage vectors
    sentence_counts: np.ndarray  # sentences of each candidate
    spans: np.ndarray  # (start, end) of each sentence, candidate after candidate
    sentence_vectors: np.ndarray
    latent: list[bytes | None] | None = None  # each candidate's latent terms (None: the shard's segments lack them)

    @property
    def size(self) -> int:
        return len(self.global_rows)


@dataclass
class ShardSummary:
    """What the ingress shows of a commit (its summary, /stats) that only the segments' rows know."""

    size: int
    documents: int
    languages: list[str]
    sources: list[str]
    newest_date: int
    index_types: dict[str, str] = field(default_factory=dict)  # segment name -> index type


@dataclass
class _Part:
    """A shard's reader of one commit, with what maps its rows to the global row space."""

    reader: IndexReader
    searcher: Searcher  # its ranking helpers only (filter_mask, top_rows): it never embeds
    global_base: np.ndarray  # per shard segment: the global row of its first live row

    def global_rows(self, rows: np.ndarray) -> np.ndarray:
        segment = np.searchsorted(np.asarray(self.reader.offsets), rows, side="right") - 1
        return rows - np.asarray(self.reader.offsets)[segment] + self.global_base[segment]


class ShardIndex:
    """Shard `shard` of `shards` over the index at `index_dir`: opens the commits the ingress names."""

    def __init__(self, index_dir: str | Path, shard: int, shards: int) -> None:
        self.layout = IndexDirectory(index_dir)
        self.shard, self.shards = shard, shards
        self._parts: LRUCache[int, _Part] = LRUCache(maxsize=READERS_KEPT)  # an evicted reader is released
        self._latest: _Part | None = None  # once the last request using it ends
        self._lock = threading.Lock()

    def _part(self, generation: int) -> _Part:
        with self._lock:
            part = self._parts.get(generation)
            if part is None:
                previous = self._latest.reader if self._latest is not None else None  # its unchanged segments are reused
                reader = open_commit(self.layout, generation, previous, only=lambda c: assign_segments(c, self.shards)[self.shard])
                part = self._parts[generation] = _Part(reader, Searcher(reader, None), _global_base(reader))
            self._latest = part
            return part

    def summary(self, generation: int) -> ShardSummary:
        reader = self._part(generation).reader
        m = reader.summary
        types = {s.name: s.index_type for s in reader.segment_stats()}
        return ShardSummary(reader.size, m.documents, m.languages, m.sources, reader.newest_date, types)

    def stats(self, generation: int, terms: list[str]) -> LexicalStats:
        return self._part(generation).reader.lexical_stats(terms)

    def candidates(self, generation: int, query: ShardQuery) -> Candidates:
        part = self._part(generation)
        reader, searcher = part.reader, part.searcher
        mask = searcher.filter_mask(query.filters)
        dense_rows, dense_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if query.mode != "lexical" and query.vector is not None:
            dense_rows, dense_scores = reader.dense_search_scored(query.vector, query.n, mask)
        lexical = None
        rows = dense_rows
        if query.mode != "dense":
            lexical = reader.lexical_scores(query.terms, query.stats)
            rows = np.union1d(rows, searcher.top_rows(lexical, query.n, mask, positive=True))
        rows = np.unique(rows).astype(np.int64)  # ascending: global row order
        dense = np.full(len(rows), -np.inf, np.float32)
        dense[np.searchsorted(rows, dense_rows)] = dense_scores
        table, sentences = reader.rows, reader.sentences
        starts = np.asarray(sentences.ptr[rows], np.int64)
        counts = np.asarray(sentences.ptr[rows + 1], np.int64) - starts
        index = ranges(starts, counts)
        return Candidates(
            shard=self.shard,
            global_rows=part.global_rows(rows),
            vids=table.vids[rows],
            doc_ids=[table.doc_ids[i] for i in table.doc_index[rows].tolist()],
            headline=table.headline[rows],
            date_lo=table.date_lo[rows],
            date_hi=table.date_hi[rows],
            langs=[table.langs[i] for i in table.lang[rows].tolist()],
            sources=[table.sources[i] if i >= 0 else None for i in table.source[rows].tolist()],
            dense=dense,
            lexical=lexical[rows] if lexical is not None else np.zeros(len(rows), np.float32),
            vectors=np.asarray(reader.vectors[rows], np.float32),
            sentence_counts=counts,
            spans=np.asarray(sentences.spans[index], np.int32).reshape(-1, 2),
            sentence_vectors=np.asarray(sentences.vectors[index], np.float32).reshape(-1, reader.commit.dim),
            latent=reader.latent_terms(rows),
        )

    def fetch_passages(self, generation: int, vids: list[int]) -> dict[int, PassageRow]:
        return self._part(generation).reader.fetch_passages(vids)

    def fetch_document(self, generation: int, doc_id: str) -> tuple[DocumentRow, list[PassageRow]] | None:
        return self._part(generation).reader.fetch_document(doc_id)


def _global_base(reader: IndexReader) -> np.ndarray:
    """Where each of the shard's segments starts in the row space of the whole commit (segments in commit
    order, deleted passages left out): candidates of all shards then sort into the single reader's order."""
    starts, at = {}, 0
    for entry in reader.commit.segments:
        starts[entry.name] = at
        at += entry.live
    return np.array([starts[s.name] for s in reader.segments], np.int64)
