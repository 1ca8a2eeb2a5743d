"""What a search asks beyond its query and filters: order, recency boost, page, facets.

Validated here once, so the HTTP routes and the CLI give the same errors, named after the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInputError
from .histogram import validate_interval

SORTS = ("relevance", "date")
FACETS = ("source", "lang", "month", "person", "org", "place", "story")
MAX_OFFSET = 10_000
_HALF_LIFE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdwy])\s*$")
_UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0, "y": 365.0}
MAX_HALF_LIFE_DAYS = 100 * 365.0


@dataclass(frozen=True)
class SearchOptions:
    sort: str = "relevance"  # "relevance" or "date" (newest first among the relevant results)
    half_life_days: float | None = None  # recency boost; None: no boost
    offset: int = 0  # results skipped before the k shown
    facets: tuple[str, ...] = ()  # counts wanted, among FACETS
    relevant_only: bool = True  # False: every candidate of the pool counts (tests of retrieval itself)
    histogram: str | None = None  # "day", "week" or "month": counts per interval (histogram.py); None: none
    histogram_by_source: bool = False  # each interval's counts per source too


def parse_half_life(value: str | None, field: str = "recency") -> float | None:
    """`30d`, `12h`, `2w` or `1y` in days; None or an empty string: no boost."""
    if value is None or not str(value).strip():
        return None
    match = _HALF_LIFE.match(str(value))
    if not match:
        raise InvalidInputError(
            f"{field}: {str(value)[:40]!r} is not a half-life such as 12h, 30d, 2w or 1y (a number and h, d, w or y)", field
        )
    days = float(match.group(1)) * _UNIT_DAYS[match.group(2)]
    if not 0 < days <= MAX_HALF_LIFE_DAYS:
        raise InvalidInputError(f"{field}: the half-life must be above 0 and at most 100y", field)
    return days


def parse_facets(value: str | list[str] | tuple[str, ...] | None, field: str = "facets") -> tuple[str, ...]:
    """`source,lang,month` (or a list of names) as a tuple without repeats, in the order given."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [p for item in value for p in str(item).split(",")]
    names: list[str] = []
    for part in (p.strip().lower() for p in parts):
        if not part:
            continue
        if part not in FACETS:
            raise InvalidInputError(f"{field}: {part[:40]!r} is not one of {', '.join(FACETS)}", field)
        if part not in names:
            names.append(part)
    return tuple(names)


def search_options(
    sort: str = "relevance", recency: str | None = None, offset: int = 0, facets=None, histogram: str | None = None,
    histogram_by_source: bool = False,
) -> SearchOptions:
    """SearchOptions from user input, or InvalidInputError naming the field at fault."""
    if sort not in SORTS:
        raise InvalidInputError(f"sort: {str(sort)[:40]!r} is not one of {', '.join(SORTS)}", "sort")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInputError(f"offset: must be an integer from 0 to {MAX_OFFSET}", "offset")
    interval = validate_interval(histogram)
    if histogram_by_source and interval is None:
        raise InvalidInputError("histogram_by_source: needs histogram (day, week or month)", "histogram_by_source")
    return SearchOptions(
        sort=sort, half_life_days=parse_half_life(recency), offset=offset, facets=parse_facets(facets), histogram=interval,
        histogram_by_source=bool(histogram_by_source),
    )
