"""ASGI middleware: request ids, logs and metrics per request, and the request body's limits."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_errors import REQUEST_ID_KEY, error_response, internal_error_response
from .metrics import Metrics

log = logging.getLogger("semsearch.service")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_KNOWN_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"} | _BODY_METHODS


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
        scope[REQUEST_ID_KEY] = request_id
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
            await internal_error_response(request_id)(scope, receive, send_with_id)
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


