"""Lexical postings of one segment, and BM25+ scored with the statistics of the whole live collection.

Each segment stores, for its passages (local rows), term -> (rows, term frequencies) in CSC-like arrays
and every passage's length. A query's statistics (passage count N, document frequency of each term,
average length) are summed over the live passages of all segments at query time, the way Lucene's
IndexSearcher sums collection statistics, except that tombstoned passages are left out: an index grown
by many small writes then ranks exactly like one built in a single write.

The formula is bm25s's method="bm25+" (what this project shipped before segments, chosen on PIAF dev),
so scores equal bm25s's over the same passages (tests/test_segments.py checks it):

    score(d) = sum over query terms t (repeats counted) of  idf(t) * (delta + (k1 + 1) tf / (k1 (1 - b + b dl / avgdl) + tf))
    idf(t) = log((N + 1) / df(t)),  delta = 0.5;  a term no live passage holds counts for nothing.

A passage without any term counts as length 1 (bm25s indexes it with one inert term).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError

# BM25+ with low term-frequency saturation and length normalization: a passage that answers names
# the question's terms once, and long passages are not padding. Chosen on PIAF dev over k1 0.6-1.2,
# b 0.4-0.75 and five variants (BENCHMARKS.md); k1 0.6 won at every b and fusion weight tried.
BM25_METHOD, BM25_K1, BM25_B, BM25_DELTA = "bm25+", 0.6, 0.5, 0.5

VOCAB_NAME = "postings_vocab.json"
INDPTR_NAME = "postings_indptr.npy"
ROWS_NAME = "postings_rows.npy"
TF_NAME = "postings_tf.npy"
LENGTHS_NAME = "passage_lengths.npy"


@dataclass
class Postings:
    """term id t holds local rows rows[indptr[t]:indptr[t + 1]] (ascending) with frequencies tf[...]."""

    vocab: list[str]
    indptr: np.ndarray  # int64, len(vocab) + 1
    rows: np.ndarray  # int32
    tf: np.ndarray  # float32
    lengths: np.ndarray  # float32, one per local row
    _ids: dict[str, int] | None = None

    @property
    def term_ids(self) -> dict[str, int]:
        if self._ids is None:
            self._ids = {t: i for i, t in enumerate(self.vocab)}
        return self._ids

    def lookup(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        i = self.term_ids.get(term)
        if i is None:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.rows[a:b], self.tf[a:b]

    @classmethod
    def build(cls, term_lists: Sequence[Sequence[str]]) -> Postings:
        ids: dict[str, int] = {}
        flat_terms: list[int] = []
        lengths = np.empty(len(term_lists), np.float32)
        counts = np.empty(len(term_lists), np.int64)
        for r, terms in enumerate(term_lists):
            flat_terms.extend(ids.setdefault(t, len(ids)) for t in terms)
            counts[r] = len(terms)
            lengths[r] = max(len(terms), 1)
        terms_arr = np.asarray(flat_terms, dtype=np.int64)
        rows_arr = np.repeat(np.arange(len(term_lists), dtype=np.int64), counts)
        return cls._from_pairs(list(ids), terms_arr, rows_arr, np.ones(len(terms_arr), np.float32), lengths)

    @classmethod
    def _from_pairs(cls, vocab: list[str], terms: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray) -> Postings:
        """Postings from (term, row, tf) triples, repeats summed; unused terms dropped."""
        n_rows = max(len(lengths), 1)
        key = terms * n_rows + rows
        order = np.argsort(key, kind="stable")
        key, tf = key[order], tf[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
        sums = np.add.reduceat(tf, starts) if len(key) else np.zeros(0, np.float32)
        key = key[starts]
        terms, rows = key // n_rows, key % n_rows
        used = np.unique(terms)
        remap = np.full(len(vocab), -1, np.int64)
        remap[used] = np.arange(len(used))
        indptr = np.zeros(len(used) + 1, np.int64)
        np.cumsum(np.bincount(remap[terms], minlength=len(used)), out=indptr[1:])
        return cls([vocab[i] for i in used], indptr, rows.astype(np.int32), sums.astype(np.float32), lengths.astype(np.float32))

    @classmethod
    def merge(cls, parts: Sequence[tuple[Postings, np.ndarray]], n_rows: int) -> Postings:
        """One segment's postings from several: `parts` pairs each source with its local row -> new row map
        (-1: dropped). Nothing is re-analyzed."""
        ids: dict[str, int] = {}
        terms, rows, tfs = [], [], []
        lengths = np.ones(n_rows, np.float32)
        for postings, remap in parts:
            term_map = np.fromiter((ids.setdefault(t, len(ids)) for t in postings.vocab), np.int64, len(postings.vocab))
            per_term = np.repeat(term_map, np.diff(postings.indptr))
            new_rows = remap[postings.rows]
            keep = new_rows >= 0
            terms.append(per_term[keep])
            rows.append(new_rows[keep])
            tfs.append(postings.tf[keep])
            kept = remap >= 0
            lengths[remap[kept]] = postings.lengths[kept]
        empty = np.zeros(0, np.int64)
        return cls._from_pairs(
            list(ids), np.concatenate(terms or [empty]), np.concatenate(rows or [empty]),
            np.concatenate(tfs or [np.zeros(0, np.float32)]), lengths,
        )

    def save(self, folder: Path) -> None:
        (folder / VOCAB_NAME).write_text(json.dumps(self.vocab, ensure_ascii=False))
        np.save(folder / INDPTR_NAME, self.indptr)
        np.save(folder / ROWS_NAME, self.rows)
        np.save(folder / TF_NAME, self.tf)
        np.save(folder / LENGTHS_NAME, self.lengths)

    @classmethod
    def load(cls, folder: Path, n_rows: int) -> Postings:
        try:
            vocab = json.loads((folder / VOCAB_NAME).read_text())
            indptr = np.load(folder / INDPTR_NAME)
            rows = np.load(folder / ROWS_NAME)  # in memory: a map would hold a file descriptor per segment
            tf = np.load(folder / TF_NAME)
            lengths = np.load(folder / LENGTHS_NAME)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"{folder / VOCAB_NAME}: lexical postings are unreadable ({exc})") from None
        if not isinstance(vocab, list) or len(indptr) != len(vocab) + 1 or len(rows) != len(tf) or len(lengths) != n_rows:
            raise IndexCorruptError(f"{folder / VOCAB_NAME}: lexical postings disagree with the segment's {n_rows} passages")
        if len(rows) and (int(indptr[-1]) != len(rows)):
            raise IndexCorruptError(f"{folder / INDPTR_NAME}: lexical postings are truncated")
        return cls(vocab, indptr, rows, tf, lengths)


@dataclass
class LiveSegment:
    """A segment's postings as one search sees them: where each local row sits among all live rows (-1: deleted)."""

    postings: Postings
    to_global: np.ndarray


@dataclass(frozen=True)
class LexicalStats:
    """What BM25+ needs of a collection for one query: live passages, their summed length, and the
    document frequency of each term. Parts of a collection (shards) add theirs, as Elasticsearch's
    DFS phase does, so each part scores with the whole collection's statistics."""

    passages: int
    total_length: float
    df: dict[str, int]

    @classmethod
    def total(cls, parts: Sequence[LexicalStats]) -> LexicalStats:
        df: dict[str, int] = {}
        for part in parts:
            for term, count in part.df.items():
                df[term] = df.get(term, 0) + count
        return cls(sum(p.passages for p in parts), sum(p.total_length for p in parts), df)


def _live_matches(parts: Sequence[LiveSegment], term: str) -> tuple[np.ndarray, np.ndarray]:
    """Global rows of the live passages holding `term`, and its frequency in each."""
    rows_list, tf_list = [], []
    for part in parts:
        local, tf = part.postings.lookup(term)
        if len(local):
            rows = part.to_global[local]
            live = rows >= 0
            rows_list.append(rows[live])
            tf_list.append(np.asarray(tf, dtype=np.float64)[live])
    if not rows_list:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(rows_list), np.concatenate(tf_list)


def lexical_stats(
    parts: Sequence[LiveSegment], lengths: np.ndarray, terms: Sequence[str], total_length: float | None = None
) -> LexicalStats:
    """The statistics of these live rows for `terms` (lengths are whole numbers: their float64 sum is exact;
    `total_length`: that sum, kept by the caller)."""
    df = {term: len(_live_matches(parts, term)[0]) for term in dict.fromkeys(terms)}
    total = float(lengths.astype(np.float64).sum()) if total_length is None else total_length
    return LexicalStats(len(lengths), total, df)


def length_norm(lengths: np.ndarray, avgdl: float) -> np.ndarray:
    """BM25's per-passage length normalization, k1 * (1 - b + b * length / avgdl)."""
    return BM25_K1 * (1 - BM25_B + BM25_B * lengths.astype(np.float64) / avgdl)


@dataclass(frozen=True)
class SparseScores:
    """BM25+ scores of a whole row space, held as what differs from BM25+'s constant: the rows that hold a
    query term (ascending) with their scores, and `baseline`, the score of every other row (a query term
    a passage lacks still adds idf * delta). A query then costs the postings of its terms, not a pass over
    every row (Lucene scores postings the same way). Every score above `baseline` is in `values`."""

    rows: np.ndarray  # int64, ascending, unique
    values: np.ndarray  # float32, > baseline
    baseline: np.float32
    size: int

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, rows) -> np.ndarray:
        """Scores of these rows (an array of row positions), as a dense array would give them."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(rows.shape, self.baseline, np.float32)
        if len(self.rows) and rows.size:
            pos = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
            hit = self.rows[pos] == rows
            out[hit] = self.values[pos[hit]]
        return out

    def dense(self) -> np.ndarray:
        """Every row's score (a row-sized array: for tests and small readers, not for a search)."""
        out = np.full(self.size, self.baseline, np.float32)
        out[self.rows] = self.values
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    @classmethod
    def from_dense(cls, scores: np.ndarray) -> SparseScores:
        """The sparse form of a dense score array: its minimum is the baseline (an all-equal array is all
        baseline)."""
        scores = np.asarray(scores, dtype=np.float32)
        if not len(scores):
            return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), np.float32(0), 0)
        floor = scores.min()
        rows = np.flatnonzero(scores > floor)
        return cls(rows, scores[rows], np.float32(floor), len(scores))


def bm25_plus_sparse(
    parts: Sequence[LiveSegment],
    lengths: np.ndarray,
    terms: Sequence[str],
    stats: LexicalStats | None = None,
    total_length: float | None = None,
) -> SparseScores:
    """BM25+ of the live rows (`lengths`: their passage lengths, in global row order) for `terms`, reading
    only the postings of the terms. `stats`: the collection's statistics when these rows are only part of it
    (a shard); None: these rows. `total_length`: the sum of `lengths`, kept by the caller (a row-sized sum).

    Bit for bit what scoring every row gives: each row's terms are added in query order from 0.0 in
    float64 (np.bincount adds in input order), then the baseline, then the cast to float32."""
    size = len(lengths)
    empty = SparseScores(np.zeros(0, np.int64), np.zeros(0, np.float32), np.float32(0), size)
    if size == 0 or not terms:
        return empty
    if stats is not None:
        if stats.passages <= 0:
            return empty
        n, avgdl = stats.passages, stats.total_length / stats.passages
    else:
        total = float(lengths.astype(np.float64).sum()) if total_length is None else total_length
        n, avgdl = size, total / size
    repeats: dict[str, int] = {}
    for t in terms:
        repeats[t] = repeats.get(t, 0) + 1
    baseline = 0.0
    matched_rows, contributions = [], []
    for term, times in repeats.items():
        rows, tf = _live_matches(parts, term)
        df = stats.df.get(term, 0) if stats is not None else len(rows)
        if df == 0:
            continue
        idf = np.log((n + 1) / df)
        baseline += times * idf * BM25_DELTA
        if len(rows):
            norm = length_norm(lengths[rows], avgdl)
            matched_rows.append(rows)
            contributions.append(times * idf * (BM25_K1 + 1) * tf / (norm + tf))
    if not matched_rows:
        return SparseScores(empty.rows, empty.values, np.float32(baseline), size)
    rows = np.concatenate(matched_rows)
    weights = np.concatenate(contributions)
    # each term's rows ascend: a stable sort merges the runs; the sum per row keeps the terms' order
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.empty(len(rows), np.int64)
    group[order] = np.cumsum(first) - 1
    sums = np.bincount(group, weights=weights)
    values = (sums + baseline).astype(np.float32)
    floor = np.float32(baseline)
    above = values > floor  # a tiny contribution lost in the cast: the row scores the baseline
    return SparseScores(ordered[first][above], values[above], floor, size)


def bm25_plus(
    parts: Sequence[LiveSegment],
    lengths: np.ndarray,
    terms: Sequence[str],
    stats: LexicalStats | None = None,
) -> np.ndarray:
    """BM25+ score of every live row, as a dense array (bm25_plus_sparse, spread over the rows)."""
    return bm25_plus_sparse(parts, lengths, terms, stats).dense()
