"""Recency boost: recent articles move up inside the relevance ranking, old ones keep their score.

A passage's score is multiplied by 1 + BOOST * 0.5 ** (age / half_life), the exponential decay of
Elasticsearch's function_score (scale = the half-life, decay = 0.5) used as a boost: an article
of the newest day counts up to (1 + BOOST) times, one a half-life older 1 + BOOST / 2 times, an
old one about once. An undated article is neither boosted nor dropped (factor 1).

Age is counted from the newest article date in the index (not from today's date): an archive
that stopped in 2024 still has recent and older coverage, and a given index always ranks the
same way, whatever day it is searched. A date's age is taken at the middle of the days it
covers (an article dated 2024-01 is aged from 2024-01-16).
"""

from __future__ import annotations

from datetime import date

import numpy as np

BOOST = 1.0


def day_numbers(packed: np.ndarray) -> np.ndarray:
    """YYYYMMDD integers as proleptic Gregorian day numbers (float); NaN where 0 (undated)."""
    packed = np.asarray(packed, dtype=np.int64)
    out = np.full(len(packed), np.nan)
    values, inverse = np.unique(packed, return_inverse=True)
    days = np.array([date(v // 10000, v // 100 % 100, v % 100).toordinal() if v > 0 else np.nan for v in values.tolist()])
    if len(values):
        out = days[inverse.reshape(-1)]
    return out


def article_days(date_lo: np.ndarray, date_hi: np.ndarray) -> np.ndarray:
    """The middle day of each date interval; NaN when undated."""
    return (day_numbers(date_lo) + day_numbers(date_hi)) / 2


def newest_day(date_hi: np.ndarray) -> float | None:
    """The last day covered by the newest dated article, or None when nothing is dated."""
    newest = int(np.max(date_hi)) if len(date_hi) else 0
    return float(day_numbers(np.array([newest]))[0]) if newest > 0 else None


def recency_factors(days: np.ndarray, reference: float | None, half_life_days: float) -> np.ndarray:
    """1 + BOOST * 0.5 ** (age / half_life) for each article day; 1 for undated ones."""
    if reference is None:
        return np.ones(len(days))
    age = np.clip(reference - days, 0.0, None)
    decay = np.power(0.5, age / half_life_days)
    return np.where(np.isnan(days), 1.0, 1.0 + BOOST * decay)


def boost_scores(scores: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Scores lifted by their factor; a negative score (a far dense neighbour) is lifted towards 0 alike."""
    scores = np.asarray(scores, dtype=np.float64)
    return scores + np.abs(scores) * (factors - 1.0)
