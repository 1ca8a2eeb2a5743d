"""What a route needs from the app: the service state, and the write key check."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..settings import Settings
from .http_errors import ApiError
from .inline import InlineSearches
from .state import ServiceBase

bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="the value of SEMSEARCH_API_KEY")


# async: FastAPI runs a plain `def` dependency on its thread pool, one hand-off per request for an
# attribute read (BENCHMARKS.md, serving).
async def get_service(request: Request) -> ServiceBase[Any, Any]:
    return request.app.state.service


async def get_inline_searches(request: Request) -> InlineSearches:
    return request.app.state.inline_searches


async def get_settings(request: Request) -> Settings:
    return request.app.state.service.settings


def key_error(settings: Settings, authorization: str | None) -> ApiError | None:
    """Why a write may not proceed with this Authorization header, or None: no key configured (writes are
    off), or a missing or wrong key (compared in constant time). Checked before a write's body is read."""
    key = settings.api_key
    if key is None:
        return ApiError(
            403,
            "authorization",
            "authorization: writes are disabled on this server; set SEMSEARCH_API_KEY to a secret "
            "(e.g. `export SEMSEARCH_API_KEY=$(openssl rand -hex 32)`), restart `semsearch serve`, "
            "and send `Authorization: Bearer <key>`",
        )
    scheme, _, token = (authorization or "").partition(" ")
    given = token.strip().encode("utf-8", "replace") if scheme.lower() == "bearer" else b""
    if not hmac.compare_digest(given, key.get_secret_value().encode()):
        return ApiError(
            401,
            "authorization",
            "authorization: missing or wrong API key; send `Authorization: Bearer <SEMSEARCH_API_KEY>`",
            {"WWW-Authenticate": "Bearer"},
        )
    return None


KEY_CHECKED = "semsearch.key_checked"  # set in the request's scope by the middleware that checked the key


async def require_key(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    settings: Settings = Depends(get_settings),
) -> None:
    """Writes need the configured key: checked by the body-limit middleware before the body is read, or
    here where no such middleware runs."""
    if request.scope.get(KEY_CHECKED):
        return
    error = key_error(settings, f"Bearer {credentials.credentials}" if credentials is not None else None)
    if error is not None:
        raise error
