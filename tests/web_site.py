"""A loopback web site for the tests: pages and feeds served by http.server on 127.0.0.1 (an
ephemeral port), with ETag / Last-Modified, counting what it answers in full and what 304."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from semsearch.store.database import DB_NAME
from semsearch.store.reader import open_index


def article_page(title: str | None, paragraphs: list[str], date: str | None = None) -> bytes:
    """A small news page with a menu, a share bar and comments around the article."""
    head = f"<title>{title} – La Voix du Port</title><meta property='og:site_name' content='La Voix du Port'>" if title else ""
    if date:
        head += f"<meta property='article:published_time' content='{date}T08:00:00+01:00'>"
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'>{head}</head><body>"
        "<nav class='menu'><a href='/'>Accueil</a> <a href='/port'>Le port</a> <a href='/sport'>Sport</a></nav>"
        f"<main><article>{f'<h1>{title}</h1>' if title else ''}"
        "<ul class='share-bar'><li><a href='#'>Partager sur Facebook</a></li></ul>"
        f"<div class='article-body'>{body}</div></article>"
        "<section id='comments' class='comments'><h2>Commentaires</h2><div class='comment'><p>Toto13 : "
        "Encore un article sur le port, on en parle chaque semaine dans ce journal.</p></div></section></main>"
        "<footer>© La Voix du Port – Mentions légales</footer></body></html>"
    ).encode()


def rss(items: list[tuple[str, str, str, str]], build: str) -> bytes:
    """An RSS 2.0 feed of (path, title, RFC 822 date, summary) items; `build` changes its bytes."""
    entries = "".join(
        f"<item><title>{title}</title><link>{{base}}{path}</link><guid>{{base}}{path}</guid>"
        f"<pubDate>{date}</pubDate><description>{summary}</description></item>"
        for path, title, date, summary in items
    )
    return (
        "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>La Voix du Port</title>"
        f"<link>{{base}}/</link><description>Actualités du port</description><lastBuildDate>{build}</lastBuildDate>"
        f"{entries}</channel></rss>"
    ).encode()


@dataclass
class Site:
    """What the loopback server serves, and what it answered (path -> count)."""

    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (Content-Type, body)
    full: Counter = field(default_factory=Counter)
    not_modified: Counter = field(default_factory=Counter)
    user_agents: set[str] = field(default_factory=set)
    authorizations: dict[str, str | None] = field(default_factory=dict)  # path -> the last Authorization header
    base: str = ""
    headers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # path -> extra response headers
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location (302)
    delays: dict[str, float] = field(default_factory=dict)  # path -> seconds before answering
    requested: Counter = field(default_factory=Counter)  # every GET, answered or not yet

    def put(self, path: str, content_type: str, body: bytes) -> None:
        self.pages[path] = (content_type, body.replace(b"{base}", self.base.encode()))


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            site.user_agents.add(self.headers.get("User-Agent", ""))
            site.authorizations[self.path] = self.headers.get("Authorization")
            site.requested[self.path] += 1
            time.sleep(site.delays.get(self.path, 0))
            if self.path in site.redirects:
                self.send_response(302)
                self.send_header("Location", site.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/slow.html":
                time.sleep(2)  # past the client's --timeout
            if self.path == "/loop.html":
                self.send_response(302)
                self.send_header("Location", "/loop.html")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path not in site.pages:
                self.send_error(404, "Not Found")
                return
            content_type, body = site.pages[self.path]
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            modified = formatdate(1_700_000_000 + len(body), usegmt=True)  # changes with the content here
            if self.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == modified
            ):
                site.not_modified[self.path] += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            site.full[self.path] += 1
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            for name, value in site.headers.get(self.path, []):
                self.send_header(name, value)  # latin-1 on the wire: a non-ASCII ETag is one byte
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextlib.contextmanager
def serve_site(host: str = "127.0.0.1") -> Iterator[Site]:
    """A threaded http.server on `host` (a loopback address: all of 127.0.0.0/8 is), an ephemeral port,
    serving a Site until the block ends."""
    site = Site()
    server = ThreadingHTTPServer((host, 0), _handler(site))
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # the client hanging up on /slow.html is expected
    site.base = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)




def stored_documents(index_dir: Path) -> dict[str, dict]:
    """doc_id -> the row the live commit stores, with `passages`: the text of each passage."""
    reader = open_index(index_dir)
    docs: dict[str, dict] = {}
    try:
        for segment in reader.segments:
            conn = sqlite3.connect(segment.path / DB_NAME)
            conn.row_factory = sqlite3.Row
            try:
                for row in conn.execute("SELECT * FROM documents"):
                    spans = conn.execute("SELECT vid, start, end FROM passages WHERE doc_id = ? ORDER BY ordinal", (row["doc_id"],)).fetchall()
                    if spans and reader.rows_of([spans[0]["vid"]])[0] >= 0:  # live, not tombstoned
                        docs[row["doc_id"]] = dict(row) | {"passages": [row["text"][p["start"]:p["end"]] for p in spans]}
            finally:
                conn.close()
    finally:
        reader.close()
    return docs
