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
from collections.abc import Callable, Sequence
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

    _bounds: tuple[np.ndarray, np.ndarray] | None = None

    def term_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per term id, its largest frequency and the shortest passage holding it: what bounds its BM25
        contribution from above whatever the collection's average length (tf / (tf + norm(length)) grows with
        tf and falls with length). Computed once, at the segment's first pruned query."""
        if self._bounds is None:
            if len(self.vocab) and len(self.rows):
                starts = self.indptr[:-1]
                self._bounds = (np.maximum.reduceat(self.tf, starts), np.minimum.reduceat(self.lengths[self.rows], starts))
            else:
                self._bounds = (np.zeros(len(self.vocab), np.float32), np.ones(len(self.vocab), np.float32))
        return self._bounds

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
    """A segment's postings as one search sees them: where each local row sits among all live rows (-1: deleted),
    and (optionally) its deleted local rows, ascending, which let a term's live count skip its postings."""

    postings: Postings
    to_global: np.ndarray
    dead: np.ndarray | None = None

    def live_count(self, term_id: int) -> int:
        """Live passages holding the term: its postings less the deleted ones among them."""
        a, b = int(self.postings.indptr[term_id]), int(self.postings.indptr[term_id + 1])
        dead = self.dead if self.dead is not None else np.flatnonzero(self.to_global < 0)
        if not len(dead):
            return b - a
        rows = self.postings.rows[a:b]
        pos = np.minimum(np.searchsorted(rows, dead), max(b - a - 1, 0))
        return b - a - int(np.count_nonzero(rows[pos] == dead)) if b > a else 0


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


def _live_count(parts: Sequence[LiveSegment], term: str) -> int:
    """Live passages holding `term`, from its postings' lengths (deleted rows subtracted): no pass over them."""
    total = 0
    for part in parts:
        i = part.postings.term_ids.get(term)
        if i is not None:
            total += part.live_count(i)
    return total


def lexical_stats(
    parts: Sequence[LiveSegment], lengths: np.ndarray, terms: Sequence[str], total_length: float | None = None
) -> LexicalStats:
    """The statistics of these live rows for `terms` (lengths are whole numbers: their float64 sum is exact;
    `total_length`: that sum, kept by the caller)."""
    df = {term: _live_count(parts, term) for term in dict.fromkeys(terms)}
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
    # False: `rows` are only the candidates of a pruned top-n (Bm25Query.top_candidates); the rows left out
    # score below the n-th best, not necessarily at the baseline
    complete: bool = True

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


@dataclass(frozen=True)
class _QueryTerm:
    term: str
    times: int
    idf: float
    ids: list[int]  # its id in each part's postings, -1 where absent


class Bm25Query:
    """BM25+ of one query over a reader's live rows, scored where it is needed rather than everywhere: the
    scores of given rows (a dense candidate's lexical score) by looking them up in the terms' postings, and
    the best n rows by MaxScore (Turtle and Flood 1995, as Lucene's MaxScoreBulkScorer): a row holding only
    terms whose upper bounds sum below the n-th best score known so far cannot enter the top n, so only the
    postings of the other terms ("essential") are read. Scores equal bm25_plus_sparse's bit for bit.

    `locate`: global rows -> (part, local row), for the lookups."""

    def __init__(
        self,
        parts: Sequence[LiveSegment],
        lengths: np.ndarray,
        terms: Sequence[str],
        locate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        stats: LexicalStats | None = None,
        total_length: float | None = None,
    ) -> None:
        self.parts, self.lengths, self.locate, self.stats = parts, lengths, locate, stats
        self.raw_terms = list(terms)
        self.size = len(lengths)
        self.total_length = float(lengths.astype(np.float64).sum()) if total_length is None else total_length
        self.terms: list[_QueryTerm] = []
        self.baseline = 0.0
        if stats is not None:
            self.n, self.avgdl = stats.passages, (stats.total_length / stats.passages if stats.passages else 1.0)
        else:
            self.n, self.avgdl = self.size, (self.total_length / self.size if self.size else 1.0)
        if not self.size or (stats is not None and stats.passages <= 0):
            return
        repeats: dict[str, int] = {}
        for t in terms:
            repeats[t] = repeats.get(t, 0) + 1
        for term, times in repeats.items():
            ids = [part.postings.term_ids.get(term, -1) for part in parts]
            df = stats.df.get(term, 0) if stats is not None else sum(p.live_count(i) for p, i in zip(parts, ids) if i >= 0)
            if df == 0:
                continue
            idf = np.log((self.n + 1) / df)
            self.baseline += times * idf * BM25_DELTA
            self.terms.append(_QueryTerm(term, times, idf, ids))

    def __len__(self) -> int:
        return self.size

    def _contribution(self, term: _QueryTerm, tf: np.ndarray, rows: np.ndarray) -> np.ndarray:
        norm = length_norm(self.lengths[rows], self.avgdl)
        return term.times * term.idf * (BM25_K1 + 1) * tf / (norm + tf)

    def __getitem__(self, rows) -> np.ndarray:
        """Exact scores of these global rows (live rows; any order)."""
        rows = np.asarray(rows, dtype=np.int64)
        matrix = np.zeros((len(rows), len(self.terms)), np.float64)
        if len(rows) and self.terms:
            seg, local = self.locate(rows)
            for s in np.unique(seg):
                sel = np.flatnonzero(seg == s)
                here = local[sel]
                postings = self.parts[int(s)].postings
                for j, term in enumerate(self.terms):
                    i = term.ids[int(s)]
                    if i < 0:
                        continue
                    a, b = int(postings.indptr[i]), int(postings.indptr[i + 1])
                    plist = postings.rows[a:b]
                    pos = np.minimum(np.searchsorted(plist, here), b - a - 1)
                    hit = plist[pos] == here
                    found = sel[hit]
                    matrix[found, j] = self._contribution(term, np.asarray(postings.tf[a + pos[hit]], np.float64), rows[found])
        total = np.zeros(len(rows), np.float64)
        for j in range(len(self.terms)):  # in query order, from 0.0: the sum bm25_plus_sparse makes
            total += matrix[:, j]
        return (total + self.baseline).astype(np.float32)

    def sparse(self) -> SparseScores:
        """Every row above the baseline (all the terms' postings read)."""
        return bm25_plus_sparse(self.parts, self.lengths, self.raw_terms, self.stats, self.total_length)

    def dense(self) -> np.ndarray:
        return self.sparse().dense()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def _upper_bound(self, term: _QueryTerm) -> float:
        """The largest contribution `term` can make to a row, over every part."""
        best = 0.0
        for part, i in zip(self.parts, term.ids):
            if i < 0:
                continue
            max_tf, min_len = (float(x[i]) for x in part.postings.term_bounds())
            norm = float(length_norm(np.array([min_len], np.float32), self.avgdl)[0])
            best = max(best, term.times * term.idf * (BM25_K1 + 1) * max_tf / (norm + max_tf))
        return best

    def _term_scores(self, term: _QueryTerm) -> tuple[np.ndarray, np.ndarray]:
        """Global live rows holding `term` (ascending) and its contribution to each."""
        rows_list, tf_list = [], []
        for part, i in zip(self.parts, term.ids):
            if i < 0:
                continue
            a, b = int(part.postings.indptr[i]), int(part.postings.indptr[i + 1])
            rows = part.to_global[part.postings.rows[a:b]]
            live = rows >= 0
            rows_list.append(rows[live])
            tf_list.append(np.asarray(part.postings.tf[a:b], np.float64)[live])
        if not rows_list:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        rows = np.concatenate(rows_list)
        return rows, self._contribution(term, np.concatenate(tf_list), rows)

    def _postings(self, term: _QueryTerm) -> int:
        return sum(int(p.postings.indptr[i + 1] - p.postings.indptr[i]) for p, i in zip(self.parts, term.ids) if i >= 0)

    def top_candidates(self, n: int, mask: np.ndarray | None = None) -> SparseScores:
        """Allowed rows, exactly scored, among which the n best allowed rows are; every row above the
        baseline when pruning cannot help (then `complete`). MaxScore in three vectorized steps:

        1. theta, a lower bound of the n-th best score: the n-th best of baseline + one rare term's part
           (a row's score is at least that);
        2. the terms whose upper bounds, with the baseline, sum below theta are not essential: a row holding
           only those cannot reach the top n; the essential terms' postings give each of their rows a
           partial score, which raises theta, and bounds the row's score (partial + the other terms' bounds);
        3. the rows whose bound reaches theta are scored exactly (lookups of every term, in query order)."""
        if n <= 0 or len(self.terms) < 2:
            return self.sparse()
        margin = 1e-6  # above float rounding: a row left out must score strictly below theta once cast

        def nth_best(rows: np.ndarray, scores: np.ndarray) -> float:
            if mask is not None:
                scores = scores[mask[rows]]
            return float(np.partition(scores, len(scores) - n)[len(scores) - n]) if len(scores) >= n else -np.inf

        by_rarity = sorted(self.terms, key=self._postings)
        read: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        theta = -np.inf
        for term in by_rarity[:2]:
            read[term.term] = rows, part = self._term_scores(term)
            theta = max(theta, nth_best(rows, self.baseline + part))
        if theta == -np.inf:
            return self.sparse()
        bounds = sorted((self._upper_bound(t), k) for k, t in enumerate(self.terms))
        reach = self.baseline + np.cumsum([u for u, _ in bounds])
        left_out = int(np.count_nonzero(reach * (1 + margin) + margin < theta))
        if left_out == 0:
            return self.sparse()
        rest = float(reach[left_out - 1] - self.baseline)  # what the left-out terms can add at most
        found = [read[t.term] if t.term in read else self._term_scores(t) for t in (self.terms[k] for _, k in bounds[left_out:])]
        if len(found) == 1:
            rows, partial = found[0]
        else:
            rows = np.concatenate([r for r, _ in found])
            order = np.argsort(rows, kind="stable")  # runs of ascending rows: a merge
            rows, weights = rows[order], np.concatenate([w for _, w in found])[order]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            rows, partial = rows[starts], np.add.reduceat(weights, starts)
        if mask is not None:
            keep = mask[rows]
            rows, partial = rows[keep], partial[keep]
        lower = self.baseline + partial
        theta = max(theta, nth_best(rows, lower))
        survivors = rows[(lower + rest) * (1 + margin) + margin >= theta]
        values = self[survivors]
        floor = np.float32(self.baseline)
        above = values > floor
        return SparseScores(survivors[above], values[above], floor, self.size, complete=False)
