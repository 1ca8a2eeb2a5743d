"""GET and POST /search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ...dates import date_bounds, normalize_date
from ...errors import InvalidInputError
from ...search.results import SearchFilters, SearchHit, SearchResult
from ...search.search_options import SearchOptions, search_options
from ...search.searcher import validate_query
from ..api_models import (
    ERROR_RESPONSES,
    BucketOut,
    DuplicateOut,
    EntityOut,
    FacetOut,
    FiltersIn,
    HistogramOut,
    HitOut,
    SearchQuery,
    SearchRequest,
    SearchResponse,
    Span,
)
from ..csv_export import results_csv
from ..dependencies import get_inline_searches, get_service
from ..http_errors import renamed
from ..inline import InlineSearches
from ..state import ServiceState

CSV_RESPONSE = {200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}}

router = APIRouter(tags=["search"])


def _filters(filters: FiltersIn, prefix: str) -> SearchFilters:
    names = {"date_from": f"{prefix}date_from", "date_to": f"{prefix}date_to"}
    try:
        for name in ("date_from", "date_to"):
            value = getattr(filters, name)
            if value is not None:
                setattr(filters, name, normalize_date(value, name) if value.strip() else None)
        if filters.date_from and filters.date_to and date_bounds(filters.date_from)[0] > date_bounds(filters.date_to)[1]:
            raise InvalidInputError(f"date_to: {filters.date_to!r} is before date_from {filters.date_from!r}", "date_to")
    except InvalidInputError as exc:
        raise renamed(exc, names) from None
    return SearchFilters(
        date_from=filters.date_from,
        date_to=filters.date_to,
        source=(filters.source or "").strip() or None,
        lang=(filters.lang or "").strip() or None,
        entity=(getattr(filters, "entity", None) or "").strip() or None,
        story=getattr(filters, "story", None),
    )


def _span(item: Any) -> Span:
    if isinstance(item, (tuple, list)):
        return Span(start=int(item[0]), end=int(item[1]))
    return Span(start=int(item.start), end=int(item.end))


def _duplicate(item: Any) -> DuplicateOut:
    get = item.get if isinstance(item, dict) else lambda name: getattr(item, name, None)
    return DuplicateOut(doc_id=get("doc_id"), passage_id=get("passage_id"), title=get("title"), source=get("source"), date=get("date"))


def hit_out(hit: SearchHit) -> HitOut:
    return HitOut(
        rank=hit.rank,
        score=hit.score,
        doc_id=hit.doc_id,
        passage_id=hit.passage_id,
        title=hit.title,
        date=hit.date,
        source=hit.source,
        url=hit.url,
        lang=hit.lang,
        text=hit.text,
        highlight=[_span(s) for s in getattr(hit, "highlight", None) or ()],
        duplicates=[_duplicate(d) for d in getattr(hit, "duplicates", None) or ()],
        entities=[EntityOut(kind=e.kind, name=e.name) for e in getattr(hit, "entities", None) or ()],
        story=getattr(hit, "story", None),
    )


def histogram_out(histogram) -> HistogramOut | None:
    if histogram is None:
        return None
    return HistogramOut(
        interval=histogram.interval,
        undated=histogram.undated,
        buckets=[
            BucketOut(
                key=b.key, start=b.start, end=b.end, count=b.count,
                sources=[FacetOut(value=s.value, count=s.count) for s in b.sources] if histogram.by_source else None,
            )
            for b in histogram.buckets
        ],
    )


def search_response(result: SearchResult) -> SearchResponse:
    return SearchResponse(
        query=result.query,
        query_lang=result.query_lang,
        mode=result.mode,
        took_ms=result.took_ms,
        total=result.total,
        total_relation=result.total_relation,
        offset=result.offset,
        facets={name: [FacetOut(value=f.value, count=f.count, label=f.label) for f in counts] for name, counts in result.facets.items()},
        histogram=histogram_out(getattr(result, "histogram", None)),
        results=[hit_out(hit) for hit in result.results],
    )


def run_search(
    service: ServiceState,
    query: str,
    k: int,
    mode: str,
    filters: FiltersIn,
    collapse: bool,
    per_doc: int | None,
    options: SearchOptions,
    *,
    query_field: str,
    filter_prefix: str,
) -> SearchResult:
    try:
        query = validate_query(query, k, mode)
    except InvalidInputError as exc:
        raise renamed(exc, {"query": query_field}) from None
    search_filters = _filters(filters, filter_prefix)
    searcher = service.searcher  # one Searcher, so one commit, for the whole request
    return searcher.search(query, k=k, mode=mode, filters=search_filters, collapse=collapse, per_doc=per_doc, options=options)


def json_response(result: SearchResult) -> Response:
    """The search answered as JSON bytes made here, on the request's worker thread. The response
    model is validated once, when it is built: returned as a model, FastAPI would validate it again
    and hop to its thread pool once more to do so (BENCHMARKS.md, serving). `histogram` is there when asked."""
    body = search_response(result)
    exclude = {"histogram"} if body.histogram is None else None
    return Response(body.model_dump_json(exclude=exclude), media_type="application/json")


def csv_response(result: SearchResult) -> Response:
    """The results as a CSV attachment (csv_export.py: UTF-8 with a byte-order mark, for Excel)."""
    return Response(
        results_csv(result.results).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="semsearch-results.csv"'},
    )


def _served(service: ServiceState) -> object | None:
    """The searcher serving now, or None while none is (the search itself then says why, after checking its input)."""
    return service.searcher if service.ready else None


# async: a search that needs no model call runs on the event loop when short, else on a worker thread (inline.py)
@router.get("/search", response_model=SearchResponse, responses={**ERROR_RESPONSES, **CSV_RESPONSE})
async def search_get(
    params: Annotated[SearchQuery, Query()],
    service: ServiceState = Depends(get_service),
    inline: InlineSearches = Depends(get_inline_searches),
) -> Response:
    """Search with query parameters."""
    p = params
    filters = FiltersIn.model_construct(date_from=p.date_from, date_to=p.date_to, source=p.source, lang=p.lang, entity=p.entity, story=p.story)

    def work() -> Response:
        options = search_options(p.sort, p.recency, p.offset, p.facets, p.histogram, p.histogram_by_source)
        result = run_search(service, p.q, p.k, p.mode, filters, p.collapse, p.per_doc, options, query_field="q", filter_prefix="")
        return csv_response(result) if p.format == "csv" else json_response(result)

    return await inline.run(_served(service), p.q, p.mode, p.k, not p.facets and p.histogram is None, work)


@router.post("/search", response_model=SearchResponse, responses=ERROR_RESPONSES)
async def search_post(
    body: SearchRequest, service: ServiceState = Depends(get_service), inline: InlineSearches = Depends(get_inline_searches)
) -> Response:
    """Search with a JSON body."""

    def work() -> Response:
        options = search_options(body.sort, body.recency, body.offset, body.facets, body.histogram, body.histogram_by_source)
        result = run_search(
            service, body.query, body.k, body.mode, body.filters, body.collapse, body.per_doc, options,
            query_field="query", filter_prefix="filters.",
        )
        return json_response(result)

    return await inline.run(_served(service), body.query, body.mode, body.k, not body.facets and body.histogram is None, work)
