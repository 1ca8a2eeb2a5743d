"""Index administration behind the write key: force-merge (Elasticsearch's _forcemerge)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ..api_models import WRITE_RESPONSES, OptimizeResponse
from ..dependencies import get_service, require_key
from ..state import ServiceState

router = APIRouter(tags=["admin"])


@router.post("/admin/optimize", response_model=OptimizeResponse, responses=WRITE_RESPONSES, dependencies=[Depends(require_key)])
def optimize(
    max_segments: int = Query(1, ge=1, le=1000, description="merge down to this many segments"),
    service: ServiceState = Depends(get_service),
) -> OptimizeResponse:
    """Merge the segments into `max_segments` and purge deleted passages; answers once the merged commit
    is served. Searches and writes go on meanwhile."""
    service.searcher  # noqa: B018 - 503 while no index is loaded
    reports = service.optimize(max_segments)
    reader = service.searcher.reader
    return OptimizeResponse(
        merges=len(reports),
        purged=sum(r.purged for r in reports),
        segments=len(reader.segments),
        documents=reader.summary.documents,
        passages=reader.summary.passages,
        commit=reader.path.name,
        snapshot=reader.path.name,
    )
