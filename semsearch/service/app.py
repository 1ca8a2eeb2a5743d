"""The HTTP service: `create_app(settings)` builds a FastAPI app over one index directory.

Errors all have one shape, `{"error": {"field": <name or null>, "message": <text>}}`:
400 unreadable body (not UTF-8, not JSON), 401/403 write key, 404 unknown document or route,
413 body or document count over the limit, 422 invalid field, 503 no snapshot loaded yet,
500 (generic, details only in the server log) for bugs.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..dates import date_bounds, normalize_date
from ..documents import Document
from ..embedding import Embedder
from ..errors import InvalidInputError, SemsearchError
from ..index.readers import document_from_record, validate_doc_id
from ..settings import Settings
from ..text.lang import known_languages
from .api_models import (
    ERROR_RESPONSES,
    MAX_FILTER_CHARS,
    WRITE_RESPONSES,
    DeleteResponse,
    DocumentOut,
    DocumentsRequest,
    DocumentsResponse,
    DuplicateOut,
    ErrorBody,
    FailedDocument,
    FiltersIn,
    HealthResponse,
    HitOut,
    Mode,
    PassageOut,
    ReadyResponse,
    SearchRequest,
    SearchResponse,
    Span,
    StatsResponse,
)
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .searcher import MAX_K, MAX_QUERY_CHARS, MODES, SearchFilters, SearchResult, validate_query
from .state import NotReadyError, ServiceState
from .web import install_web_page

log = logging.getLogger("semsearch.service")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = "semsearch.request_id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_KNOWN_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"} | _BODY_METHODS


# -- errors ------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, field: str | None, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.field, self.message, self.headers, self.extra = status, field, message, headers, extra


def error_response(status: int, field: str | None, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message, **extra}}, status_code=status, headers=headers)


def _renamed(exc: InvalidInputError, names: dict[str, str]) -> InvalidInputError:
    """The same error under the name the client used (`q` for `query`, `filters.date_from`...)."""
    field = exc.field
    if field not in names:
        return exc
    message = str(exc)
    if message.startswith(f"{field}:"):
        message = names[field] + message[len(field):]
    return InvalidInputError(message, names[field])


def _validation_message(error: dict[str, Any]) -> tuple[str, str, int]:
    """Field, message and status for one pydantic error of a request."""
    loc = [str(part) for part in error.get("loc", ())]
    where = loc[0] if loc else ""
    kind = error.get("type", "")
    if kind == "json_invalid":
        position = loc[1] if len(loc) > 1 else "?"
        detail = (error.get("ctx") or {}).get("error", "JSON decode error")
        return "body", f"body: not valid JSON ({detail} at position {position})", 400
    parts = loc[1:] if where in ("body", "query", "path", "header") else loc
    field = ".".join(parts) if parts else where or "body"
    last = parts[-1] if parts else ""
    value = error.get("input")
    if not parts:
        if kind == "missing":
            return "body", "body: missing; send a JSON object with Content-Type: application/json", 422
        return "body", "body: must be a JSON object, sent with Content-Type: application/json", 422
    if kind == "missing":
        return field, f"{field}: required", 422
    if kind == "extra_forbidden":
        return field, f"{field}: unknown field", 422
    if last == "k":
        return field, f"{field}: must be an integer from 1 to {MAX_K}", 422
    if last == "mode":
        return field, f"{field}: {str(value)[:40]!r} is not one of {', '.join(MODES)}", 422
    if last == "collapse":
        return field, f"{field}: must be true or false", 422
    if kind == "string_too_long":
        return field, f"{field}: longer than {(error.get('ctx') or {}).get('max_length')} characters", 422
    message = str(error.get("msg", "invalid"))
    return field, f"{field}: {message[:1].lower()}{message[1:]}", 422


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.field, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(InvalidInputError)
    async def invalid_input(request: Request, exc: InvalidInputError) -> JSONResponse:
        return error_response(422, exc.field, str(exc))

    @app.exception_handler(NotReadyError)
    async def not_ready(request: Request, exc: NotReadyError) -> JSONResponse:
        return error_response(503, None, str(exc), {"Retry-After": "5"})

    @app.exception_handler(SemsearchError)
    async def unavailable(request: Request, exc: SemsearchError) -> JSONResponse:
        # Index missing, damaged or built with another model: the operator must act.
        log.error("request failed: %s", exc, extra={"event": "index_error", "request_id": request.scope.get(_REQUEST_ID_KEY)})
        return error_response(503, None, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        field, message, status = _validation_message(errors[0]) if errors else ("body", "body: invalid", 422)
        return error_response(status, field, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(404, None, f"not found: {request.url.path}")
        if exc.status_code == 405:
            return error_response(405, None, f"method {request.method} not allowed on {request.url.path}", exc.headers)
        if exc.status_code == 400:  # FastAPI could not read the body
            return error_response(400, "body", "body: could not be read as JSON")
        return error_response(exc.status_code, None, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Normally unreachable: RequestContextMiddleware answers first. Kept as the last net.
        log.error("unhandled error", exc_info=exc, extra={"event": "internal_error", "request_id": request.scope.get(_REQUEST_ID_KEY)})
        return _internal_error_response(request.scope.get(_REQUEST_ID_KEY))


def _internal_error_response(request_id: str | None) -> JSONResponse:
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return error_response(500, None, "internal error; the server log has the details (look for this request's X-Request-ID)", headers)


# -- middleware --------------------------------------------------------------------------------


class RequestContextMiddleware:
    """Request id (X-Request-ID echoed or generated), one log line and metrics per request, and
    the catch-all for unexpected exceptions: logged with their traceback, answered with a generic 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        scope[_REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"event": "internal_error", "request_id": request_id})
            if response_started:
                raise
            await _internal_error_response(request_id)(scope, receive, send_with_id)
        finally:
            route = _route_template(scope)
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "other"  # bounded label values
            self.metrics.observe_request(method, route, status, seconds)
            log.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                },
            )


def _route_template(scope: Scope) -> str:
    """The matched route's path template (a bounded label set for metrics), or "unmatched"."""
    route = scope.get("route")
    if route is None and scope.get("app") is not None:
        # Answered before routing (body limit): find the route the request was meant for.
        for candidate in scope["app"].router.routes:
            if candidate.matches(scope)[0] is not Match.NONE:
                route = candidate
                break
    return getattr(route, "path", None) or "unmatched"


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _text_problem(body: bytes) -> str | None:
    """Why a request body is not Unicode text, or None. JSON escapes count: a lone surrogate
    such as \\ud800 decodes to a string that no UTF-8 encoder (SQLite, the model) accepts."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start})"
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "not valid Unicode: a \\uXXXX escape is a lone UTF-16 surrogate"
        except (ValueError, RecursionError):
            return None  # not JSON the route can read: it says so
    return None


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` (413) by Content-Length and by counting the bytes that
    actually arrive, and bodies that are not UTF-8 (400), before any route sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> JSONResponse:
        return error_response(413, "body", f"body: larger than {self.max_bytes} bytes (the limit, SEMSEARCH_MAX_BODY_BYTES)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await error_response(400, "content-length", "content-length: not a number")(scope, receive, send)
                return
            if length > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and scope["method"] in _BODY_METHODS:
            problem = _text_problem(body)
            if problem:
                await error_response(400, "body", f"body: {problem}")(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# -- the app -----------------------------------------------------------------------------------


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
        raise _renamed(exc, names) from None
    return SearchFilters(
        date_from=filters.date_from,
        date_to=filters.date_to,
        source=(filters.source or "").strip() or None,
        lang=(filters.lang or "").strip() or None,
    )


def _document(record: Any, index: int) -> Document:
    """A document of a request, validated as a JSON Lines record, with a language code the
    language identifier knows (lower-cased)."""
    doc = document_from_record(record, f"documents[{index}]")
    if doc.lang is not None:
        code = doc.lang.lower()
        if code not in known_languages():
            raise InvalidInputError(f"lang: {doc.lang[:40]!r} is not a known language code (ISO 639-1: fr, en, de...)", "lang")
        doc.lang = code
    return doc


def _span(item: Any) -> Span:
    if isinstance(item, (tuple, list)):
        return Span(start=int(item[0]), end=int(item[1]))
    return Span(start=int(item.start), end=int(item.end))


def _duplicate(item: Any) -> DuplicateOut:
    get = item.get if isinstance(item, dict) else lambda name: getattr(item, name, None)
    return DuplicateOut(doc_id=get("doc_id"), passage_id=get("passage_id"), title=get("title"), source=get("source"), date=get("date"))


def search_response(result: SearchResult) -> SearchResponse:
    return SearchResponse(
        query=result.query,
        query_lang=result.query_lang,
        mode=result.mode,
        took_ms=result.took_ms,
        results=[
            HitOut(
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
            )
            for hit in result.results
        ],
    )


def create_app(settings: Settings | None = None, *, embedder: Embedder | None = None) -> FastAPI:
    """A FastAPI app over `settings.index_dir`. The snapshot loads (or `settings.corpus` is indexed
    into an empty index) in the background when the app starts; /readyz answers 503 until then.
    Pass `embedder` to share an already loaded model."""
    settings = settings or Settings()
    metrics = Metrics()
    service = ServiceState(settings, metrics, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start(settings.corpus)
        yield

    app = FastAPI(
        title="semsearch",
        version=__version__,
        summary="Multilingual semantic search over news articles.",
        description=(
            "Search passages of news articles in French or English (hybrid dense + BM25). "
            "Reads are open; writes need `Authorization: Bearer <SEMSEARCH_API_KEY>`. "
            'Every error is `{"error": {"field": ..., "message": ...}}`.'
        ),
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="the value of SEMSEARCH_API_KEY")

    def require_key(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        key = settings.api_key
        if key is None:
            raise ApiError(
                403,
                "authorization",
                "authorization: writes are disabled on this server; set SEMSEARCH_API_KEY to a secret "
                "(e.g. `export SEMSEARCH_API_KEY=$(openssl rand -hex 32)`), restart `semsearch serve`, "
                "and send `Authorization: Bearer <key>`",
            )
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, key.get_secret_value().encode()):
            raise ApiError(
                401,
                "authorization",
                "authorization: missing or wrong API key; send `Authorization: Bearer <SEMSEARCH_API_KEY>`",
                {"WWW-Authenticate": "Bearer"},
            )

    def run_search(
        query: str,
        k: int,
        mode: str,
        filters: FiltersIn,
        collapse: bool,
        per_doc: int | None,
        *,
        query_field: str,
        filter_prefix: str,
    ) -> SearchResponse:
        try:
            query = validate_query(query, k, mode)
        except InvalidInputError as exc:
            raise _renamed(exc, {"query": query_field}) from None
        search_filters = _filters(filters, filter_prefix)
        searcher = service.searcher  # one Searcher, so one snapshot, for the whole request
        return search_response(
            searcher.search(query, k=k, mode=mode, filters=search_filters, collapse=collapse, per_doc=per_doc)
        )

    # -- search ----------------------------------------------------------------------------

    @app.get("/search", response_model=SearchResponse, responses=ERROR_RESPONSES, tags=["search"])
    def search_get(
        q: str = Query(description=f"the question, 1 to {MAX_QUERY_CHARS} characters"),
        k: int = Query(10, ge=1, le=MAX_K, description=f"number of results, 1 to {MAX_K}"),
        mode: Mode = Query("hybrid"),
        date_from: str | None = Query(None, max_length=32, description="YYYY, YYYY-MM or YYYY-MM-DD"),
        date_to: str | None = Query(None, max_length=32, description="YYYY, YYYY-MM or YYYY-MM-DD"),
        source: str | None = Query(None, max_length=MAX_FILTER_CHARS),
        lang: str | None = Query(None, max_length=MAX_FILTER_CHARS),
        collapse: bool = Query(True, description="group passages that report the same fact"),
        per_doc: int | None = Query(None, ge=1, le=MAX_K, description="at most this many passages per document (default 2)"),
    ) -> SearchResponse:
        """Search with query parameters."""
        filters = FiltersIn.model_construct(date_from=date_from, date_to=date_to, source=source, lang=lang)
        return run_search(q, k, mode, filters, collapse, per_doc, query_field="q", filter_prefix="")

    @app.post("/search", response_model=SearchResponse, responses=ERROR_RESPONSES, tags=["search"])
    def search_post(body: SearchRequest) -> SearchResponse:
        """Search with a JSON body."""
        return run_search(
            body.query, body.k, body.mode, body.filters, body.collapse, body.per_doc, query_field="query", filter_prefix="filters."
        )

    # -- documents -------------------------------------------------------------------------

    @app.post("/documents", response_model=DocumentsResponse, responses=WRITE_RESPONSES, tags=["documents"], dependencies=[Depends(require_key)])
    def add_documents(body: DocumentsRequest) -> DocumentsResponse:
        """Add or replace documents (same id = replace). Valid documents are written even when others fail;
        answers once the new snapshot is on disk and served."""
        limit = settings.max_documents_per_request
        if len(body.documents) > limit:
            message = f"documents: {len(body.documents)} in one request; at most {limit} (SEMSEARCH_MAX_DOCUMENTS_PER_REQUEST)"
            raise ApiError(413, "documents", message)
        if not body.documents:
            raise ApiError(422, "documents", "documents: empty; send at least one document")
        documents, failed = [], []
        for index, record in enumerate(body.documents):
            try:
                documents.append(_document(record, index))
            except InvalidInputError as exc:
                raw_id = record.get("id") if isinstance(record, dict) else None
                failed.append(
                    FailedDocument(
                        index=index,
                        id=str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None,
                        field=exc.field,
                        reason=str(exc),
                    )
                )
        if not documents:
            first = failed[0]
            field = f"documents.{first.index}" + (f".{first.field}" if first.field else "")
            reason = first.reason.removeprefix(f"{first.field}: ") if first.field else first.reason
            more = f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else ""
            raise ApiError(422, field, f"{field}: {reason}{more}", failed=[f.model_dump() for f in failed])
        report = service.write(documents)
        metrics.writes.labels("upsert").inc()
        return DocumentsResponse(
            added=report.added,
            updated=report.updated,
            unchanged=report.unchanged,
            failed=failed,
            documents=report.documents,
            passages=report.passages,
            snapshot=report.snapshot,
        )

    def _doc_id(doc_id: str) -> str:
        try:
            return validate_doc_id(doc_id)
        except InvalidInputError as exc:
            raise _renamed(exc, {"id": "doc_id"}) from None

    @app.get(
        "/documents/{doc_id:path}", response_model=DocumentOut, responses={**ERROR_RESPONSES, 404: {"model": ErrorBody}}, tags=["documents"]
    )
    def get_document(doc_id: str) -> DocumentOut:
        """A document and its passages. Ids may contain `/`."""
        doc_id = _doc_id(doc_id)
        found = service.searcher.snapshot.fetch_document(doc_id)
        if found is None:
            raise ApiError(404, "doc_id", f"doc_id: no document {doc_id!r} in the index")
        doc, passages = found
        return DocumentOut(
            doc_id=doc.doc_id,
            title=doc.title,
            date=doc.date,
            source=doc.source,
            url=doc.url,
            lang=doc.lang,
            text=doc.text,
            indexed_at=doc.indexed_at,
            passages=[PassageOut(passage_id=p.passage_id, ordinal=p.ordinal, start=p.start, end=p.end, text=p.text) for p in passages],
        )

    @app.delete(
        "/documents/{doc_id:path}",
        response_model=DeleteResponse,
        responses={**WRITE_RESPONSES, 404: {"model": ErrorBody}},
        tags=["documents"],
        dependencies=[Depends(require_key)],
    )
    def delete_document(doc_id: str) -> DeleteResponse:
        """Remove a document and its passages; answers once the new snapshot is on disk and served."""
        doc_id = _doc_id(doc_id)
        report = service.write(delete_ids=[doc_id])
        if report.not_found:
            raise ApiError(404, "doc_id", f"doc_id: no document {doc_id!r} in the index")
        metrics.writes.labels("delete").inc()
        return DeleteResponse(
            deleted=report.deleted, doc_id=doc_id, documents=report.documents, passages=report.passages, snapshot=report.snapshot
        )

    # -- operations ------------------------------------------------------------------------

    @app.get("/healthz", response_model=HealthResponse, tags=["operations"])
    async def healthz() -> HealthResponse:
        """The process is alive."""
        return HealthResponse()

    @app.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ErrorBody}}, tags=["operations"])
    async def readyz() -> Any:
        """200 once a snapshot is loaded; 503 (with what the service is doing) before."""
        if not service.ready:
            return JSONResponse({"ready": False, "error": {"field": None, "message": f"not ready: {service.phase.message}"}}, status_code=503)
        snapshot = service.searcher.snapshot
        return ReadyResponse(ready=True, snapshot=snapshot.path.name, documents=snapshot.manifest.documents)

    @app.get("/stats", response_model=StatsResponse, responses={503: {"model": ErrorBody}}, tags=["operations"])
    async def stats() -> StatsResponse:
        """What the live snapshot holds."""
        snapshot = service.searcher.snapshot
        m = snapshot.manifest
        return StatsResponse(
            documents=m.documents,
            passages=m.passages,
            model=m.model,
            dimension=m.dim,
            index_type=m.index_type,
            built_at=m.built_at,
            snapshot=snapshot.path.name,
            languages=m.languages,
            sources=m.sources,
        )

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus text format."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    install_web_page(app)  # GET / (the search page) and /static
    return app
