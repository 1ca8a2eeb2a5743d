"""From ranked candidates to one page of results: relevance cutoff, recency boost, date order,
facet counts and the offset/k window. Searcher.search calls `relevant_ranking` before it picks
the results (per-document cap, grouping) and `result_page` after.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .facets import FacetCount, facet_counts
from .histogram import Histogram, date_histogram
from .recency import article_days, boost_scores, newest_day, recency_factors
from .relevance import DENSE_FLOORS, relevant_mask
from .results import Ranking
from .search_options import SearchOptions


@dataclass
class ResultPage:
    chosen: list[tuple[int, list[int]]]  # the page: (ranking position, duplicate positions)
    total: int  # relevant results
    total_relation: str  # "eq", or "gte" when the candidate pool ended before the relevant results did
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)
    histogram: Histogram | None = None


def relevant_ranking(
    ranking: Ranking, rows, mode: str, options: SearchOptions, depth: int, model: str, size: int, newest_date: int
) -> tuple[Ranking, bool]:
    """The relevant candidates (boosted and reordered when a half-life is set), and whether the
    pool of `depth` candidates was full and relevant to its end (then more relevant results may
    exist than are counted; a pool shorter than `depth`, or as deep as the index, held every
    allowed candidate). `size` and `newest_date` (the latest date_hi) are the whole index's: `rows`
    may hold only the candidates (a sharded search)."""
    best_sentence = None
    if mode != "lexical":
        # max of each candidate's few sentences in plain Python: numpy's max a candidate cost 2-3 us
        best_sentence = np.array([max(s.tolist(), default=-1.0) for s in ranking.sentence_scores])
    same_language = rows.lang[ranking.rows] == (rows.langs.index(ranking.query_lang) if ranking.query_lang in rows.langs else -1)
    keep = relevant_mask(ranking.scores, best_sentence, mode, DENSE_FLOORS.get(model), same_language)
    if not options.relevant_only:
        keep = np.ones(len(ranking.scores), bool)
    exhausted = bool(len(keep) and keep[-1] and depth <= len(keep) and depth < size)
    ranking = _take(ranking, np.flatnonzero(keep))
    n = len(ranking.rows)
    if options.half_life_days and n:
        picked = ranking.rows
        days = article_days(rows.date_lo[picked], rows.date_hi[picked])
        factors = recency_factors(days, newest_day(np.array([newest_date])), options.half_life_days)
        scores = boost_scores(ranking.scores, factors)
        order = np.argsort(-scores, kind="stable")
        ranking = _take(replace(ranking, scores=scores), order)
    return ranking, exhausted


def result_page(
    chosen: list[tuple[int, list[int]]], ranking: Ranking, rows, options: SearchOptions, k: int, exhausted: bool
) -> ResultPage:
    """Sort (by date if asked), count facets and the date histogram over all relevant results, cut the page."""
    if options.sort == "date" and chosen:
        picked = ranking.rows[[pos for pos, _ in chosen]]
        days = article_days(rows.date_lo[picked], rows.date_hi[picked])
        # newest first, undated last; equal dates keep the relevance order (stable sort)
        key = np.where(np.isnan(days), -np.inf, days)
        chosen = [chosen[i] for i in np.argsort(-key, kind="stable")]
    relevant = ranking.rows[[pos for pos, _ in chosen]]
    facets = facet_counts(rows, relevant, options.facets) if options.facets else {}
    histogram = date_histogram(rows, relevant, options.histogram, options.histogram_by_source) if options.histogram else None
    return ResultPage(
        chosen=chosen[options.offset : options.offset + k],
        total=len(chosen),
        total_relation="gte" if exhausted else "eq",
        facets=facets,
        histogram=histogram,
    )


def _take(ranking: Ranking, positions: np.ndarray) -> Ranking:
    positions = np.asarray(positions, dtype=np.int64)
    return replace(
        ranking,
        rows=ranking.rows[positions],
        scores=ranking.scores[positions],
        best_sentence=ranking.best_sentence[positions],
        sentence_scores=[ranking.sentence_scores[i] for i in positions.tolist()],
    )
