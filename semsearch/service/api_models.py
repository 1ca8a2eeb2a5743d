"""Pydantic models of the HTTP API: request bodies, responses and the one error shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ..search.search_options import FACETS, MAX_OFFSET
from ..search.searcher import MAX_K, MAX_QUERY_CHARS

Mode = Literal["hybrid", "dense", "lexical"]
Sort = Literal["relevance", "date"]
Interval = Literal["day", "week", "month"]
HISTOGRAM_HELP = (
    "counts of the relevant results per day, week or month (an article counts in each interval its date overlaps,"
    " as a date filter on that interval finds it)"
)
RECENCY_HELP = "half-life of a recency boost: 12h, 30d, 2w or 1y; recent articles count up to twice, undated ones once"
FACETS_HELP = f"counts over the relevant results for these facets: {', '.join(FACETS)} (comma-separated)"
MAX_FILTER_CHARS = 200
DATE_HELP = "YYYY, YYYY-MM or YYYY-MM-DD"
ENTITY_HELP = "only passages naming this person, organisation or place (as the facets spell it; case and accents aside)"
MAX_STORY_ID = 2**62


# -- errors ------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    field: str | None = Field(None, description="the request field at fault (`k`, `filters.date_from`, `body`...); null when none is")
    message: str = Field(description="what is wrong, starting with the field name")


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Body is not valid JSON or not UTF-8"},
    413: {"model": ErrorBody, "description": "Body or document count over the limit"},
    422: {"model": ErrorBody, "description": "A field is invalid"},
    503: {"model": ErrorBody, "description": "No commit loaded yet"},
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorBody, "description": "Missing or wrong API key"},
    403: {"model": ErrorBody, "description": "Writes are disabled: no SEMSEARCH_API_KEY configured"},
}


# -- search ------------------------------------------------------------------------------------


class FiltersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: str | None = Field(None, max_length=32, description=f"earliest date, {DATE_HELP}", examples=["2024-01"])
    date_to: str | None = Field(None, max_length=32, description=f"latest date, {DATE_HELP}")
    source: str | None = Field(None, max_length=MAX_FILTER_CHARS, description="source, case-insensitive (e.g. AA)")
    lang: str | None = Field(None, max_length=MAX_FILTER_CHARS, description="document language code (fr, en...)")
    entity: str | None = Field(None, max_length=MAX_FILTER_CHARS, description=ENTITY_HELP, examples=["Irak"])
    story: int | None = Field(None, ge=1, le=MAX_STORY_ID, strict=True, description="only the passages of this story's articles")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(description=f"the question, 1 to {MAX_QUERY_CHARS} characters", examples=["Combien de soldats américains sont en Irak ?"])
    k: int = Field(10, ge=1, le=MAX_K, strict=True, description=f"number of results, 1 to {MAX_K}")
    mode: Mode = "hybrid"
    filters: FiltersIn = Field(default_factory=FiltersIn)
    collapse: bool = Field(True, strict=True, description="group passages that report the same fact under one result")
    per_doc: int | None = Field(None, ge=1, le=MAX_K, strict=True, description="at most this many passages per document (default 2)")
    sort: Sort = Field("relevance", description="relevance, or date (newest first among the relevant results)")
    recency: str | None = Field(None, max_length=32, description=RECENCY_HELP, examples=["30d"])
    offset: int = Field(0, ge=0, le=MAX_OFFSET, strict=True, description="relevant results skipped before the k returned")
    facets: list[str] | str | None = Field(None, description=FACETS_HELP, examples=[["source", "month"]])
    histogram: Interval | None = Field(None, description=HISTOGRAM_HELP)
    histogram_by_source: bool = Field(False, strict=True, description="each interval's counts per source too")


class SearchQuery(BaseModel):
    """GET /search's query parameters, validated as one model: one pydantic-core call instead of one
    per parameter (FastAPI's per-parameter path cost about 0.1 ms a search; BENCHMARKS.md, serving).
    Unknown parameters are ignored, as they were as separate parameters."""

    q: str = Field(description=f"the question, 1 to {MAX_QUERY_CHARS} characters")
    k: int = Field(10, ge=1, le=MAX_K, description=f"number of results, 1 to {MAX_K}")
    mode: Mode = "hybrid"
    date_from: str | None = Field(None, max_length=32, description=DATE_HELP)
    date_to: str | None = Field(None, max_length=32, description=DATE_HELP)
    source: str | None = Field(None, max_length=MAX_FILTER_CHARS)
    lang: str | None = Field(None, max_length=MAX_FILTER_CHARS)
    entity: str | None = Field(None, max_length=MAX_FILTER_CHARS, description=ENTITY_HELP)
    story: int | None = Field(None, ge=1, le=MAX_STORY_ID, description="only the passages of this story's articles")
    collapse: bool = Field(True, description="group passages that report the same fact")
    per_doc: int | None = Field(None, ge=1, le=MAX_K, description="at most this many passages per document (default 2)")
    sort: Sort = Field("relevance", description="relevance, or date (newest first among the relevant results)")
    recency: str | None = Field(None, max_length=32, description=RECENCY_HELP)
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="relevant results skipped before the k returned")
    facets: str | None = Field(None, max_length=MAX_FILTER_CHARS, description=FACETS_HELP)
    format: Literal["json", "csv"] = Field("json", description="csv: the results as a CSV attachment")
    histogram: Interval | None = Field(None, description=HISTOGRAM_HELP)
    histogram_by_source: bool = Field(False, description="each interval's counts per source too")


class Span(BaseModel):
    start: int
    end: int


class DuplicateOut(BaseModel):
    doc_id: str
    passage_id: str
    title: str | None = None
    source: str | None = None
    date: str | None = None


class EntityOut(BaseModel):
    kind: Literal["person", "org", "place"]
    name: str


class HitOut(BaseModel):
    rank: int
    score: float
    doc_id: str
    passage_id: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    lang: str | None = None
    text: str
    highlight: list[Span] = Field(default_factory=list, description="character offsets into `text` of the words that answer")
    duplicates: list[DuplicateOut] = Field(default_factory=list, description="other passages reporting the same fact")
    entities: list[EntityOut] = Field(default_factory=list, description="people, organisations and places this passage names")
    story: int | None = Field(None, description="the story of the article (GET /stories/{id}); null until it is placed")


class FacetOut(BaseModel):
    value: str
    count: int
    label: str | None = Field(None, description="the story's title, for the story facet (whose values are story ids)")


class BucketOut(BaseModel):
    key: str = Field(description="YYYY-MM-DD of the interval's first day (day, week: weeks start on Monday), YYYY-MM (month)")
    start: str = Field(description="first day, YYYY-MM-DD: the interval is date_from=start&date_to=end")
    end: str
    count: int
    sources: list[FacetOut] | None = Field(None, description="per source, with histogram_by_source")


class HistogramOut(BaseModel):
    interval: Interval
    buckets: list[BucketOut] = Field(description="oldest first, from the first to the last non-empty interval")
    undated: int = Field(0, description="relevant results without a date")


class SearchResponse(BaseModel):
    query: str
    query_lang: str
    mode: str
    took_ms: float
    total: int = Field(0, description="relevant results (the cutoff is in the README); `results` is the page at `offset`")
    total_relation: Literal["eq", "gte"] = Field("eq", description="gte: the candidate pool ended before the relevant results did")
    offset: int = 0
    facets: dict[str, list[FacetOut]] = Field(default_factory=dict, description="counts per value, for the facets asked")
    histogram: HistogramOut | None = Field(None, description="with histogram=day|week|month (absent otherwise)")
    results: list[HitOut]


class SimilarResponse(BaseModel):
    doc_id: str
    title: str | None = None
    took_ms: float
    results: list[HitOut] = Field(description="other articles, one hit each with its best-matching passage, best first")


class StoryArticleOut(BaseModel):
    doc_id: str
    title: str | None = None
    source: str | None = None
    date: str | None = None
    lang: str | None = None
    url: str | None = None
    first_seen: str = Field(description="when the article joined the story (UTC, ISO 8601)")
    sentence: str = Field(description="the article's sentence closest to the story: what this outlet says of it")


class StoryOut(BaseModel):
    id: int = Field(description="the story's id (a story merged into another answers as that one)")
    title: str | None = None
    first_seen: str = Field(description="when its first live article was indexed (UTC, ISO 8601)")
    last_updated: str = Field(description="when its latest live article was indexed")
    articles: list[StoryArticleOut] = Field(description="the timeline: dated articles oldest first, then undated ones")


# -- documents ---------------------------------------------------------------------------------


class DocumentIn(BaseModel):
    """One document, with the fields of a JSON Lines input line: `text` or `html`, not both."""

    id: str = Field(description="document id, e.g. a relative path such as `2024/article.txt`")
    text: str | None = Field(None, description="the article text (cleaned like a text file: date marker, headline, credits)")
    html: str | None = Field(
        None,
        description="instead of `text`: the article's web page, whose text, title, date and outlet are extracted here "
        "(trafilatura; menus, share bars, comments dropped). The server never fetches a URL: send the page itself.",
    )
    title: str | None = None
    date: str | None = Field(None, description=DATE_HELP)
    source: str | None = None
    url: str | None = None
    lang: str | None = Field(None, description="language code; detected when absent")


# Documents are validated one by one (a bad one must not sink the others), so the body takes any
# JSON values and documents them as DocumentIn.
_DOCUMENT_LIST_SCHEMA = {"type": "array", "items": DocumentIn.model_json_schema()}


class DocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: Annotated[list[Any], WithJsonSchema(_DOCUMENT_LIST_SCHEMA)] = Field(
        description="documents to add or replace (same id = replace); at most SEMSEARCH_MAX_DOCUMENTS_PER_REQUEST"
    )


class FailedDocument(BaseModel):
    index: int = Field(description="position in `documents`")
    id: str | None = None
    field: str | None = None
    reason: str


class DocumentsResponse(BaseModel):
    added: int
    updated: int
    unchanged: int
    failed: list[FailedDocument]
    documents: int = Field(description="documents in the index after the write")
    passages: int
    commit: str | None = Field(None, description="the live commit point after it (segments_<generation>)")
    snapshot: str | None = Field(None, description="the same as `commit` (its name in earlier versions)")


class PassageOut(BaseModel):
    passage_id: str
    ordinal: int
    start: int
    end: int
    text: str


class DocumentOut(BaseModel):
    doc_id: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    lang: str | None = None
    text: str
    indexed_at: str
    passages: list[PassageOut]


class DeleteResponse(BaseModel):
    deleted: int
    doc_id: str
    documents: int
    passages: int
    commit: str | None = Field(None, description="the live commit point after it (segments_<generation>)")
    snapshot: str | None = Field(None, description="the same as `commit` (its name in earlier versions)")


# -- operations --------------------------------------------------------------------------------


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    ready: bool
    commit: str | None = Field(None, description="the live commit point (segments_<generation>)")
    snapshot: str | None = Field(None, description="the same as `commit` (its name in earlier versions)")
    documents: int | None = None


class StatsResponse(BaseModel):
    documents: int
    passages: int
    model: str
    dimension: int
    index_type: str
    built_at: str = Field(description="when the live commit point was written (UTC, ISO 8601)")
    commit: str = Field(description="the live commit point (segments_<generation>)")
    snapshot: str = Field(description="the same as `commit` (its name in earlier versions)")
    languages: list[str]
    sources: list[str]
    segments: int = Field(0, description="segments of the live commit")
    deleted_passages: int = Field(0, description="passages deleted or replaced, not yet purged by a merge")
    merges: int = Field(0, description="merges committed since the index was created")
    merging: bool = Field(False, description="segments are being merged in this server now (not while it only looks for merges)")
    merging_segments: int = Field(0, description="how many segments the running merge combines (0: none)")
    alerts: int = Field(0, description="saved searches (GET /alerts lists them)")
    alert_names: list[str] = Field(default_factory=list, description="their names, the first 100 in name order")


class OptimizeResponse(BaseModel):
    merges: int
    purged: int = Field(description="deleted passages purged")
    segments: int
    documents: int
    passages: int
    commit: str = Field(description="the live commit point after the merges (segments_<generation>)")
    snapshot: str = Field(description="the same as `commit` (its name in earlier versions)")
