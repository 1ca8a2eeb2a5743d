"""Property-based fuzzing from /openapi.json with schemathesis, against a real `semsearch serve` on a
loopback port over a copy of the seed index, with and without the write key: no 5xx on any endpoint,
every status code declared, every response body matching its declared schema.

Bounded: MAX_EXAMPLES generated cases per operation and mode (positive and negative data), plus
schemathesis' explicit examples and coverage cases; a per-case deadline.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from semsearch.service.app import create_app

from .service_helpers import AUTH, Server, make_settings

MAX_EXAMPLES = 25
DEADLINE_MS = 20_000  # one case, on a loaded 2-core machine (a write embeds and fsyncs a commit)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance]
# Not run: positive_data_acceptance (the API validates more than a JSON schema can say: dates, language
# codes, blank queries) and negative_data_rejection (POST /documents takes each document on its own and
# reports bad ones in `failed`, by design).

SENT: Counter[str] = Counter()
LIVE: list[Server] = []  # schemathesis' generated tests take no fixtures but `case`: the server is found here


FIVE_HUNDREDS = re.compile(r'^semsearch_http_requests_total\{(?P<labels>[^}]*status="5\d\d"[^}]*)\} (?P<n>\S+)$', re.M)


def server_errors(server: Server) -> Counter[str]:
    """5xx answers so far, by route and status, from the server's own /metrics."""
    return Counter({m["labels"]: float(m["n"]) for m in FIVE_HUNDREDS.finditer(server.client.get("/metrics").text)})


@pytest.fixture(scope="module")
def live(seed_index_master, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(seed_index_master, root / "index")
    server = Server(root / "index", root, root / "serve.log")
    try:
        server.wait_ready()
        before = server_errors(server)  # /readyz said 503 while the model loaded
        LIVE[:] = [server]
        yield server
        after = server_errors(server)
    finally:
        server.stop()
    print(f"\nfuzz: {sum(SENT.values())} requests by status: {dict(sorted(SENT.items()))}")
    assert after == before, f"5xx answers during fuzzing: {after - before}"
    assert "Traceback" not in server.log_path.read_text()


def _spec() -> dict:
    """The OpenAPI document of the app, built without starting it (the live server's is checked equal)."""
    with tempfile.TemporaryDirectory() as scratch:
        return create_app(make_settings(Path(scratch) / "index")).openapi()


SPEC = _spec()
schema = schemathesis.openapi.from_dict(SPEC)


def test_the_live_server_publishes_the_schema_being_fuzzed(live):
    assert live.client.get("/openapi.json").json() == json.loads(json.dumps(SPEC))
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE_MS,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    print_blob=True,
)


@pytest.mark.usefixtures("live")
@schema.parametrize()
@SETTINGS
def test_fuzz_without_the_write_key(case):
    response = case.call_and_validate(base_url=LIVE[0].base, checks=CHECKS, timeout=60)
    SENT[f"no key {response.status_code}"] += 1
    if case.method.upper() in ("POST", "DELETE") and case.path.startswith("/documents"):
        assert response.status_code in (400, 401, 405, 413, 422), response.text


@pytest.mark.usefixtures("live")
@schema.parametrize()
@SETTINGS
def test_fuzz_with_the_write_key(case):
    response = case.call_and_validate(base_url=LIVE[0].base, checks=CHECKS, headers=AUTH, timeout=60)
    SENT[f"key {response.status_code}"] += 1
