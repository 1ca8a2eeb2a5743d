"""Request bodies parsed off the event loop: a write's JSON body (up to SEMSEARCH_MAX_BODY_BYTES) takes
tens of milliseconds to parse, during which no other request (a health check, a search) would be
served. Bodies this small or smaller are parsed in place, where a thread hand-off would cost more."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi import Request, Response
from fastapi.routing import APIRoute

THREAD_BODY_BYTES = 65_536


class OffLoopJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            small = len(body) <= THREAD_BODY_BYTES
            self._json = json.loads(body) if small else await anyio.to_thread.run_sync(json.loads, body)
        return self._json


class OffLoopJSONRoute(APIRoute):
    """A route whose JSON body is parsed by `OffLoopJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_off_loop(request: Request) -> Response:
            return await handler(OffLoopJSONRequest(request.scope, request.receive))

        return parse_off_loop
