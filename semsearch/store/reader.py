"""A commit point opened for reading: its segments seen as one index of live passages.

Rows 0..size-1 are the live passages of every segment, segment after segment in commit order; deleted
passages have no row. The per-row columns (`rows`), the passage and sentence vectors (views over each
segment's memory maps that support the Searcher's integer indexing), dense search (per segment, deleted
passages excluded inside FAISS, merged top-n) and BM25+ with the whole collection's statistics are what
the Searcher uses.

Segments are immutable: a reader of a newer commit reuses the open segments of the reader before it
and only reads the new tombstones. A reader holds its segments' files open, so searches in flight on
an old reader finish after a merge removed its folders.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError, IndexNotFoundError
from . import database
from .commit import CommitPoint
from .layout import IndexDirectory
from .lexical import Bm25Query, LexicalStats, LiveSegment, lexical_stats
from .live_rows import LiveRows, identity_keys
from .segment import RowTable, Segment, SentenceTable, load_deletes
from .vectors import coarse_search, collection_nprobe, search_assigned, search_parameters, search_single_thread

log = logging.getLogger(__name__)


class StackedArray:
    """Rows of several arrays seen as one: `locate(keys)` says where each global row lives."""

    def __init__(self, parts: list[np.ndarray], locate, length: int) -> None:
        self.parts = parts
        self._locate = locate
        self._length = length
        first = parts[0]
        self.dtype = first.dtype
        self.shape = (length, *first.shape[1:])

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            seg, local = self._locate(np.array([int(key)]))
            return self.parts[int(seg[0])][int(local[0])]
        if isinstance(key, slice):
            key = np.arange(*key.indices(self._length))
        keys = np.asarray(key, dtype=np.int64)
        seg, local = self._locate(keys.ravel())
        out = np.empty((len(seg), *self.shape[1:]), dtype=self.dtype)
        for s in np.unique(seg):
            hit = seg == s
            out[hit] = self.parts[int(s)][local[hit]]
        return out.reshape(*keys.shape, *self.shape[1:])


@dataclass(frozen=True)
class RowLocator:
    """Segment and local row of global rows. It holds the row arrays, not the reader: a bound method of the
    reader here made a reference cycle, so an old reader (and its segments' open files) lived until the
    garbage collector's next full pass instead of ending with its last search."""

    seg: np.ndarray
    local: np.ndarray

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.seg[rows], self.local[rows]


@dataclass(frozen=True)
class SentenceLocator:
    """Segment and local sentence of global sentences (see RowLocator)."""

    ptr: np.ndarray  # global row -> its first global sentence
    seg: np.ndarray
    first: np.ndarray  # global row -> its first sentence in its segment

    def __call__(self, sentences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.searchsorted(self.ptr, sentences, side="right") - 1
        return self.seg[rows], self.first[rows] + (sentences - self.ptr[rows])


@dataclass
class SegmentStats:
    name: str
    passages: int
    deleted: int
    index_type: str


@dataclass
class _RowParts:
    """Each segment's live rows, column by column, laid end to end into the reader's row space."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.columns.setdefault(name, []).append(values)

    def cat(self, name: str, dtype) -> np.ndarray:
        parts = self.columns.get(name)
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


@dataclass(frozen=True)
class IndexSummary:
    """What only the rows of a reader know (its commit point says the rest: model, dim, built_at): what
    /stats, /readyz and `semsearch info` show, and the languages a query's language is chosen among."""

    documents: int
    passages: int
    index_type: str  # the segments' FAISS types, " + "-joined when they differ
    languages: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


class IndexReader:
    def __init__(self, path: Path, commit: CommitPoint, segments: list[Segment], deletes: list[np.ndarray]) -> None:
        self.path = path  # the commit point file: path.name says which commit a search saw
        self.commit = commit
        self.segments = segments
        self.deletes = deletes
        self._build_rows()
        self.summary = IndexSummary(
            documents=len(self.rows.doc_ids),
            passages=self.size,
            index_type=" + ".join(dict.fromkeys(s.info.index_type for s in segments)) or "Flat",
            languages=sorted(x for x in self.rows.langs if x),
            sources=sorted(self.rows.sources),
        )
        for segment in segments:
            segment.users += 1
        self._finalizer = weakref.finalize(self, _release, list(segments))

    @property
    def generation(self) -> int:
        return self.commit.generation

    @property
    def size(self) -> int:
        return len(self.rows.vids)

    def segment_stats(self) -> list[SegmentStats]:
        return [
            SegmentStats(s.name, s.size, len(d), s.info.index_type) for s, d in zip(self.segments, self.deletes)
        ]

    # -- the row space -------------------------------------------------------------------------

    def _build_rows(self) -> None:
        parts = _RowParts()
        doc_ids: list[str] = []
        langs: dict[str, int] = {}
        sources: dict[str, int] = {}
        self._to_global: list[np.ndarray] = []
        self._live_rows: list[LiveRows] = []
        self._doc_offsets: list[int] = []
        self.offsets = [0]
        for s, (segment, deleted) in enumerate(zip(self.segments, self.deletes)):
            rows = segment.rows
            part = segment.live_rows(deleted)
            live = part.local
            to_global = np.full(segment.size, -1, np.int64)
            to_global[live] = np.arange(self.offsets[-1], self.offsets[-1] + len(live))
            self._to_global.append(to_global)
            self.offsets.append(self.offsets[-1] + len(live))
            self._live_rows.append(part)
            self._doc_offsets.append(len(doc_ids))
            lang_map = np.array([langs.setdefault(x, len(langs)) for x in rows.langs] or [0], np.int16)
            src_map = np.array([sources.setdefault(x, len(sources)) for x in rows.sources] + [-1], np.int32)
            ptr = segment.sentences.ptr
            parts.add(
                vids=rows.vids[live], doc=part.doc + len(doc_ids), headline=rows.headline[live], date_lo=rows.date_lo[live],
                date_hi=rows.date_hi[live], lang=lang_map[rows.lang[live]], source=src_map[rows.source[live]],  # -1: the appended -1
                segment=np.full(len(live), s, np.int32), local=live, sentence=ptr[live], sentences=ptr[live + 1] - ptr[live],
                length=segment.postings.lengths[live], ordinal=part.ordinal,
            )
            doc_ids.extend(part.doc_ids)
        cat = parts.cat
        self.rows = RowTable(
            cat("vids", np.int64), cat("doc", np.int32), doc_ids, cat("headline", np.int64), cat("date_lo", np.int32),
            cat("date_hi", np.int32), cat("lang", np.int16), list(langs), cat("source", np.int32), [x for x in sources],
        )
        self._row_seg = cat("segment", np.int32)
        self._row_local = cat("local", np.int64)
        self._row_sentence = cat("sentence", np.int64)
        self._ordinals = cat("ordinal", np.int64)
        self.lengths = cat("length", np.float32)
        ptr = np.zeros(len(self._row_seg) + 1, np.int64)
        np.cumsum(cat("sentences", np.int64), out=ptr[1:])
        self._vid_order = np.argsort(self.rows.vids, kind="stable")
        self._sorted_vids = self.rows.vids[self._vid_order]
        if len(self.segments) == 1 and not len(self.deletes[0]):
            only = self.segments[0]
            self.vectors, self.sentences = only.vectors, only.sentences
        elif not self.segments:
            self.vectors = np.zeros((0, self.commit.dim), np.float32)
            self.sentences = SentenceTable(np.zeros((0, self.commit.dim), np.float32), np.zeros((0, 2), np.int32), ptr)
        else:
            self.vectors = StackedArray([s.vectors for s in self.segments], RowLocator(self._row_seg, self._row_local), self.size)
            total = int(ptr[-1])
            # spans in one array (8 bytes a sentence, in memory as before segments): the Searcher reads them one
            # by one, and a lookup per read tripled the time of a search over 7 segments
            spans = np.empty((total, 2), np.int32)
            for s, segment in enumerate(self.segments):
                lo, hi = self.offsets[s], self.offsets[s + 1]
                lengths = ptr[lo + 1:hi + 1] - ptr[lo:hi]
                spans[ranges(ptr[lo:hi], lengths)] = segment.sentences.spans[ranges(self._row_sentence[lo:hi], lengths)]
            self.sentences = SentenceTable(
                StackedArray(
                    [s.sentences.vectors for s in self.segments], SentenceLocator(ptr, self._row_seg, self._row_sentence), total
                ),
                spans,
                ptr,
            )

    @functools.cached_property
    def identity(self) -> np.ndarray:
        """Each row's key in passage-identity order (live_rows.identity_keys): built at the first search
        that breaks a tie, from each segment's documents sorted once."""
        return identity_keys(self._live_rows, self._doc_offsets, self.rows.doc_index, self._ordinals)

    def rows_of(self, vids: np.ndarray) -> np.ndarray:
        """Rows of live passages by vid; -1 for a vid that is not live."""
        vids = np.asarray(vids, dtype=np.int64)
        if not len(self._sorted_vids):
            return np.full(len(vids), -1, np.int64)
        pos = np.minimum(np.searchsorted(self._sorted_vids, vids), len(self._sorted_vids) - 1)
        return np.where(self._sorted_vids[pos] == vids, self._vid_order[pos], -1)

    # -- search ----------------------------------------------------------------------------------

    def dense_search(self, qvec: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Rows of the n nearest live passages (among `mask`'s), best first. Each segment is searched with
        its deleted passages (and what the filter leaves out) excluded inside FAISS, before its top-n cut."""
        return self.dense_search_scored(qvec, n, mask)[0]

    def dense_search_scored(self, qvec: np.ndarray, n: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """dense_search's rows and FAISS's score of each: a shard's answer, merged with other shards' by score."""
        found_scores, found_rows = [], []
        query = np.ascontiguousarray(qvec, dtype=np.float32)[None, :]
        collection = sum(entry.passages for entry in self.commit.segments)  # the whole commit's, also on a shard
        searches = []
        for s, segment in enumerate(self.segments):
            lo, hi = self.offsets[s], self.offsets[s + 1]
            if hi == lo or segment.index.ntotal == 0:
                continue
            if mask is not None:
                allowed = self.rows.vids[lo:hi][mask[lo:hi]]
                if not len(allowed):
                    continue
                params = search_parameters(segment.index, allowed, nprobe=collection_nprobe(segment.index, collection))
            else:
                excluded = self.deletes[s] if len(self.deletes[s]) else None
                params = search_parameters(segment.index, excluded=excluded, nprobe=collection_nprobe(segment.index, collection))
            searches.append((s, segment, params))
        # segments whose IVF indexes share their coarse centroids: one coarse search for all of them, each
        # scanning its share of the probed lists (an index of all of them would probe the same lists)
        shared: dict[bytes, int] = {}
        for _, segment, params in searches:
            key = segment.quantizer_key
            if key is not None:
                shared[key] = max(shared.get(key, 0), params.nprobe)
        coarse = {
            key: coarse_search(next(seg.index for _, seg, _ in searches if seg.quantizer_key == key), query, probes)
            for key, probes in shared.items()
            if sum(seg.quantizer_key == key for _, seg, _ in searches) > 1
        }
        for s, segment, params in searches:
            key = segment.quantizer_key
            if key in coarse:
                scores, ids = search_assigned(segment.index, query, min(n, segment.index.ntotal), params, coarse[key])
            else:
                scores, ids = search_single_thread(segment.index, query, min(n, segment.index.ntotal), params)
            keep = ids[0] >= 0
            rows = self._to_global[s][segment.local_rows(ids[0][keep])]
            found_scores.append(scores[0][keep][rows >= 0])
            found_rows.append(rows[rows >= 0])
        if not found_rows:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, rows = np.concatenate(found_scores), np.concatenate(found_rows)
        order = np.lexsort((rows, -scores))[:n]
        return rows[order], scores[order]

    @functools.cached_property
    def _total_length(self) -> float:
        return float(self.lengths.astype(np.float64).sum())

    @functools.cached_property
    def _dead_rows(self) -> list[np.ndarray]:
        """Each segment's deleted local rows: a term's live count is its postings less those among them."""
        return [np.flatnonzero(g < 0) for g in self._to_global]

    def _live_parts(self) -> list[LiveSegment]:
        return [LiveSegment(s.postings, g, d) for s, g, d in zip(self.segments, self._to_global, self._dead_rows)]

    def lexical_scores(self, terms: list[str], stats: LexicalStats | None = None) -> Bm25Query:
        """BM25+ of every row, with the statistics of all live passages (or `stats`: those of the whole
        collection when this reader holds only some of its segments), scored where asked: given rows, or
        the best n (MaxScore). Its cost is the terms' postings (the essential ones'), not the collection."""
        return Bm25Query(
            self._live_parts(), self.lengths, terms, RowLocator(self._row_seg, self._row_local), stats, self._total_length
        )

    def lexical_stats(self, terms: list[str]) -> LexicalStats:
        """This reader's part of the collection statistics for `terms` (summed over shards by the caller)."""
        return lexical_stats(self._live_parts(), self.lengths, terms, self._total_length)

    @functools.cached_property
    def newest_date(self) -> int:
        """The latest date_hi of any live passage (0: nothing dated): the reference day of recency boosts."""
        return int(self.rows.date_hi.max()) if len(self.rows.date_hi) else 0

    # -- rows from SQLite --------------------------------------------------------------------------

    def fetch_passages(self, vids: list[int]) -> dict[int, database.PassageRow]:
        if not vids:
            return {}
        if len(vids) == 1:  # grouping reads passages one at a time: no arrays for those
            vid = int(vids[0])
            pos = int(np.searchsorted(self._sorted_vids, vid))
            if pos == len(self._sorted_vids) or int(self._sorted_vids[pos]) != vid:
                return {}
            return self.segments[int(self._row_seg[self._vid_order[pos]])].fetch_passages([vid])
        wanted = np.asarray(vids, dtype=np.int64)
        rows = self.rows_of(wanted)
        wanted, segs = wanted[rows >= 0], self._row_seg[rows[rows >= 0]]
        if len(segs) and (segs == segs[0]).all():  # the common case: one passage, or one segment
            return self.segments[int(segs[0])].fetch_passages(wanted.tolist())
        out: dict[int, database.PassageRow] = {}
        for s in np.unique(segs):
            out.update(self.segments[int(s)].fetch_passages(wanted[segs == s].tolist()))
        return out

    @functools.cached_property
    def has_latent_terms(self) -> bool:
        """Every live passage has latent terms (no segment from before them, from Ray, or from a model without them)."""
        return bool(self.segments) and all(s.info.latent_terms for s in self.segments)

    def latent_terms(self, rows: np.ndarray) -> list[bytes | None] | None:
        """Each row's latent-terms blob (store/latent.py); None when the index does not have them for every passage."""
        if not self.has_latent_terms:
            return None
        rows = np.asarray(rows, dtype=np.int64)
        vids, segs = self.rows.vids[rows], self._row_seg[rows]
        found: dict[int, bytes] = {}
        for s in np.unique(segs):
            found.update(self.segments[int(s)].fetch_latent(vids[segs == s].tolist()))
        return [found.get(int(v)) for v in vids]

    def fetch_document(self, doc_id: str) -> tuple[database.DocumentRow, list[database.PassageRow]] | None:
        for segment in reversed(self.segments):  # a live document is in one segment; newest first
            found = segment.fetch_document(doc_id)
            if found is not None and found[1] and self.rows_of(np.array([found[1][0].vid]))[0] >= 0:
                return found
        return None

    def close(self) -> None:
        self._finalizer()


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of arange(s, s + n) for each (s, n), vectorized."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, np.int64) - offsets, lengths) + np.arange(total)


def _release(segments: list[Segment]) -> None:
    for segment in segments:
        segment.release()


def open_commit(
    layout: IndexDirectory,
    generation: int,
    previous: IndexReader | None = None,
    only: Callable[[CommitPoint], Collection[str]] | None = None,
    opened: Mapping[str, Segment] | None = None,
) -> IndexReader:
    """The reader of one commit point; segments `previous` has open (or `opened`: open_segments' warmed
    ones) are reused, not reopened. `only`: which of the commit's segments to open (a shard's part, by
    name); the others are left out."""
    path = layout.commit_path(generation)
    commit = CommitPoint.read(path)
    wanted = set(only(commit)) if only is not None else None
    known = dict(opened or {})
    known.update({s.name: s for s in previous.segments} if previous is not None else {})
    segments: list[Segment] = []
    deletes: list[np.ndarray] = []
    opened_here: list[Segment] = []  # closed again if the commit turns out damaged
    try:
        for entry in commit.segments:
            if wanted is not None and entry.name not in wanted:
                continue
            folder = layout.segments / entry.name
            segment = known.get(entry.name)
            if segment is None:
                segment = Segment.open(folder, commit.dim)
                opened_here.append(segment)
            deleted = load_deletes(folder, entry.deletes)
            if len(deleted) != entry.deleted or segment.size != entry.passages:
                raise IndexCorruptError(
                    f"{folder}: {segment.size} passages, {len(deleted)} deleted; the commit {path.name} says"
                    f" {entry.passages}, {entry.deleted}"
                )
            segments.append(segment)
            deletes.append(deleted)
    except IndexCorruptError:
        for segment in opened_here:
            segment.conn.close()
        raise
    return IndexReader(path, commit, segments, deletes)


def open_index(
    index_dir: str | Path, previous: IndexReader | None = None, opened: Mapping[str, Segment] | None = None
) -> IndexReader:
    """The live commit; if it is damaged, the newest older one that opens, with a warning. A format-1
    index (snapshots) is converted once first."""
    layout = IndexDirectory(index_dir)
    if layout.is_legacy():
        from .commit_writer import convert_legacy  # the writer side, only for an old index

        convert_legacy(layout)
    for _attempt in range(5):
        gens = layout.generations()
        if not gens:
            raise IndexNotFoundError(f"no index at {layout.root}: run 'semsearch index PATH' first")
        try:
            return open_commit(layout, gens[0], previous, opened=opened)
        except IndexCorruptError as first:
            if layout.generation() != gens[0]:
                continue  # a newer commit was published (and older files pruned) while opening: open that
            for older in gens[1:]:
                try:
                    reader = open_commit(layout, older, previous, opened=opened)
                except IndexCorruptError:
                    continue
                log.warning("%s; serving the previous commit point %s instead", first, layout.commit_path(older).name)
                return reader
            raise
    raise IndexCorruptError(f"{layout.root}: commits kept changing while opening the index")
