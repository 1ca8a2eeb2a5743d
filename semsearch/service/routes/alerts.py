"""Saved searches and alerts: POST/GET /alerts, GET/DELETE /alerts/{name}, GET /alerts/{name}/feed.atom.

Saving one needs the write key (a webhook makes this server send requests, so only the operator may set
one); reading the list, the hits and the feed is open, like searching. The engine is semsearch/alerts/.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ...alerts.atom import atom_feed
from ...alerts.store import (
    MAX_NAME,
    AlertExistsError,
    AlertNotFoundError,
    Delivery,
    Hit,
    SavedSearch,
    check_dense_floor,
    validate_filters,
    validate_name,
    validate_webhook,
)
from ...errors import InvalidInputError
from ...search.searcher import MAX_QUERY_CHARS, query_language, validate_query
from ..api_models import ERROR_RESPONSES, WRITE_RESPONSES, ErrorBody, FiltersIn, Mode
from ..dependencies import get_service, require_key
from ..http_errors import ApiError, renamed
from ..state import ServiceState

router = APIRouter(tags=["alerts"])

NOT_FOUND = {404: {"model": ErrorBody, "description": "No saved search of that name"}}


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=MAX_NAME, description="letters, digits, '.', '_' or '-'; names the feed: /alerts/{name}/feed.atom")
    query: str = Field(
        max_length=MAX_QUERY_CHARS, description="the question, as for a search", examples=["Combien de soldats américains sont en Irak ?"]
    )
    mode: Mode = "hybrid"
    filters: FiltersIn = Field(default_factory=FiltersIn)
    webhook_url: str | None = Field(None, max_length=2048, description="http(s) URL POSTed each commit's new hits (optional)")
    webhook_secret: str | None = Field(
        None, max_length=256, description="HMAC-SHA256 key of the X-Semsearch-Signature header (16+ characters); made up when absent"
    )


class HitOut(BaseModel):
    doc_id: str
    passage_id: str
    title: str | None = None
    url: str | None = None
    date: str | None = None
    source: str | None = None
    lang: str | None = None
    answer: str = Field(description="the sentence that answers the saved question")
    text: str = Field(description="the passage (at most 2,000 characters)")
    score: float = Field(description="cosine of the answering sentence to the question (1.0 in lexical mode)")
    content_hash: str
    matched_at: str = Field(description="when the hit was found (UTC)")


class DeliveryOut(BaseModel):
    id: int
    status: str = Field(description="pending, sending, delivered or failed")
    attempts: int
    hits: int
    last_status: int | None = Field(None, description="the receiver's last HTTP status")
    last_error: str | None = None
    created_at: str
    updated_at: str


class WebhookOut(BaseModel):
    url: str
    deliveries: list[DeliveryOut] = Field(description="the newest deliveries, newest first")


class AlertOut(BaseModel):
    name: str
    query: str
    mode: str
    filters: FiltersIn
    query_lang: str
    created_at: str
    hits: int = Field(0, description="documents found since the search was saved")
    last_hit_at: str | None = None
    feed: str = Field(description="path of its Atom feed")
    webhook_url: str | None = None


class AlertCreated(AlertOut):
    webhook_secret: str | None = Field(None, description="the webhook's signing key: shown once, now")


class AlertDetail(AlertOut):
    recent: list[HitOut] = Field(description="the newest hits, newest first")
    webhook: WebhookOut | None = None


class AlertList(BaseModel):
    alerts: list[AlertOut]


def _out(search: SavedSearch, counts: tuple[int, str | None] = (0, None), cls=AlertOut, **extra) -> AlertOut:
    f = search.filters
    return cls(
        name=search.name,
        query=search.query,
        mode=search.mode,
        filters=FiltersIn(date_from=f.date_from, date_to=f.date_to, source=f.source, lang=f.lang),
        query_lang=search.query_lang,
        created_at=search.created_at,
        hits=counts[0],
        last_hit_at=counts[1],
        feed=f"/alerts/{search.name}/feed.atom",
        webhook_url=search.webhook_url,
        **extra,
    )


def _hit(hit: Hit) -> HitOut:
    return HitOut(**{k: getattr(hit, k) for k in HitOut.model_fields})


def _delivery(d: Delivery) -> DeliveryOut:
    return DeliveryOut(**{k: getattr(d, k) for k in DeliveryOut.model_fields})


def _get(service: ServiceState, name: str) -> SavedSearch:
    try:
        return service.alerts.store.get(name)
    except AlertNotFoundError as exc:
        raise ApiError(404, "name", str(exc)) from None


@router.post(
    "/alerts",
    status_code=201,
    response_model=AlertCreated,
    responses={**WRITE_RESPONSES, 409: {"model": ErrorBody}},
    dependencies=[Depends(require_key)],
)
def create_alert(body: AlertIn, service: ServiceState = Depends(get_service)) -> AlertCreated:
    """Save a search: every new document that answers it from now on becomes a hit (feed, webhook)."""
    name = validate_name(body.name)
    try:
        query = validate_query(body.query, 1, body.mode)
    except InvalidInputError as exc:
        raise renamed(exc, {}) from None
    filters = validate_filters(body.filters.date_from, body.filters.date_to, body.filters.source, body.filters.lang, "filters.")
    url, secret = validate_webhook(body.webhook_url, body.webhook_secret)
    searcher = service.searcher  # 503 until an index is served: the question's language is detected among its languages
    reader = searcher.reader
    model = reader.commit.model
    check_dense_floor(body.mode, model)
    vector = None
    if body.mode != "lexical":
        vector = searcher.cache.get(service.embedder, query)  # embedded once, now
    search = SavedSearch(name, query, body.mode, filters, query_language(query, reader.summary.languages), model, url)
    service.alerts.consumer.start_cursor(reader)
    try:
        saved = service.alerts.store.add(search, vector, secret)
    except AlertExistsError as exc:
        raise ApiError(409, "name", str(exc)) from None
    return _out(saved, cls=AlertCreated, webhook_secret=secret)


@router.get("/alerts", response_model=AlertList, responses=ERROR_RESPONSES)
def list_alerts(service: ServiceState = Depends(get_service)) -> AlertList:
    """Every saved search with how many hits it has."""
    counts = service.alerts.store.hit_counts()
    return AlertList(alerts=[_out(s, counts.get(s.name, (0, None))) for s in service.alerts.store.list()])


@router.get("/alerts/{name}", response_model=AlertDetail, responses={**ERROR_RESPONSES, **NOT_FOUND})
def get_alert(
    name: str,
    limit: int = Query(20, ge=0, le=100, description="newest hits listed, 0 to 100"),
    service: ServiceState = Depends(get_service),
) -> AlertDetail:
    """A saved search, its newest hits and its webhook's deliveries (with their errors)."""
    search = _get(service, name)
    total, hits = service.alerts.store.hits(name, limit)
    webhook = None
    if search.webhook_url:
        webhook = WebhookOut(url=search.webhook_url, deliveries=[_delivery(d) for d in service.alerts.store.deliveries(name)])
    last = hits[0].matched_at if hits else None
    return _out(search, (total, last), cls=AlertDetail, recent=[_hit(h) for h in hits], webhook=webhook)


@router.delete("/alerts/{name}", response_model=AlertOut, responses={**WRITE_RESPONSES, **NOT_FOUND}, dependencies=[Depends(require_key)])
def delete_alert(name: str, service: ServiceState = Depends(get_service)) -> AlertOut:
    """Remove a saved search, its hits and its queued deliveries."""
    search = _get(service, name)
    try:
        service.alerts.store.remove(name)
    except AlertNotFoundError as exc:
        raise ApiError(404, "name", str(exc)) from None
    return _out(search)


@router.get(
    "/alerts/{name}/feed.atom",
    response_class=Response,
    responses={
        200: {"content": {"application/atom+xml": {}}, "description": "Atom 1.0 feed of the hits, newest first"},
        **ERROR_RESPONSES,
        **NOT_FOUND,
    },
)
def alert_feed(
    name: str,
    request: Request,
    limit: int = Query(50, ge=1, le=500, description="entries, newest first"),
    service: ServiceState = Depends(get_service),
) -> Response:
    """The hits as an Atom feed, for feed readers."""
    search = _get(service, name)
    _, hits = service.alerts.store.hits(name, limit)
    base = str(request.base_url).rstrip("/")
    return Response(
        atom_feed(search, hits, base),
        media_type="application/atom+xml; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )
