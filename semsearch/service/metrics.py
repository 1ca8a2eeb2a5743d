"""Prometheus metrics of one app, in its own registry (several apps may live in one process)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..embedding import Embedder
from ..embedding.base import LatentTerms

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "TimedEmbedder"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "semsearch_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "semsearch_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.embed_seconds = Histogram(
            "semsearch_embed_duration_seconds",
            "Time of one model call (a query, or a batch of passages)",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.documents = Gauge("semsearch_index_documents", "Documents in the live commit", registry=self.registry)
        self.passages = Gauge("semsearch_index_passages", "Passages in the live commit", registry=self.registry)
        self.segments = Gauge("semsearch_index_segments", "Segments of the live commit", registry=self.registry)
        self.deleted = Gauge("semsearch_index_deleted_passages", "Deleted passages not yet purged by a merge", registry=self.registry)
        self.ready = Gauge("semsearch_ready", "1 when a commit is loaded", registry=self.registry)
        self.swaps = Counter("semsearch_snapshot_swaps", "Readers of new commits swapped in", registry=self.registry)
        self.writes = Counter("semsearch_writes", "Write requests applied to the index", ["kind"], registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class TimedEmbedder(Embedder):
    """An embedder that times each model call into the metrics; everything else is delegated."""

    def __init__(self, inner: Embedder, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.spec = inner.spec
        self.dim = inner.dim
        self.max_tokens = getattr(inner, "max_tokens", 512)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed_passages(texts)
        finally:
            self.metrics.embed_seconds.labels("passages").observe(time.perf_counter() - started)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed_queries(texts)
        finally:
            self.metrics.embed_seconds.labels("query").observe(time.perf_counter() - started)

    def submit_queries(self, texts: Sequence[str]) -> Future:
        started = time.perf_counter()
        future = self.inner.submit_queries(texts)
        future.add_done_callback(lambda _: self.metrics.embed_seconds.labels("query").observe(time.perf_counter() - started))
        return future

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def latent_terms(self, texts: Sequence[str]) -> list[LatentTerms] | None:
        started = time.perf_counter()
        try:
            return self.inner.latent_terms(texts)
        finally:
            self.metrics.embed_seconds.labels("latent").observe(time.perf_counter() - started)

    def __getattr__(self, name: str):
        # Only reached for attributes this proxy does not define (backend extras).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
