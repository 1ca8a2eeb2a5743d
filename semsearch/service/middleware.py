"""ASGI middleware: request ids, logs and metrics per request, and the request body's limits."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .dependencies import KEY_CHECKED, key_error, require_key
from .http_errors import REQUEST_ID_KEY, error_response, internal_error_response
from .metrics import Metrics
from .requests import THREAD_BODY_BYTES

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


class HeadMiddleware:
    """HEAD answered as GET without the body (RFC 9110: the same headers), for every GET route: probes
    and link checkers send HEAD to /, /healthz and /search."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


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


@dataclass(frozen=True)
class WriteRoute:
    methods: frozenset[str]
    path: re.Pattern[str]


def write_routes(routers: list[APIRouter]) -> list[WriteRoute]:
    """The routes that declare the `require_key` dependency: their key is checked before their body is read."""
    return [
        WriteRoute(frozenset(route.methods), route.path_regex)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and any(d.dependency is require_key for d in route.dependencies)
    ]


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


MAX_URL_BYTES = 65_536
MAX_HEADER_BYTES = 65_536


def _head_problem(scope: Scope) -> JSONResponse | None:
    """A URL or header block over the limits. h11 refuses them itself; httptools (the faster parser
    uvicorn picks when it is installed) takes any size, so the limits are kept here for both."""
    if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_URL_BYTES:
        return error_response(414, "url", f"url: longer than {MAX_URL_BYTES} bytes")
    if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
        return error_response(431, "headers", f"headers: larger than {MAX_HEADER_BYTES} bytes together")
    return None


PUBLIC_MAX_BODY_BYTES = 65_536  # a request that needs no key (a search) never needs more


class BodyLimitMiddleware:
    """Refuses URLs and headers over their limits (414, 431); a write without the right key (401, 403)
    before its body is read; bodies over their limit (413: `max_bytes` for writes, PUBLIC_MAX_BODY_BYTES
    for requests that need no key) by Content-Length and by counting the bytes that arrive; and bodies
    that are not UTF-8 (400), before any route sees them. So a client without the key cannot make the
    server read, hold or parse more than a search's worth of bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int, writes: list[WriteRoute]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.writes = writes

    def _is_write(self, scope: Scope) -> bool:
        path = scope["path"]
        return any(scope["method"] in w.methods and w.path.match(path) for w in self.writes)

    def _too_large(self, limit: int) -> JSONResponse:
        if limit < self.max_bytes:
            return error_response(413, "body", f"body: larger than {limit} bytes (the limit of a request that needs no key)")
        return error_response(413, "body", f"body: larger than {limit} bytes (the limit, SEMSEARCH_MAX_BODY_BYTES)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _head_problem(scope)
        if problem is not None:
            await problem(scope, receive, send)
            return
        limit = self.max_bytes
        if scope["method"] in _BODY_METHODS:
            if self._is_write(scope):
                authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
                refused = key_error(scope["app"].state.service.settings, authorization)
                if refused is not None:
                    await error_response(refused.status, refused.field, refused.message, refused.headers)(scope, receive, send)
                    return
                scope[KEY_CHECKED] = True
            else:
                limit = min(limit, PUBLIC_MAX_BODY_BYTES)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is None and scope["method"] not in _BODY_METHODS and not any(k == b"transfer-encoding" for k, _ in scope["headers"]):
            await self.app(scope, receive, send)  # a GET or HEAD without a body: nothing to count or check
            return
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await error_response(400, "content-length", "content-length: not a number")(scope, receive, send)
                return
            if length > limit:
                await self._too_large(limit)(scope, receive, send)
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                await self._too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and scope["method"] in _BODY_METHODS:
            small = len(body) <= THREAD_BODY_BYTES
            problem = _text_problem(body) if small else await anyio.to_thread.run_sync(_text_problem, body)
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


