"""Dates of documents and filters at their own precision: YYYY, YYYY-MM or YYYY-MM-DD.

A date is kept as the interval of days it covers, so an article dated 2024-01 matches a filter
for 2024-01-15..2024-01-31 as well as one for January 2024.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from .errors import InvalidInputError

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def normalize_date(value: str, field: str = "date") -> str:
    """Validate a YYYY, YYYY-MM or YYYY-MM-DD string and return it; InvalidInputError otherwise."""
    date_bounds(value, field)
    return value.strip()


def date_bounds(value: str, field: str = "date") -> tuple[int, int]:
    """First and last day covered by `value`, as YYYYMMDD integers."""
    match = _DATE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise InvalidInputError(f"{field}: {value!r} is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD", field)
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    try:
        if month is None:
            return year * 10000 + 101, year * 10000 + 1231
        if day is None:
            last = calendar.monthrange(year, month)[1]
            return year * 10000 + month * 100 + 1, year * 10000 + month * 100 + last
        date(year, month, day)
    except (ValueError, calendar.IllegalMonthError) as exc:
        raise InvalidInputError(f"{field}: {value!r} is not a valid date ({exc})", field) from None
    packed = year * 10000 + month * 100 + day
    return packed, packed
