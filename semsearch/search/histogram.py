"""Coverage over time: how many relevant results fall in each day, week or month (Elasticsearch's
date_histogram), optionally per source.

Counted over the relevant results as `total` counts them (after the filters, the per-document cap and
grouping, before `offset` and `k` cut the page), as facets are. An article's date is the interval of days
it covers (dates.py), and it counts in every interval that its date overlaps, as Elasticsearch's histogram
over date ranges does: then a bucket's count is what the same search filtered to that interval
(date_from/date_to) finds. An article dated 2024-03 counts in each week of March; one dated 2024 in each
month of 2024. Undated articles count apart (`undated`). Buckets run from the first to the last non-empty
one, the empty ones between them included (a chart's gaps), oldest first; weeks start on Monday (ISO).
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from ..errors import InvalidInputError
from .facets import FacetCount

INTERVALS = ("day", "week", "month")
MAX_BUCKETS = 2000


@dataclass(frozen=True)
class Bucket:
    key: str  # YYYY-MM-DD of its first day (day, week), YYYY-MM (month)
    start: str  # first day, YYYY-MM-DD
    end: str  # last day, YYYY-MM-DD
    count: int
    sources: list[FacetCount] = field(default_factory=list)  # by count, then name (when asked)


@dataclass(frozen=True)
class Histogram:
    interval: str
    buckets: list[Bucket]
    undated: int = 0  # relevant results without a date
    by_source: bool = False  # buckets carry their counts per source


def _day(packed: int) -> date:
    return date(packed // 10000, packed // 100 % 100, packed % 100)


def _index(day: date, interval: str) -> int:
    """The interval holding `day`, as an integer that grows by one per interval."""
    if interval == "day":
        return day.toordinal()
    if interval == "week":
        return (day.toordinal() - 1) // 7  # day 1 (0001-01-01) is a Monday
    return day.year * 12 + day.month - 1


def _bounds(index: int, interval: str) -> tuple[str, date, date]:
    """Key, first and last day of interval `index`."""
    if interval == "day":
        first = date.fromordinal(index)
        return first.isoformat(), first, first
    if interval == "week":
        first = date.fromordinal(index * 7 + 1)
        return first.isoformat(), first, first + timedelta(days=6)
    year, month = divmod(index, 12)
    first = date(year, month + 1, 1)
    last = date(year, month + 1, calendar.monthrange(year, month + 1)[1])
    return f"{year:04d}-{month + 1:02d}", first, last


def validate_interval(value: str | None, field: str = "histogram") -> str | None:
    """`day`, `week` or `month`; None or blank: no histogram."""
    if value is None or not str(value).strip():
        return None
    interval = str(value).strip().lower()
    if interval not in INTERVALS:
        raise InvalidInputError(f"{field}: {str(value)[:40]!r} is not one of {', '.join(INTERVALS)}", field)
    return interval


def date_histogram(rows, result_rows: np.ndarray, interval: str, by_source: bool = False) -> Histogram:
    """Counts per interval of the results at `result_rows` (row positions in `rows`, the reader's RowTable)."""
    result_rows = np.asarray(result_rows, dtype=np.int64)
    lo, hi = rows.date_lo[result_rows].tolist(), rows.date_hi[result_rows].tolist()
    sources = rows.source[result_rows].tolist() if by_source else [-1] * len(lo)
    counts: Counter[int] = Counter()
    per_source: dict[int, Counter[str]] = {}
    undated = 0
    for first, last, source in zip(lo, hi, sources):
        if first <= 0:
            undated += 1
            continue
        a, b = _index(_day(first), interval), _index(_day(last), interval)
        if b - a >= MAX_BUCKETS:
            b = a + MAX_BUCKETS  # caught below: too many intervals
        for i in range(a, b + 1):
            counts[i] += 1
            if by_source and source >= 0:
                per_source.setdefault(i, Counter())[rows.sources[source]] += 1
    if not counts:
        return Histogram(interval, [], undated, by_source)
    start, end = min(counts), max(counts)
    if end - start + 1 > MAX_BUCKETS:
        raise InvalidInputError(
            f"histogram: the relevant results span {end - start + 1} {interval}s, more than {MAX_BUCKETS}: use a longer"
            " interval (week, month) or a date filter",
            "histogram",
        )
    buckets = []
    for i in range(start, end + 1):
        key, first_day, last_day = _bounds(i, interval)
        by = per_source.get(i, Counter())
        buckets.append(Bucket(
            key, first_day.isoformat(), last_day.isoformat(), counts.get(i, 0),
            [FacetCount(v, c) for v, c in sorted(by.items(), key=lambda item: (-item[1], item[0]))],
        ))
    return Histogram(interval, buckets, undated, by_source)
