"""What a route needs from the app: the service state, and the write key check."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..settings import Settings
from .http_errors import ApiError
from .state import ServiceState

bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="the value of SEMSEARCH_API_KEY")


# async: FastAPI runs a plain `def` dependency on its thread pool, one hand-off per request for an
# attribute read (BENCHMARKS.md, serving).
async def get_service(request: Request) -> ServiceState:
    return request.app.state.service


async def get_settings(request: Request) -> Settings:
    return request.app.state.service.settings


async def require_key(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer), settings: Settings = Depends(get_settings)
) -> None:
    """Writes need the configured key (compared in constant time); none configured: writes are off."""
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
