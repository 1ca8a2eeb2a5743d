"""Health, readiness, statistics and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from ..api_models import ErrorBody, HealthResponse, ReadyResponse, StatsResponse
from ..dependencies import get_service
from ..metrics import CONTENT_TYPE_LATEST
from ..state import ServiceState

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """The process is alive."""
    return HealthResponse()


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ErrorBody}})
async def readyz(service: ServiceState = Depends(get_service)) -> Any:
    """200 once a commit is loaded; 503 (with what the service is doing) before."""
    if not service.ready:
        return JSONResponse({"ready": False, "error": {"field": None, "message": f"not ready: {service.phase.message}"}}, status_code=503)
    reader = service.searcher.reader
    return ReadyResponse(ready=True, commit=reader.path.name, snapshot=reader.path.name, documents=reader.summary.documents)


@router.get("/stats", response_model=StatsResponse, responses={503: {"model": ErrorBody}})
async def stats(service: ServiceState = Depends(get_service)) -> StatsResponse:
    """What the live commit holds."""
    reader = service.searcher.reader
    summary, commit = reader.summary, reader.commit
    segments = reader.segment_stats()
    return StatsResponse(
        documents=summary.documents,
        passages=summary.passages,
        model=commit.model,
        dimension=commit.dim,
        index_type=summary.index_type,
        built_at=commit.built_at,
        commit=reader.path.name,
        snapshot=reader.path.name,
        languages=summary.languages,
        sources=summary.sources,
        segments=len(segments),
        deleted_passages=sum(s.deleted for s in segments),
        merges=commit.merges,
        merging=bool(service.maintenance.merging),
        merging_segments=len(service.maintenance.merging),
        alerts=service.alerts.store.count(),
        alert_names=service.alerts.store.names(100),
    )


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(service: ServiceState = Depends(get_service)) -> Response:
    """Prometheus text format."""
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)
