"""Hostile input: every request below is answered with a 4xx in bounded time and memory, and writes
nothing (the live commit and the document count do not change). SQL takes values only as bound
parameters; the write key is compared in constant time and never appears in a log or a response."""

from __future__ import annotations

import ast
import contextlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import semsearch
from semsearch.service import dependencies
from semsearch.store.layout import IndexDirectory

from .service_helpers import API_KEY, AUTH, SEED_IDS, Server, client_for, server_errors

PACKAGE = Path(semsearch.__file__).parent
MAX_SECONDS = 5.0  # per hostile request, on a loaded 2-core machine
MAX_RSS_GROWTH_MB = 300
JSON = {"Content-Type": "application/json"}
TEXT = "Un texte assez long pour faire un passage de test sur la foire aux livres."


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measured(call):
    """(response, seconds, peak RSS growth in MB) of one request, sampling RSS while it runs."""
    base, peak, done = rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb() - base)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        response = call()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return response, seconds, max(peak[0], rss_mb() - base)


@pytest.fixture(scope="module")
def hostile(seed_index_master, embedder, tmp_path_factory):
    copy = tmp_path_factory.mktemp("hostile") / "index"
    shutil.copytree(seed_index_master, copy)
    with client_for(copy, embedder) as client:
        client.index_dir = copy
        yield client
        assert server_errors(client) == []


@contextlib.contextmanager
def nothing_written(client):
    layout = IndexDirectory(client.index_dir)
    before = (layout.generation(), client.get("/stats").json()["documents"], sorted(p.name for p in layout.segments.rglob("*")))
    yield
    after = (layout.generation(), client.get("/stats").json()["documents"], sorted(p.name for p in layout.segments.rglob("*")))
    assert after == before
    assert not any(p.name.startswith(".tmp-") for p in client.index_dir.iterdir())


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def streamed(total: int):
    yield b'{"documents": [{"id": "big", "text": "'
    for _ in range(total // 65536):
        yield b"a" * 65536
    yield b'"}]}'


ELEVEN_MB = 11 * 1024 * 1024
DOC0_ID = "documents.0.id"
HOSTILE = {
    # name: (method, path, keyword arguments, expected status, field or None)
    "oversized body (Content-Length)": ("POST", "/documents", {"content": b"x" * ELEVEN_MB, "headers": {**JSON, **AUTH}}, 413, "body"),
    "oversized body (streamed, no length)": ("POST", "/documents", {"content": "stream", "headers": {**JSON, **AUTH}}, 413, "body"),
    "oversized query (GET)": ("GET", "/search", {"params": {"q": "mot " * 2000}}, 422, "q"),
    "oversized query (POST, 1 MB)": ("POST", "/search", {"json": {"query": "x" * 1_000_000}}, 413, "body"),
    "oversized query (POST, 2,000 escaped characters)": ("POST", "/search", {"json": {"query": "é" * 2_000}}, 422, "query"),
    "100k nested [ on /search": ("POST", "/search", {"content": b"[" * 100_000, "headers": JSON}, 413, "body"),
    "30k nested [ on /search": ("POST", "/search", {"content": b"[" * 30_000, "headers": JSON}, 400, "body"),
    "100k nested [ ] on /documents": ("POST", "/documents", {"content": nested(100_000), "headers": {**JSON, **AUTH}}, 400, "body"),
    "nested documents 900 deep": (
        "POST", "/documents", {"content": b'{"documents": ' + nested(900) + b"}", "headers": {**JSON, **AUTH}}, 422, "documents.0",
    ),
    "5000-digit integer": ("POST", "/search", {"content": b'{"query": "x", "k": ' + b"9" * 5000 + b"}", "headers": JSON}, 400, "body"),
    "invalid UTF-8 on /documents": (
        "POST", "/documents", {"content": b'{"documents": [{"id": "a", "text": "caf\xe9 cr\xe8me"}]}', "headers": {**JSON, **AUTH}}, 400, "body",
    ),
    "lone surrogate on /documents": (
        "POST", "/documents", {"content": b'{"documents": [{"id": "a", "text": "x\\udc80y"}]}', "headers": {**JSON, **AUTH}}, 400, "body",
    ),
    "NUL in the query": ("GET", "/search", {"params": {"q": "Irak\x00soldats"}}, 422, "q"),
    "escape sequence in the query": ("POST", "/search", {"json": {"query": "\x1b[31mIrak\x07"}}, 422, "query"),
    "NUL in an id (body)": ("POST", "/documents", {"json": {"documents": [{"id": "a\x00b", "text": TEXT}]}, "headers": AUTH}, 422, DOC0_ID),
    "control character in an id (body)": (
        "POST", "/documents", {"json": {"documents": [{"id": "a\x1bb", "text": TEXT}]}, "headers": AUTH}, 422, "documents.0.id",
    ),
    "NUL in an id (path)": ("GET", "/documents/a%00b", {}, 422, "doc_id"),
    "NUL in an id (delete)": ("DELETE", "/documents/a%00b", {"headers": AUTH}, 422, "doc_id"),
    "../ in an id (body)": (
        "POST", "/documents", {"json": {"documents": [{"id": "../../etc/passwd", "text": TEXT}]}, "headers": AUTH}, 422, "documents.0.id",
    ),
    "../ in an id (encoded path)": ("GET", "/documents/..%2F..%2Fetc%2Fpasswd", {}, 422, "doc_id"),
    "../ in an id (delete)": ("DELETE", "/documents/a%2F..%2F..%2Fb", {"headers": AUTH}, 422, "doc_id"),
    "10,000 documents in one request": (
        "POST", "/documents", {"json": {"documents": [{"id": f"many/{i}", "text": TEXT} for i in range(10_000)]}, "headers": AUTH},
        413, "documents",
    ),
    "text made only of zero-width characters": (
        "POST", "/documents", {"json": {"documents": [{"id": "zw", "text": "\u200b\u200c\u200d\ufeff" * 50}]}, "headers": AUTH},
        422, "documents.0.text",
    ),
    "a zero-width character in an id": (
        "POST", "/documents", {"json": {"documents": [{"id": "seed\u200b1", "text": TEXT}]}, "headers": AUTH}, 422, DOC0_ID,
    ),
    "a bidirectional override in an id": (
        "POST", "/documents", {"json": {"documents": [{"id": "abc\u202edcba", "text": TEXT}]}, "headers": AUTH}, 422, DOC0_ID,
    ),
    "a 600-character id": ("POST", "/documents", {"json": {"documents": [{"id": "x" * 600, "text": TEXT}]}, "headers": AUTH}, 422, DOC0_ID),
    "a write with a wrong key": (
        "POST", "/documents", {"json": {"documents": [{"id": "w", "text": TEXT}]}, "headers": {"Authorization": "Bearer no"}},
        401, "authorization",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_request_is_a_4xx_in_bounded_time_and_memory_and_writes_nothing(hostile, name):
    method, path, kwargs, status, field = HOSTILE[name]
    if kwargs.get("content") == "stream":
        kwargs = {**kwargs, "content": streamed(ELEVEN_MB)}
    with nothing_written(hostile):
        response, seconds, growth = measured(lambda: hostile.request(method, path, **kwargs))
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert error["field"] == field and error["message"]
    assert "Traceback" not in response.text
    assert seconds < MAX_SECONDS, f"{name}: {seconds:.2f} s"
    assert growth < MAX_RSS_GROWTH_MB, f"{name}: RSS grew {growth:.0f} MB"
    print(f"\n{name}: {response.status_code} in {seconds * 1000:.0f} ms, RSS +{growth:.0f} MB")


def test_control_characters_in_document_text_and_fields_are_replaced_not_stored(hostile):
    text = "Le conseil\x00 municipal\x07 a voté le budget des écoles de la commune."
    doc = {"id": "controls/1.txt", "title": "Titre\x00 cach\x1bé", "text": text}
    response = hostile.post("/documents", json={"documents": [doc]}, headers=AUTH)
    assert response.status_code == 200, response.text
    stored = hostile.get("/documents/controls/1.txt").json()
    assert stored["text"] == "Le conseil municipal a voté le budget des écoles de la commune."  # whole, not cut at the NUL
    assert not any(c in stored["title"] + stored["text"] for c in "\x00\x07\x1b") and stored["title"].startswith("Titre")
    assert all(p["text"] for p in stored["passages"])
    assert hostile.delete("/documents/controls/1.txt", headers=AUTH).status_code == 200


SQL_IDS = [
    "x'); DROP TABLE documents;--",
    "'; DELETE FROM passages WHERE '1'='1",
    "%' OR doc_id LIKE '%",
    "Robert'); DROP TABLE passages;--/chapitre \"2\".txt",
]


def test_sql_shaped_ids_round_trip_as_plain_strings(hostile):
    docs = [{"id": doc_id, "text": f"{TEXT} Numéro {i}."} for i, doc_id in enumerate(SQL_IDS)]
    response = hostile.post("/documents", json={"documents": docs}, headers=AUTH)
    assert response.status_code == 200 and response.json()["added"] == len(SQL_IDS), response.text
    for doc_id in SQL_IDS:
        got = hostile.get(f"/documents/{doc_id}")
        assert got.status_code == 200 and got.json()["doc_id"] == doc_id, (doc_id, got.text)
    assert hostile.get("/stats").json()["documents"] == len(SEED_IDS) + len(SQL_IDS)
    assert hostile.get("/search", params={"q": "foire aux livres", "k": 20}).status_code == 200
    for doc_id in SQL_IDS:
        assert hostile.delete(f"/documents/{doc_id}", headers=AUTH).json()["deleted"] == 1
    assert hostile.get("/stats").json()["documents"] == len(SEED_IDS)
    for seed in SEED_IDS:
        assert hostile.get(f"/documents/{seed}").status_code == 200


def _sql_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"execute", "executemany", "executescript"}:
            if node.args:
                yield node


def _passed_through(tree: ast.AST, call: ast.Call) -> list[ast.expr] | None:
    """When `call`'s SQL is a parameter of the function it runs in (a small read helper), what every call of
    that function in the module passes for it; None otherwise."""
    sql = call.args[0]
    if not isinstance(sql, ast.Name):
        return None
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef) and any(node is call for node in ast.walk(func)):
            params = [a.arg for a in func.args.args]
            if sql.id not in params:
                return None
            position = params.index(sql.id) - (params[:1] == ["self"])
            return [
                node.args[position] for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == func.name
            ]
    return None


def test_sql_is_built_only_from_constants_with_values_bound():
    """Every SQL string in the package is a literal, a module constant, or an f-string of those and of
    `marks` (a run of '?'), or a helper's parameter that every caller passes as a literal; values always
    travel as bound parameters."""
    allowed_names = {"_PASSAGE_SELECT", "marks", "SCHEMA"}
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for call in _sql_calls(tree):
            sql = call.args[0]
            checked += 1
            where = f"{path.relative_to(PACKAGE)}:{call.lineno}"
            if isinstance(sql, ast.Constant):
                continue
            if isinstance(sql, ast.Name) and any(  # a module constant
                isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and any(isinstance(t, ast.Name) and t.id == sql.id for t in node.targets)
                for node in tree.body
            ):
                continue
            passed = _passed_through(tree, call)
            if passed is not None:
                assert passed and all(isinstance(arg, ast.Constant) for arg in passed), f"{where}: SQL passed in that is not a literal"
                continue
            if isinstance(sql, ast.Attribute) and sql.attr == "SCHEMA":
                continue
            assert isinstance(sql, ast.JoinedStr), f"{where}: SQL built with {type(sql).__name__}"
            for part in sql.values:
                if isinstance(part, ast.FormattedValue):
                    value = part.value
                    constant = isinstance(value, ast.Attribute) and value.attr.lstrip("_").isupper()  # a class's column list
                    constant = constant or ast.unparse(value).replace('"', "'").startswith("','.join('?' * ")  # bound marks
                    assert constant or isinstance(value, ast.Name) and value.id in allowed_names, f"{where}: {ast.unparse(value)} in SQL"
    assert checked >= 10
    source = (PACKAGE / "store" / "database.py").read_text()
    assert 'marks = ",".join("?" * len(vids))' in source


def test_the_write_key_is_compared_with_hmac_compare_digest(hostile, monkeypatch):
    calls = []
    original = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(dependencies.hmac, "compare_digest", spy)
    assert hostile.post("/documents", json={"documents": []}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert hostile.post("/documents", json={"documents": []}, headers=AUTH).status_code == 422  # past the key check
    assert calls == [(b"wrong", API_KEY.encode()), (API_KEY.encode(), API_KEY.encode())]
    # ...and nowhere else is the key read or compared.
    uses = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "get_secret_value()" in p.read_text())
    assert uses == ["service/dependencies.py", "settings.py"]
    assert (PACKAGE / "settings.py").read_text().count("get_secret_value()") == 1  # a blank key counts as no key
    source = (PACKAGE / "service" / "dependencies.py").read_text()
    assert source.count("get_secret_value()") == 1
    assert "hmac.compare_digest(given, key.get_secret_value().encode())" in source


def test_ids_are_never_file_paths(hostile, tmp_path):
    """Ids that look like paths are stored as strings: no file appears anywhere they point to."""
    marker = uuid.uuid4().hex
    ids = [f"/tmp/pwned-{marker}", f"C:\\Windows\\pwned-{marker}", f"~/pwned-{marker}", f"{tmp_path}/pwned-{marker}"]
    response = hostile.post("/documents", json={"documents": [{"id": i, "text": TEXT} for i in ids]}, headers=AUTH)
    assert response.status_code == 200 and response.json()["added"] == len(ids)
    for root in (Path("/tmp"), tmp_path, Path.home(), hostile.index_dir):
        assert not [p for p in root.rglob(f"*pwned-{marker}*")], root
    for doc_id in ids:
        assert hostile.get(f"/documents/{doc_id}").json()["doc_id"] == doc_id


# -- a real server: HTTP-level limits and what reaches the log ----------------------------------------


def raw_reply(port: int, request: bytes) -> bytes:
    """What a raw HTTP request gets (what no well-behaved client library would send)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close before reading it all
            sock.sendall(request)
        return sock.recv(4096)


def raw_status(port: int, request: bytes) -> int:
    reply = raw_reply(port, request)
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_real_server_refuses_huge_urls_and_headers_and_never_logs_or_echoes_the_key(seed_index, tmp_path):
    server = Server(seed_index, tmp_path, tmp_path / "serve.log")
    try:
        server.wait_ready()
        pid = server.proc.pid
        # A first write loads what writes use (the entity model, the stories): that is not what this test bounds.
        warm = server.client.post("/documents", json={"documents": [{"id": "warm.txt", "text": TEXT}]}, headers=AUTH)
        assert warm.status_code == 200 and server.client.delete("/documents/warm.txt", headers=AUTH).status_code == 200
        rss_before = rss_mb(pid)
        started = time.perf_counter()
        huge_url = raw_status(server.port, b"GET /search?q=" + b"x" * 200_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        huge_header = raw_status(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: " + b"y" * 200_000 + b"\r\n\r\n")
        garbage = raw_status(server.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200) + b"\r\n\r\n")
        assert all(400 <= status < 500 for status in (huge_url, huge_header, garbage)), (huge_url, huge_header, garbage)
        print(f"\nraw HTTP: 200 KB URL -> {huge_url}, 200 KB header -> {huge_header}, TLS hello on plain HTTP -> {garbage}")
        just_over = raw_reply(server.port, b"GET /search?q=" + b"x" * 66_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert just_over.startswith(b"HTTP/1.1 414 ") and b"application/json" in just_over, just_over[:300]
        assert json.loads(just_over.split(b"\r\n\r\n", 1)[1])["error"]["field"] == "url"
        # A write announcing 9 MB without the key is refused before one byte of its body is read: the answer
        # comes back although the body is never sent (the socket would time out otherwise).
        unread = raw_status(server.port, b"POST /documents HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 9000000\r\n\r\n")
        assert unread == 401
        search_unread = raw_status(server.port, b"POST /search HTTP/1.1\r\nHost: t\r\nContent-Length: 9000000\r\n\r\n")
        assert search_unread == 413  # no key needed, so no more than a search's worth of body
        for path in ("/", "/healthz", "/search?q=Irak"):
            head, get = server.client.head(path), server.client.get(path)
            assert head.status_code == 200 and head.content == b"", path
            assert head.headers["content-type"] == get.headers["content-type"], path
        long_query = server.client.get("/search", params={"q": "x" * 30_000})
        assert long_query.status_code == 422 and long_query.json()["error"]["field"] == "q"
        assert time.perf_counter() - started < 3 * MAX_SECONDS
        assert server.client.get("/healthz").status_code == 200

        guesses = [f"Bearer {API_KEY[:-1]}", f"Bearer {API_KEY}{API_KEY}", "Bearer " + "k" * 10_000, API_KEY, f"Basic {API_KEY}"]
        bodies = []
        for value in guesses:
            response = server.client.post("/documents", json={"documents": [{"id": "k.txt", "text": TEXT}]}, headers={"Authorization": value})
            assert response.status_code == 401, response.text
            bodies.append(response.text + json.dumps(dict(response.headers)))
        good = server.client.post("/documents", json={"documents": [{"id": "k.txt", "text": TEXT}]}, headers=AUTH)
        assert good.status_code == 200
        bodies.append(good.text + json.dumps(dict(good.headers)))
        bad_delete = server.client.delete("/documents/k.txt", headers={"Authorization": f"Bearer {API_KEY}x"})
        bodies.append(bad_delete.text)
        assert server.client.delete("/documents/k.txt", headers=AUTH).status_code == 200
        assert all(API_KEY not in body for body in bodies)
        assert server.proc.poll() is None and rss_mb(pid) - rss_before < MAX_RSS_GROWTH_MB
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert '"status": 401' in log and '"status": 200' in log
    assert API_KEY not in log and API_KEY[:-1] not in log and "k" * 100 not in log
    assert os.environ.get("SEMSEARCH_API_KEY") != API_KEY


def test_a_key_with_spaces_around_it_stops_serve_at_start_with_the_reason(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    env["SEMSEARCH_API_KEY"] = f"{API_KEY}\n"
    exe = Path(sys.executable).parent / "semsearch"
    done = subprocess.run([str(exe), "serve", "--index-dir", str(tmp_path / "index")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "api_key" in done.stderr and "spaces or line breaks around it" in done.stderr and API_KEY not in done.stderr
