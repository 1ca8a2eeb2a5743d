"""Facet counts: how many relevant results each source, language and month holds.

Counted over every relevant result (after the filters, per-document cap and grouping, before
`offset` and `k` cut the page), so a source's count is the number of results its filter would
give. A result counts once, under its own article (the duplicates grouped under it are not
counted again). Undated articles and articles dated by the year alone have no month.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int
    label: str | None = None  # what to show when the value is an id (a story's title)


def _month(lo: int, hi: int) -> str | None:
    if lo <= 0 or lo // 100 != hi // 100:
        return None
    return f"{lo // 10000:04d}-{lo // 100 % 100:02d}"


def facet_counts(rows, result_rows: np.ndarray, names: tuple[str, ...]) -> dict[str, list[FacetCount]]:
    """Counts per value for each facet in `names`; `rows` is the reader's RowTable, `result_rows` the
    row positions of the relevant results. Sources and languages by count (then name), months newest first."""
    result_rows = np.asarray(result_rows, dtype=np.int64)
    out: dict[str, list[FacetCount]] = {}
    for name in names:
        if name == "source":
            codes = rows.source[result_rows].tolist()
            counts = Counter(rows.sources[c] for c in codes if c >= 0)
        elif name == "lang":
            counts = Counter(rows.langs[c] for c in rows.lang[result_rows].tolist() if rows.langs[c])
        elif name == "month":
            lo, hi = rows.date_lo[result_rows].tolist(), rows.date_hi[result_rows].tolist()
            counts = Counter(m for m in map(_month, lo, hi) if m)
            out[name] = [FacetCount(v, c) for v, c in sorted(counts.items(), reverse=True)]
            continue
        else:
            raise ValueError(f"unknown facet {name!r}")
        out[name] = [FacetCount(v, c) for v, c in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    return out


ANNOTATION_FACETS = ("person", "org", "place", "story")
MAX_ANNOTATION_VALUES = 20  # an article names dozens of places: the facet lists the most frequent


def annotation_facet_counts(view, result_rows: np.ndarray, names: tuple[str, ...]) -> dict[str, list[FacetCount]]:
    """Counts of people, organisations, places (passages naming each) and stories (results in each) over the
    relevant results; `view` is the reader's annotations.AnnotationView (None: nothing annotated, empty lists)."""
    out: dict[str, list[FacetCount]] = {}
    for name in names:
        if view is None:
            out[name] = []
            continue
        counts = view.story_counts(result_rows) if name == "story" else view.entity_counts(result_rows, name)
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_ANNOTATION_VALUES]
        out[name] = [FacetCount(v, c, view.story_title(int(v)) if name == "story" else None) for v, c in top]
    return out
