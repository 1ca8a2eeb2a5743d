"""Helpers shared by the HTTP service tests: an app over an index, with the session's real model."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from semsearch.embedding.base import DEFAULT_MODEL
from semsearch.service.app import create_app
from semsearch.settings import Settings

from .conftest import SEEDS

API_KEY = "test-key-5f2b9c"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SOLDIERS = re.compile(r"2[\s\u00a0.]?500")
SEED_IDS = frozenset(p.name for p in SEEDS.iterdir() if p.suffix == ".txt")


def make_settings(index_dir: Path, **overrides) -> Settings:
    """Settings that ignore SEMSEARCH_* variables of the environment for the fields tests care about."""
    values = {"index_dir": index_dir, "api_key": API_KEY, "cors_origins": [], "corpus": None, "model": DEFAULT_MODEL}
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def client_for(index_dir: Path, embedder, wait: bool = True, **overrides) -> Iterator[TestClient]:
    app = create_app(make_settings(index_dir, **overrides), embedder=embedder)
    with TestClient(app) as client:
        if wait:
            assert app.state.service.wait_ready(120), app.state.service.phase
        yield client


def server_errors(client: TestClient) -> list[str]:
    """Requests this app answered with a 5xx other than 503 (not ready), from its own metrics."""
    found = []
    for metric in client.app.state.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "semsearch_http_requests_total" and sample.labels["status"].startswith("5") and sample.value:
                if sample.labels["status"] != "503":
                    found.append(f"{sample.labels} x{sample.value}")
    return found
