"""Feeds and pages over HTTP: a loopback server (127.0.0.1, an ephemeral port) serves an RSS feed
and its article pages, counting what it answers in full and what it answers 304."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from semsearch.ingest.fetcher import FetchConfig, Fetcher, FetchError, Validators
from semsearch.ingest.watch import WatchState, parse_duration, state_path

from .conftest import run_cli as run_cli_as_is
from .web_site import Site, article_page, rss, serve_site, stored_documents

LOOPBACK = {"SEMSEARCH_FETCH_ALLOW_PRIVATE": "true"}  # the test site is on 127.0.0.1: allowed explicitly


def run_cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return run_cli_as_is(*args, env={**LOOPBACK, **(env or {})}, **kwargs)


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site() as site:
        yield site


HARBOUR = [
    "Le port de Marseille-Fos a accueilli 1,2 million de croisiéristes l'an dernier, un record depuis sa création, selon le bilan publié mardi.",
    "La direction du port prévoit d'électrifier trois nouveaux quais d'ici à 2025 pour réduire la pollution des navires à l'escale.",
]
STRIKE = [
    "Les dockers du port de Marseille ont voté une grève de quarante-huit heures contre la réforme du temps de travail dans les terminaux.",
    "Le trafic des conteneurs devrait être fortement perturbé jeudi et vendredi, prévient l'union maritime et fluviale.",
]


def publish_feed(site: Site, strike: list[str], build: str) -> None:
    site.put("/harbour.html", "text/html; charset=utf-8", article_page("Record de croisiéristes à Marseille", HARBOUR, "2024-02-06"))
    # No title nor date in this page: the feed item's fill them in.
    site.put("/strike.html", "text/html; charset=utf-8", article_page(None, strike))
    site.put(
        "/feed.xml",
        "application/rss+xml",
        rss(
            [
                ("/harbour.html", "Record de croisiéristes à Marseille", "Tue, 06 Feb 2024 07:00:00 GMT", "Un record de croisiéristes."),
                ("/strike.html", "Grève des dockers à Marseille", "Wed, 07 Feb 2024 09:30:00 GMT", "Les dockers en grève."),
            ],
            build,
        ),
    )


def test_index_feed_url_indexes_each_item_article_with_the_item_filling_the_page_gaps(tmp_path, site):
    publish_feed(site, STRIKE, "Wed, 07 Feb 2024 10:00:00 GMT")
    index_dir = tmp_path / "index"
    report = json.loads(run_cli("index", f"{site.base}/feed.xml", "--index-dir", str(index_dir), "--json", "--quiet", "--delay", "0").stdout)
    assert (report["added"], report["failed"]) == (2, [])
    assert site.full == Counter({"/feed.xml": 1, "/harbour.html": 1, "/strike.html": 1})
    assert any(agent.startswith("semsearch/") for agent in site.user_agents)

    docs = stored_documents(index_dir)
    strike = docs[f"{site.base}/strike.html"]  # the id is the article's URL
    assert strike["title"] == "Grève des dockers à Marseille"  # from the feed item (the page has no headline)
    assert strike["date"] == "2024-02-07"  # likewise
    assert strike["url"] == f"{site.base}/strike.html"
    assert strike["text"] == "\n\n".join(STRIKE)  # the article alone: no menu, share bar nor comment
    harbour = docs[f"{site.base}/harbour.html"]
    assert (harbour["title"], harbour["date"], harbour["source"]) == ("Record de croisiéristes à Marseille", "2024-02-06", "La Voix du Port")
    assert harbour["text"] == "\n\n".join(HARBOUR)


def test_watch_rounds_fetch_only_what_changed_and_update_a_changed_article(tmp_path, site):
    publish_feed(site, STRIKE, "Wed, 07 Feb 2024 10:00:00 GMT")
    index_dir = tmp_path / "index"
    watch = ("watch", f"{site.base}/feed.xml", "--once", "--index-dir", str(index_dir), "--delay", "0")

    first = run_cli(*watch)
    assert "2 added, 0 updated" in first.stderr, first.stderr
    assert f"article (new) {site.base}/strike.html: Grève des dockers à Marseille" in first.stderr
    state = json.loads(state_path(index_dir).read_text())
    assert set(state["urls"]) == {f"{site.base}/feed.xml", f"{site.base}/harbour.html", f"{site.base}/strike.html"}
    assert all(v["etag"] and v["last_modified"] for v in state["urls"].values())

    second = run_cli(*watch)  # nothing changed: the feed answers 304 and no article is asked for
    assert "0 added, 0 updated" in second.stderr, second.stderr
    assert site.full == Counter({"/feed.xml": 1, "/harbour.html": 1, "/strike.html": 1})
    assert site.not_modified == Counter({"/feed.xml": 1})

    changed = [STRIKE[0], "La grève est levée : un accord a été signé dans la nuit de mercredi à jeudi avec les entreprises de manutention."]
    publish_feed(site, changed, "Thu, 08 Feb 2024 06:00:00 GMT")
    third = run_cli(*watch)  # the feed changed: each article asked for conditionally, only the changed one sent
    assert "0 added, 1 updated, 1 unchanged" in third.stderr, third.stderr
    assert f"article (changed page) {site.base}/strike.html" in third.stderr
    assert site.full == Counter({"/feed.xml": 2, "/harbour.html": 1, "/strike.html": 2})
    assert site.not_modified == Counter({"/feed.xml": 1, "/harbour.html": 1})
    strike = stored_documents(index_dir)[f"{site.base}/strike.html"]
    assert strike["text"] == "\n\n".join(changed) and strike["passages"][-1] == changed[1]


def test_bad_pages_and_feeds_are_reported_per_url_and_skipped(tmp_path, site):
    site.put("/good.html", "text/html", article_page("Record de croisiéristes à Marseille", HARBOUR, "2024-02-06"))
    site.put("/menu.html", "text/html", b"<html><body><nav><a href='/'>Accueil</a> <a href='/sport'>Sport</a></nav></body></html>")
    site.put("/big.html", "text/html", article_page("Un article trop long", HARBOUR * 400))
    paths = ("/good.html", "/missing.html", "/slow.html", "/loop.html", "/menu.html", "/big.html")
    items = [(path, "titre", "Tue, 06 Feb 2024 07:00:00 GMT", "") for path in paths]
    site.put("/bad-feed.xml", "application/rss+xml", rss(items, "Tue, 06 Feb 2024 08:00:00 GMT"))
    site.put("/sitemap.xml", "application/xml", b"<?xml version='1.0'?><urlset><url><loc>/a</loc></url></urlset>")
    (tmp_path / "broken.rss").write_text("Ceci n'est pas un flux.", encoding="utf-8")
    index_dir = tmp_path / "index"
    proc = run_cli(
        "index", f"{site.base}/bad-feed.xml", f"{site.base}/sitemap.xml", "http://127.0.0.1:9/closed", str(tmp_path / "broken.rss"),
        "--index-dir", str(index_dir), "--json", "--quiet", "--timeout", "0.5", "--delay", "0",
        env={"SEMSEARCH_FETCH_MAX_BYTES": "50000"},
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr  # one article could be indexed
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["added"] == 1
    reasons = {p["origin"].replace(site.base, ""): p["reason"] for p in report["failed"]}
    assert reasons["/missing.html"] == "HTTP 404 Not Found"
    assert reasons["/slow.html"] == "timed out after 0.5 s"
    assert reasons["/loop.html"] == "more than 5 redirects (a redirect loop?)"
    assert reasons["/menu.html"].startswith("no article text found in the page")
    assert reasons["/big.html"].startswith("larger than the size limit")
    assert reasons["/sitemap.xml"].startswith("not an RSS or Atom feed")
    assert reasons["http://127.0.0.1:9/closed"].startswith("unreachable")
    assert reasons[str(tmp_path / "broken.rss")].startswith("not an RSS or Atom feed")
    assert f"semsearch: skipped {site.base}/missing.html: HTTP 404 Not Found" in proc.stderr

    nothing = run_cli("index", f"{site.base}/missing.html", "--index-dir", str(index_dir), check=False)
    assert nothing.returncode == 1 and "nothing could be indexed" in nothing.stderr
    as_json = run_cli("index", f"{site.base}/missing.html", "--index-dir", str(index_dir), "--json", check=False)
    report = json.loads(as_json.stdout)  # a script still gets the report, and the exit status says it failed
    assert as_json.returncode == 1 and report["added"] == 0 and report["error"] == "nothing could be indexed"
    assert report["failed"] == [{"origin": f"{site.base}/missing.html", "reason": "HTTP 404 Not Found"}]


def test_watch_stops_cleanly_on_sigterm(tmp_path, site):
    site.put("/feed.xml", "application/rss+xml", rss([], "Tue, 06 Feb 2024 08:00:00 GMT"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")} | LOOPBACK
    exe = shutil.which("semsearch", path=str(Path(sys.executable).parent))
    cmd = [exe, "watch", f"{site.base}/feed.xml", "--every", "1h", "--index-dir", str(tmp_path / "index"), "--delay", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "round done" in line or not line:
                break
        assert any("round done" in line for line in lines), lines
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "SIGTERM: stopping" in rest and "Traceback" not in rest


def test_fetcher_sends_validators_and_keeps_them_on_a_304(site):
    site.put("/page.html", "text/html; charset=iso-8859-1", "<p>Café</p>".encode("latin-1"))
    with Fetcher(FetchConfig(delay=0, allow_private=True)) as fetcher:
        first = fetcher.get(f"{site.base}/page.html")
        assert (first.charset, first.content_type) == ("iso-8859-1", "text/html")
        again = fetcher.get(f"{site.base}/page.html", first.validators)
        assert again.not_modified and again.validators == first.validators
        with pytest.raises(FetchError, match="not an http"):
            fetcher.get("file:///etc/passwd")


def test_fetcher_waits_between_two_requests_to_one_host():
    clock = [100.0]
    slept: list[float] = []
    config = FetchConfig(delay=2.0, allow_private=True)
    fetcher = Fetcher(config, sleep=lambda s: (slept.append(s), clock.__setitem__(0, clock[0] + s)), clock=lambda: clock[0])
    fetcher._wait_for("a.example")
    fetcher._wait_for("b.example")
    clock[0] += 0.5
    fetcher._wait_for("a.example")
    fetcher.close()
    assert slept == [1.5]


def test_watch_state_is_saved_atomically_and_a_damaged_one_starts_afresh(tmp_path):
    path = tmp_path / "index.watch.json"
    WatchState({"http://x/feed": Validators('"abc"', "Tue, 06 Feb 2024 08:00:00 GMT")}).save(path)
    assert WatchState.load(path).validators["http://x/feed"].etag == '"abc"'
    assert [p.name for p in tmp_path.iterdir()] == ["index.watch.json"]  # no temporary file left
    path.write_text("{not json")
    assert WatchState.load(path).validators == {}
    assert state_path(tmp_path / "data" / "index") == tmp_path / "data" / "index.watch.json"


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("30s", 30), ("2h", 7200), ("1d", 86400), ("90", 90)])
def test_watch_interval_is_a_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_watch_interval_rejects_what_is_not_a_duration():
    for bad in ("soon", "0s", "-5m", "15 minutes"):
        with pytest.raises(ValueError):
            parse_duration(bad)
