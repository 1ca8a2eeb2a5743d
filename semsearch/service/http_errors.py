"""Every HTTP error has one shape, `{"error": {"field": <name or null>, "message": <text>}}`.

400 unreadable body (not UTF-8, not JSON), 401/403 write key, 404 unknown document or route,
413 body or document count over the limit, 422 invalid field, 503 no commit loaded yet or a
damaged index, 500 (generic, details only in the server log under the request id) for bugs.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import InvalidInputError, SemsearchError, UnsupportedError
from ..search.histogram import INTERVALS
from ..search.search_options import MAX_OFFSET, SORTS
from ..search.searcher import MAX_K, MODES
from .state import NotReadyError

log = logging.getLogger("semsearch.service")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = "semsearch.request_id"  # where RequestContextMiddleware leaves the id in the ASGI scope


class ApiError(Exception):
    def __init__(self, status: int, field: str | None, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.field, self.message, self.headers, self.extra = status, field, message, headers, extra


def error_response(status: int, field: str | None, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message, **extra}}, status_code=status, headers=headers)


def renamed(exc: InvalidInputError, names: dict[str, str]) -> InvalidInputError:
    """The same error under the name the client used (`q` for `query`, `filters.date_from`...)."""
    field = exc.field
    if field not in names:
        return exc
    message = str(exc)
    if message.startswith(f"{field}:"):
        message = names[field] + message[len(field):]
    return InvalidInputError(message, names[field])


_RANGES = {"k": (1, MAX_K), "offset": (0, MAX_OFFSET)}  # integer fields: their bounds, named in the message
_CHOICES = {"mode": MODES, "sort": SORTS, "format": ("json", "csv"), "histogram": INTERVALS}  # fields with a fixed set of values


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
    if last in _RANGES:
        low, high = _RANGES[last]
        return field, f"{field}: must be an integer from {low} to {high}", 422
    if last in _CHOICES:
        return field, f"{field}: {str(value)[:40]!r} is not one of {', '.join(_CHOICES[last])}", 422
    if last == "collapse":
        return field, f"{field}: must be true or false", 422
    if kind == "string_too_long":
        return field, f"{field}: longer than {(error.get('ctx') or {}).get('max_length')} characters", 422
    message = str(error.get("msg", "invalid"))
    return field, f"{field}: {message[:1].lower()}{message[1:]}", 422


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.field, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(InvalidInputError)
    async def invalid_input(request: Request, exc: InvalidInputError) -> JSONResponse:
        return error_response(422, exc.field, str(exc))

    @app.exception_handler(NotReadyError)
    async def not_ready(request: Request, exc: NotReadyError) -> JSONResponse:
        return error_response(503, None, str(exc), {"Retry-After": "5"})

    @app.exception_handler(UnsupportedError)
    async def unsupported(request: Request, exc: UnsupportedError) -> JSONResponse:
        return error_response(501, None, str(exc))

    @app.exception_handler(SemsearchError)
    async def unavailable(request: Request, exc: SemsearchError) -> JSONResponse:
        # Index missing, damaged or built with another model: the operator must act.
        log.error("request failed: %s", exc, extra={"event": "index_error", "request_id": request.scope.get(REQUEST_ID_KEY)})
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
        log.error("unhandled error", exc_info=exc, extra={"event": "internal_error", "request_id": request.scope.get(REQUEST_ID_KEY)})
        return internal_error_response(request.scope.get(REQUEST_ID_KEY))


def internal_error_response(request_id: str | None) -> JSONResponse:
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return error_response(500, None, "internal error; the server log has the details (look for this request's X-Request-ID)", headers)


