"""What a search gives back: hits, results, and the ranking they are picked from; the filters it takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..store.database import PassageRow
from .facets import FacetCount
from .histogram import Histogram


@dataclass
class SearchFilters:
    date_from: str | None = None
    date_to: str | None = None
    source: str | None = None
    lang: str | None = None
    entity: str | None = None  # passages naming this person, organisation or place (annotations.py)
    story: int | None = None  # passages of this story's articles


@dataclass
class EntityRef:
    kind: str  # person, org or place
    name: str


@dataclass
class DuplicateRef:
    doc_id: str
    passage_id: str
    title: str | None
    source: str | None
    date: str | None


@dataclass
class SearchHit:
    rank: int
    score: float
    doc_id: str
    passage_id: str
    title: str | None
    date: str | None
    source: str | None
    url: str | None
    lang: str | None
    text: str
    start: int
    end: int
    highlight: list[tuple[int, int]] = field(default_factory=list)  # offsets into `text`
    duplicates: list[DuplicateRef] = field(default_factory=list)
    entities: list[EntityRef] = field(default_factory=list)  # named in this passage
    story: int | None = None  # the story of its article


@dataclass
class SearchResult:
    query: str
    query_lang: str
    mode: str
    took_ms: float
    results: list[SearchHit]
    total: int = 0  # relevant results (see relevance.py), of which `results` is the page at `offset`
    total_relation: str = "eq"  # "gte": the candidate pool ended before the relevant results did
    offset: int = 0
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)
    histogram: Histogram | None = None  # when asked (histogram.py)


@dataclass
class Ranking:
    """Candidates best first, with what the result list needs about each."""

    rows: np.ndarray  # row positions in the reader
    scores: np.ndarray
    best_sentence: np.ndarray  # global sentence index of each candidate's answering sentence
    sentence_scores: list[np.ndarray]  # per candidate, the score of each of its sentences
    query_lang: str
    passages: dict[int, PassageRow] = field(default_factory=dict)  # rows ranking read, by vid (lexical mode)
