"""GET /documents/{id}/similar: other articles covering the same story.

Document ids may contain `/`, so this route is matched before GET /documents/{id} (app.py includes
this router first): `/documents/a/b/similar` is the similar articles of `a/b`. A document whose id
itself ends in `/similar` stays readable at its own address: when no document `a/b` exists but
`a/b/similar` does, the address answers that document, as GET /documents/{id} would.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ...search.searcher import MAX_K
from ...search.similar import similar_documents
from ..api_models import ERROR_RESPONSES, MAX_FILTER_CHARS, DocumentOut, ErrorBody, FiltersIn, SimilarResponse
from ..dependencies import get_service
from ..http_errors import ApiError
from ..state import ServiceState
from .documents import _doc_id, get_document
from .search import _filters, hit_out

router = APIRouter(tags=["documents"])


@router.get(
    "/documents/{doc_id:path}/similar",
    response_model=SimilarResponse | DocumentOut,
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody}},
)
def similar(
    doc_id: str,
    k: int = Query(10, ge=1, le=MAX_K, description=f"number of articles, 1 to {MAX_K}"),
    date_from: str | None = Query(None, max_length=32, description="YYYY, YYYY-MM or YYYY-MM-DD"),
    date_to: str | None = Query(None, max_length=32, description="YYYY, YYYY-MM or YYYY-MM-DD"),
    source: str | None = Query(None, max_length=MAX_FILTER_CHARS),
    lang: str | None = Query(None, max_length=MAX_FILTER_CHARS),
    service: ServiceState = Depends(get_service),
) -> SimilarResponse | DocumentOut:
    """Other articles covering the same story as this document, across outlets and languages, with the
    search filters; one hit per article (its best-matching passage), the document itself excluded."""
    doc_id = _doc_id(doc_id)
    filters = _filters(FiltersIn.model_construct(date_from=date_from, date_to=date_to, source=source, lang=lang), "")
    searcher = service.searcher  # one commit for the whole request
    result = similar_documents(searcher, doc_id, k, filters)
    if result is None:
        if searcher.reader.fetch_document(f"{doc_id}/similar") is not None:
            return get_document(f"{doc_id}/similar", service)
        raise ApiError(404, "doc_id", f"doc_id: no document {doc_id!r} in the index")
    return SimilarResponse(doc_id=result.doc_id, title=result.title, took_ms=result.took_ms, results=[hit_out(h) for h in result.results])
