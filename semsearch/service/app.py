"""The HTTP service: `create_app(settings)` builds a FastAPI app over one index directory.

The routes are in `routes/` (one module per resource), the error shape and handlers in
`http_errors`, request ids, logs, metrics and body limits in `middleware`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from .. import __version__
from ..embedding import Embedder
from ..settings import Settings
from .http_errors import REQUEST_ID_HEADER, install_error_handlers
from .inline import InlineSearches
from .metrics import Metrics
from .middleware import BodyLimitMiddleware, HeadMiddleware, RequestContextMiddleware, write_routes
from .routes import admin, alerts, documents, operations, search, similar, stories
from .state import ServiceBase, ServiceState
from .web import install_web_page


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    make_state: Callable[[Settings, Metrics], ServiceBase[Any, Any]] | None = None,
) -> FastAPI:
    """A FastAPI app over `settings.index_dir`. The live commit loads (or `settings.corpus` is indexed
    into an empty index) in the background when the app starts; /readyz answers 503 until then.
    Pass `embedder` to share an already loaded model, `make_state` to serve another ServiceBase
    (the sharded one of `semsearch serve --ray`) behind the same routes and page."""
    settings = settings or Settings()
    metrics = Metrics()
    service = make_state(settings, metrics) if make_state is not None else ServiceState(settings, metrics, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start(settings.corpus)
        yield
        service.stop()

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
    app.state.inline_searches = InlineSearches()
    install_error_handlers(app)
    # similar before documents: /documents/{id}/similar
    routers = [routes.router for routes in (search, similar, documents, operations, admin, alerts, stories)]
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, writes=write_routes(routers))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(HeadMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    for router in routers:
        app.include_router(router)
    install_web_page(app)  # GET / (the search page) and /static
    return app
