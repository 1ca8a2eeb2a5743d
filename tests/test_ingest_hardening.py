"""What a hostile or broken feed can make `index` and `watch` do: never stop the watcher, never fetch
internal addresses, never publish credentials, never lose what was fetched before a SIGTERM. A real
loopback site (tests/web_site.py), the real CLI and the real default model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from semsearch.ingest.fetcher import FetchConfig, Fetcher, FetchError, Validators, canonical_url, refused_address
from semsearch.ingest.watch import WatchState, state_path

from .conftest import run_cli
from .web_site import Site, article_page, rss, serve_site, stored_documents

LOOPBACK = {"SEMSEARCH_FETCH_ALLOW_PRIVATE": "true"}  # the test site is on 127.0.0.1: allowed explicitly
PORT = ["Le port de Marseille-Fos a accueilli 1,2 million de croisiéristes l'an dernier, un record depuis sa création."]
DOCKS = ["Les dockers du port de Marseille ont voté une grève de quarante-huit heures contre la réforme du temps de travail."]
TRAMS = ["Le tramway de Marseille sera prolongé de quatre kilomètres vers le nord de la ville d'ici à la fin de l'année 2026."]


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site() as site:
        yield site


def _feed(site: Site, name: str, pages: dict[str, list[str]]) -> str:
    items = []
    for path, text in pages.items():
        site.put(path, "text/html; charset=utf-8", article_page(f"Titre {path}", text, "2024-02-06"))
        items.append((path, f"Titre {path}", "Tue, 06 Feb 2024 07:00:00 GMT", "Résumé."))
    site.put(f"/{name}.xml", "application/rss+xml", rss(items, "Wed, 07 Feb 2024 10:00:00 GMT"))
    return f"{site.base}/{name}.xml"


def test_odd_validators_from_a_server_or_a_state_file_cost_one_full_fetch_not_the_watcher(tmp_path, site):
    odd = _feed(site, "odd", {"/port.html": PORT})
    plain = _feed(site, "plain", {"/docks.html": DOCKS})
    site.headers["/odd.xml"] = [("ETag", 'W/"caf\u00e9"'), ("Last-Modified", "mardi 6 f\u00e9vrier")]
    index_dir = tmp_path / "index"
    state_path(index_dir).parent.mkdir(parents=True, exist_ok=True)
    state_path(index_dir).write_text(json.dumps({"version": 1, "urls": {plain: {"etag": 5, "last_modified": ["x"]}, "x": 3}}))
    watch = ("watch", odd, plain, "--once", "--index-dir", str(index_dir), "--delay", "0")
    for _round in range(2):
        done = run_cli(*watch, env=LOOPBACK)
        assert "Traceback" not in done.stderr and "0 failed" in done.stderr, done.stderr
    assert {f"{site.base}/port.html", f"{site.base}/docks.html"} <= set(stored_documents(index_dir))
    saved = json.loads(state_path(index_dir).read_text())["urls"]
    assert all(v["etag"] is None or v["etag"].isascii() for v in saved.values())
    assert Validators("caf\u00e9", "ok").headers() == {"If-Modified-Since": "ok"}
    assert WatchState.load(state_path(index_dir)).validators  # readable, and read


def test_loopback_and_private_addresses_are_refused_unless_allowed(tmp_path, site):
    site.put("/page.html", "text/html; charset=utf-8", article_page("Port", PORT))
    refused = run_cli("index", f"{site.base}/page.html", "--index-dir", str(tmp_path / "a"), "--delay", "0", check=False)
    assert refused.returncode == 1 and "refused: 127.0.0.1 is at 127.0.0.1 (loopback)" in refused.stderr, refused.stderr
    assert "SEMSEARCH_FETCH_ALLOW_PRIVATE" in refused.stderr and site.requested["/page.html"] == 0
    run_cli("index", f"{site.base}/page.html", "--index-dir", str(tmp_path / "b"), "--delay", "0", env=LOOPBACK)
    assert site.requested["/page.html"] == 1
    for ip, why in (("10.1.2.3", "private"), ("169.254.169.254", "link-local"), ("::1", "loopback"), ("::ffff:192.168.0.1", "private"),
                    ("0.0.0.0", "reserved"), ("240.0.0.1", "reserved"), ("93.184.216.34", None), ("2002:7f00:1::1", "loopback, tunnelled"),
                    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private, tunnelled"), ("fec0::1", "private"), ("2002:5db8:d822::1", None)):
        assert refused_address(ip) == why, ip


def test_a_feed_on_an_allowed_host_cannot_reach_a_refused_one_by_link_or_redirect(tmp_path, site):
    # Two real servers: 127.0.0.2 plays the public feed host (allowed by the explicit list, as a feed
    # server you run would be), 127.0.0.1 (`site`) an internal one that must never be asked for anything.
    with serve_site("127.0.0.2") as public:
        public.put("/port.html", "text/html; charset=utf-8", article_page("Port", PORT))
        public.redirects["/go"] = f"{site.base}/secret.html"
        site.put("/secret.html", "text/html; charset=utf-8", article_page("Secret", DOCKS))
        items = [("/port.html", "Port", "Tue, 06 Feb 2024 07:00:00 GMT", "Résumé."), ("/go", "Go", "Tue, 06 Feb 2024 07:00:00 GMT", "Résumé.")]
        public.put("/feed.xml", "application/rss+xml", rss(items, "x").replace(
            b"</channel>", f"<item><title>Direct</title><link>{site.base}/secret.html</link></item></channel>".encode()))
        index_dir = tmp_path / "index"
        done = run_cli("index", f"{public.base}/feed.xml", "--index-dir", str(index_dir), "--delay", "0", "--json",
                       env={"SEMSEARCH_FETCH_ALLOW_ADDRESSES": "127.0.0.2"})
        failed = {f["origin"]: f["reason"] for f in json.loads(done.stdout)["failed"]}
        refusal = "refused: 127.0.0.1 is at 127.0.0.1 (loopback), not a public address"
        assert failed[f"{public.base}/go"].startswith(refusal) and failed[f"{site.base}/secret.html"].startswith(refusal), failed
        assert sum(site.requested.values()) == 0 and public.requested["/go"] == 1
        assert list(stored_documents(index_dir)) == [f"{public.base}/port.html"]
        # The same hop with the internal host on the list: the refusal above was the check, nothing else.
        with Fetcher(FetchConfig(delay=0, allow_addresses=("127.0.0.2", "127.0.0.0/8"))) as fetcher:
            assert fetcher.get(f"{public.base}/go").url == f"{site.base}/secret.html"
        with Fetcher(FetchConfig(delay=0)) as fetcher, pytest.raises(FetchError, match=r"^refused: localhost is at .*127\.0\.0\.1 \(loopback\)"):
            fetcher.get(site.base.replace("127.0.0.1", "localhost") + "/secret.html")
        assert sum(site.requested.values()) == 1


def test_a_typo_in_the_allowed_addresses_stops_the_command_with_the_value_named(tmp_path):
    done = run_cli("index", "http://news.example/a.html", "--index-dir", str(tmp_path / "i"), check=False,
                   env={"SEMSEARCH_FETCH_ALLOW_ADDRESSES": "10.0.0.0/8, 192.168.1.300"})
    assert done.returncode != 0 and "'192.168.1.300' is not an IP address or network" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_credentials_in_a_link_never_become_the_document_id(tmp_path, site):
    assert canonical_url("http://user:s3cret@news.example:8080/a?b=1#c") == "http://news.example:8080/a?b=1"
    site.put("/port.html", "text/html; charset=utf-8", article_page("Port", PORT))
    host = site.base.removeprefix("http://")
    site.put("/feed.xml", "application/rss+xml", rss([], "x").replace(
        b"</channel>", f"<item><title>Port</title><link>http://user:s3cret@{host}/port.html</link></item></channel>".encode()))
    index_dir = tmp_path / "index"
    # The operator's own credentials for a private feed are sent to it; the feed's item link's are not.
    done = run_cli("watch", f"http://reader:m1ne@{host}/feed.xml", "--once", "--index-dir", str(index_dir), "--delay", "0", env=LOOPBACK)
    assert site.authorizations["/feed.xml"] == "Basic cmVhZGVyOm0xbmU=" and site.authorizations["/port.html"] is None
    docs = stored_documents(index_dir)
    assert list(docs) == [f"{site.base}/port.html"] and "s3cret" not in json.dumps(docs)
    saved = state_path(index_dir).read_text()
    assert f"{site.base}/feed.xml" in saved and "m1ne" not in saved + done.stderr and "s3cret" not in saved + done.stderr


def test_sigterm_mid_round_commits_what_was_fetched_and_the_next_round_fetches_the_rest(tmp_path, site):
    feed = _feed(site, "feed", {"/port.html": PORT, "/docks.html": DOCKS, "/trams.html": TRAMS})
    site.delays["/docks.html"] = 5.0  # the round is still fetching this one when the signal comes
    index_dir = tmp_path / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")} | LOOPBACK
    exe = shutil.which("semsearch", path=str(Path(sys.executable).parent))
    cmd = [exe, "watch", feed, "--every", "1h", "--index-dir", str(index_dir), "--delay", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while site.requested["/docks.html"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert site.full["/port.html"] == 1
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert f"{site.base}/port.html" in stored_documents(index_dir), err  # fetched before the signal: written
    site.delays.clear()
    run_cli("watch", feed, "--once", "--index-dir", str(index_dir), "--delay", "0", env=LOOPBACK)
    assert {f"{site.base}/{p}.html" for p in ("port", "docks", "trams")} <= set(stored_documents(index_dir))


def test_a_page_that_makes_the_extractor_throw_costs_that_item_only(site, monkeypatch):
    # The crash is faked (no real page is known to crash trafilatura today); the feed, pages and fetching are real.
    from semsearch.documents import ReadBatch
    from semsearch.ingest import web

    feed = _feed(site, "feed", {"/port.html": PORT, "/docks.html": DOCKS})
    real = web.extract_article

    def extract(html, url):
        if "port" in url:
            raise RecursionError("too deep")
        return real(html, url)

    monkeypatch.setattr(web, "extract_article", extract)
    batch = ReadBatch()
    with Fetcher(FetchConfig(delay=0, allow_private=True)) as fetcher:
        reader = web.WebReader(fetcher)
        reader.read_url(feed, batch)
        monkeypatch.setattr(web, "parse_feed", lambda data, base: {}["no such key"])
        site.put("/plain.xml", "application/rss+xml", rss([], "x"))
        reader.read_url(f"{site.base}/plain.xml", batch)  # a feed whose parser throws: reported, not raised
    assert [d.doc_id for d in batch.documents] == [f"{site.base}/docks.html"]
    assert [(p.origin, p.reason) for p in batch.problems] == [
        (f"{site.base}/port.html", "could not be extracted (RecursionError: too deep)"),
        (f"{site.base}/plain.xml", "could not be read (KeyError: 'no such key')"),
    ]
