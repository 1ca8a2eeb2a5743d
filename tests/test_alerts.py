"""Acceptance: saved searches and alerts against a real `semsearch serve` (real model, seeds), with real
webhook receivers on loopback, the Atom feed parsed by feedparser, a commit by another process
(`semsearch index`), and the page's coverage chart and saved-search list in Chromium (screenshots in
artifacts/screenshots/)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest

from semsearch.alerts.webhooks import SIGNATURE_HEADER, verify

from .conftest import run_cli
from .service_helpers import AUTH, Server

SECRET = "receiver-secret-0123456789"
FR_QUESTION = "Quand la tour Eiffel sera-t-elle repeinte ?"
EN_QUESTION = "When will the Eiffel Tower be repainted?"
EIFFEL = {
    "id": "2024/eiffel.txt",
    "title": "La tour Eiffel va être repeinte",
    "text": "La tour Eiffel sera entièrement repeinte à partir de l'automne prochain, a annoncé mardi la société "
    "d'exploitation. Les travaux de peinture dureront trois ans et coûteront 50 millions d'euros.",
    "date": "2024-04-02",
    "source": "AFP",
    "lang": "fr",
    "url": "https://example.org/afp/tour-eiffel",
}
FOOTBALL = {  # far from the question: its best sentence scores 0.75 to the English one, 0.79 to the French one
    "id": "2024/football.txt",
    "title": "Le Stade rennais bat Lorient",
    "text": "Le Stade rennais s'est imposé 3 à 1 face au FC Lorient samedi soir au Roazhon Park. Martin Terrier a inscrit "
    "un doublé en seconde période.",
    "date": "2024-04-03",
    "source": "Ouest-France",
    "lang": "fr",
}
PAINT_TEXT = (
    " date 2024-05-06 La tour Eiffel sera repeinte en doré pour les Jeux olympiques, a confirmé lundi la mairie de Paris : "
    "le chantier de peinture commencera dès la fin de l'été."
)


class Receivers:
    """Webhook receivers on a loopback port: /ok answers 204, /fail 500, /slow answers after the sender's timeout."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict]] = {"/ok": [], "/fail": [], "/slow": []}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.received.setdefault(self.path, []).append({"body": body, "headers": dict(self.headers)})
                if self.path == "/slow":
                    time.sleep(2.5)
                status = 204 if self.path == "/ok" else 500
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up (timeout)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def posts(self, path: str) -> list[dict]:
        with self.lock:
            return list(self.received.get(path, []))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    found = Receivers()
    yield found
    found.close()


@pytest.fixture(scope="module")
def server(seed_index_master: Path, tmp_path_factory, receivers: Receivers) -> Iterator[Server]:
    """One `semsearch serve` over a copy of the seeds, with short webhook timeouts and backoff; saved searches
    made, then the two articles written."""
    base = tmp_path_factory.mktemp("alerts")
    index_dir = base / "index"
    shutil.copytree(seed_index_master, index_dir)
    (base / "cwd").mkdir()
    env = {"SEMSEARCH_WEBHOOK_TIMEOUT": "1", "SEMSEARCH_WEBHOOK_BACKOFF": "0.2", "SEMSEARCH_WEBHOOK_ATTEMPTS": "3"}
    server = Server(index_dir, base / "cwd", base / "serve.log", env=env)
    server.index_dir = index_dir
    try:
        server.wait_ready()
        saved = [
            {"name": "tour-fr", "query": FR_QUESTION, "webhook_url": f"{receivers.base}/ok", "webhook_secret": SECRET},
            {"name": "tour-en", "query": EN_QUESTION, "webhook_url": f"{receivers.base}/ok", "webhook_secret": SECRET},
            {"name": "tour-en-only", "query": EN_QUESTION, "filters": {"lang": "en"}},
            {"name": "tour-fail", "query": FR_QUESTION, "webhook_url": f"{receivers.base}/fail"},
            {"name": "tour-slow", "query": FR_QUESTION, "webhook_url": f"{receivers.base}/slow"},
            {"name": "mots", "query": "tour Eiffel peinture", "mode": "lexical"},
        ]
        for body in saved:
            answer = server.client.post("/alerts", json=body, headers=AUTH)
            assert answer.status_code == 201, answer.text
        written = server.client.post("/documents", json={"documents": [EIFFEL, FOOTBALL]}, headers=AUTH)
        assert written.status_code == 200 and written.json()["added"] == 2, written.text
        yield server
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text(errors="replace"), server.log()


def detail(server: Server, name: str) -> dict:
    answer = server.client.get(f"/alerts/{name}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_only_the_matching_french_article_is_a_hit_in_the_atom_feed(server):
    answer = server.client.get("/alerts/tour-fr/feed.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "semsearch: tour-fr"
    assert feed.feed.subtitle == FR_QUESTION
    assert [e.title for e in feed.entries] == [EIFFEL["title"]]
    entry = feed.entries[0]
    assert entry.link == EIFFEL["url"]
    assert "repeinte" in entry.summary
    assert entry.author == "AFP"
    hits = detail(server, "tour-fr")
    assert hits["hits"] == 1 and [h["doc_id"] for h in hits["recent"]] == [EIFFEL["id"]]
    assert hits["recent"][0]["answer"].startswith("La tour Eiffel sera entièrement repeinte")


def test_an_english_saved_search_catches_the_french_article(server):
    hits = detail(server, "tour-en")
    assert hits["query_lang"] == "en"
    assert [h["doc_id"] for h in hits["recent"]] == [EIFFEL["id"]]
    assert hits["recent"][0]["lang"] == "fr"
    feed = feedparser.parse(server.client.get("/alerts/tour-en/feed.atom").content)
    assert [e.title for e in feed.entries] == [EIFFEL["title"]]
    # its filters apply: the same question restricted to English articles has no hit
    assert detail(server, "tour-en-only")["hits"] == 0
    # lexical: every word of the question in the passage
    assert [h["doc_id"] for h in detail(server, "mots")["recent"]] == [EIFFEL["id"]]


def test_webhooks_are_signed_and_reach_the_receiver(server, receivers):
    posts = wait_for(lambda: len(receivers.posts("/ok")) >= 2 and receivers.posts("/ok"), what="two webhook posts")
    alerts = set()
    for post in posts:
        headers = {k.lower(): v for k, v in post["headers"].items()}
        assert verify(SECRET, post["body"], headers[SIGNATURE_HEADER.lower()])
        assert not verify("another-secret-0123456789", post["body"], headers[SIGNATURE_HEADER.lower()])
        payload = json.loads(post["body"])
        assert payload["event"] == "alert.hits"
        assert [h["doc_id"] for h in payload["hits"]] == [EIFFEL["id"]]
        alerts.add(payload["alert"])
    assert alerts == {"tour-fr", "tour-en"}
    delivered = wait_for(lambda: detail(server, "tour-fr")["webhook"]["deliveries"][0]["status"] == "delivered", what="delivered")
    assert delivered
    webhook = detail(server, "tour-fr")["webhook"]
    assert webhook["url"].endswith("/ok") and "secret" not in json.dumps(webhook)


def test_failing_and_slow_receivers_are_retried_then_logged(server, receivers):
    def settled(name: str) -> dict | None:
        delivery = detail(server, name)["webhook"]["deliveries"][0]
        return delivery if delivery["status"] == "failed" else None

    failed = wait_for(lambda: settled("tour-fail"), what="the failing receiver's delivery to fail")
    assert failed["attempts"] == 3 and failed["last_status"] == 500 and failed["last_error"] == "HTTP 500"
    assert len(receivers.posts("/fail")) == 3
    slow = wait_for(lambda: settled("tour-slow"), what="the slow receiver's delivery to fail")
    assert slow["attempts"] == 3 and "timed out" in slow["last_error"]
    log = server.log_path.read_text(errors="replace")
    assert "webhook_failed" in log and "tour-fail" in log
    # writes went on meanwhile
    assert server.client.get("/readyz").status_code == 200


def test_a_commit_by_another_process_is_matched_and_delivered(server, receivers, tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "jo-peinture.txt").write_text(PAINT_TEXT, encoding="utf-8")
    before = len(receivers.posts("/ok"))
    proc = run_cli("index", str(folder), "--index-dir", str(server.index_dir), "--quiet")
    assert "saved searches:" in proc.stderr and "tour-fr" in proc.stderr
    hits = detail(server, "tour-fr")
    assert hits["hits"] == 2 and hits["recent"][0]["doc_id"] == "jo-peinture.txt"
    # the server sends the webhooks that the other process queued
    posts = wait_for(lambda: len(receivers.posts("/ok")) >= before + 2 and receivers.posts("/ok"), what="webhooks of the CLI's hits")
    assert {json.loads(p["body"])["hits"][0]["doc_id"] for p in posts[before:]} == {"jo-peinture.txt"}
    # the server opening that commit does not record the hits twice
    wait_for(lambda: server.client.get("/stats").json()["documents"] == 8, what="the server to serve the commit")
    assert detail(server, "tour-fr")["hits"] == 2
    listed = json.loads(run_cli("alerts", "list", "--index-dir", str(server.index_dir), "--json").stdout)
    assert {a["name"]: a["hits"] for a in listed}["tour-fr"] == 2


def test_saved_searches_are_listed_with_the_index(server):
    stats = server.client.get("/stats").json()
    assert stats["alerts"] == 6 and "tour-fr" in stats["alert_names"]
    listed = server.client.get("/alerts").json()["alerts"]
    assert [a["name"] for a in listed] == sorted(a["name"] for a in listed)
    one = {a["name"]: a for a in listed}["tour-en-only"]
    assert one["filters"]["lang"] == "en" and one["feed"] == "/alerts/tour-en-only/feed.atom"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "tour-fr", "query": "autre chose"}, 409, "name"),
        ({"name": "bad name", "query": "x"}, 422, "name"),
        ({"name": "../etc", "query": "x"}, 422, "name"),
        ({"name": "ok1", "query": ""}, 422, "query"),
        ({"name": "ok1", "query": "x", "mode": "fuzzy"}, 422, "mode"),
        ({"name": "ok1", "query": "x", "filters": {"date_from": "2024-13"}}, 422, "filters.date_from"),
        ({"name": "ok1", "query": "x", "filters": {"date_from": "2024-05", "date_to": "2024-01"}}, 422, "filters.date_to"),
        ({"name": "ok1", "query": "x", "filters": {"colour": "red"}}, 422, "filters.colour"),
        ({"name": "ok1", "query": "x", "webhook_url": "ftp://example.org/hook"}, 422, "webhook_url"),
        ({"name": "ok1", "query": "x", "webhook_url": "javascript:alert(1)"}, 422, "webhook_url"),
        ({"name": "ok1", "query": "x", "webhook_url": "http://"}, 422, "webhook_url"),
        ({"name": "ok1", "query": "x", "webhook_url": "http://127.0.0.1/h", "webhook_secret": "short"}, 422, "webhook_secret"),
        ({"name": "ok1", "query": "x", "webhook_secret": "0123456789abcdefgh"}, 422, "webhook_secret"),
    ],
)
def test_bad_saved_searches_are_refused_naming_the_field(server, body, status, field):
    answer = server.client.post("/alerts", json=body, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["field"] == field
    assert answer.json()["error"]["message"].startswith(field)


def test_unknown_names_and_missing_keys(server):
    for method, path in (("GET", "/alerts/nope"), ("GET", "/alerts/nope/feed.atom"), ("DELETE", "/alerts/nope")):
        answer = server.client.request(method, path, headers=AUTH)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["field"] == "name"
    assert server.client.post("/alerts", json={"name": "k", "query": "x"}).status_code == 401
    assert server.client.delete("/alerts/tour-fr").status_code == 401
    assert server.client.post("/alerts", json={"name": "gone", "query": "Paris"}, headers=AUTH).status_code == 201
    assert server.client.delete("/alerts/gone", headers=AUTH).status_code == 200
    assert server.client.get("/alerts/gone").status_code == 404


# -- the web page ------------------------------------------------------------------------------------


def test_the_page_draws_coverage_and_lists_saved_searches(server):
    from .test_web_page import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Tab, sync_api

    del CHROMIUM
    playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000})
        current = Tab(context.new_page(), server.base)
        page = current.page
        missing: list[str] = []
        page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
        current.open()
        current.search("La coalition internationale en Irak")
        page.wait_for_selector("#coverage:not([hidden]) canvas")
        box = page.locator("#coverage-chart").bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100
        bars = page.locator("#coverage .coverage-bar")
        assert bars.count() >= 2
        assert page.locator("#coverage .interval.active").get_attribute("data-interval") == "month"
        hits = detail(server, "tour-fr")["hits"]
        assert page.locator("#saved-list [data-alert='tour-fr'] .saved-new").inner_text() == f"{hits} new"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "desktop-en-coverage-and-saved-searches.png"), full_page=True)

        # a click on a bar of the chart filters the search to that month
        first = bars.first  # the chart's first non-empty bar, in the list that keyboards and screen readers use
        start, end = first.get_attribute("data-start"), first.get_attribute("data-end")
        count = int(first.inner_text().rsplit(":", 1)[1])
        point = page.evaluate(
            """() => {
                const chart = Chart.getChart(document.getElementById('coverage-chart'));
                const i = chart.data.datasets[0].data.findIndex((v) => v > 0);
                const bar = chart.getDatasetMeta(0).data[i];
                return { x: bar.x, y: (bar.y + bar.base) / 2 };
            }"""
        )
        canvas_box = page.locator("#coverage-chart").bounding_box()
        current.mark_stale()
        page.mouse.click(canvas_box["x"] + point["x"], canvas_box["y"] + point["y"])
        current.settled()
        query = parse_qs(urlsplit(page.url).query)
        assert query["date_from"] == [start] and query["date_to"] == [end]
        assert page.locator("#date_from").input_value() == start
        assert page.locator("#range").inner_text().endswith(f"of {count}")

        # another interval: the same search again, per week
        current.open("/?q=" + "coalition+internationale+en+Irak")
        page.wait_for_selector("#coverage:not([hidden]) canvas")
        page.locator("#coverage .interval[data-interval='week']").click()
        page.wait_for_selector("#coverage .interval.active[data-interval='week']")
        page.screenshot(path=str(SCREENSHOTS / "desktop-en-coverage-weeks.png"), full_page=False)

        # save this search, with the key
        page.locator("#save-open").click()
        page.locator("#save-name").fill("coalition")
        page.locator("#save-key").fill(AUTH["Authorization"].split()[1])
        page.locator("#save-confirm").click()
        page.wait_for_selector("#saved-list [data-alert='coalition']")
        assert "Saved" in page.locator("#save-message").inner_text()
        # the new hits of a saved search open in the list
        page.locator("#saved-list [data-alert='tour-fr'] .saved-toggle").click()
        page.wait_for_selector("#saved-list [data-alert='tour-fr'] .hit-list li")
        titles = page.locator("#saved-list [data-alert='tour-fr'] .hit-title").all_inner_texts()
        assert EIFFEL["title"] in titles
        assert page.locator("#saved-list [data-alert='tour-fr'] .saved-new").is_hidden()
        page.locator("#saved").screenshot(path=str(SCREENSHOTS / "desktop-en-saved-search-hits.png"))
        assert server.client.get("/alerts/coalition").json()["mode"] == "hybrid"

        assert current.dialogs == [] and current.errors == [] and missing == [], (current.errors, missing)

        # the feed is readable in the browser (which asks for /favicon.ico, that this server does not have)
        page.goto(server.base + "/alerts/tour-fr/feed.atom")
        assert EIFFEL["title"] in page.content()
        assert [url for url in missing if not url.endswith("/favicon.ico")] == []
        context.close()
        browser.close()
    finally:
        playwright.stop()


def test_search_histogram_over_http(server):
    params = {"q": "La coalition internationale en Irak", "histogram": "month", "histogram_by_source": "true"}
    body = server.client.get("/search", params=params).json()
    buckets = {b["key"]: b for b in body["histogram"]["buckets"]}
    assert body["histogram"]["interval"] == "month" and buckets["2024-01"]["count"] > 0
    assert all(isinstance(b["sources"], list) for b in buckets.values())
    for bucket in buckets.values():
        filtered = server.client.get("/search", params={"q": params["q"], "date_from": bucket["start"], "date_to": bucket["end"]})
        assert filtered.json()["total"] == bucket["count"]
    posted = server.client.post("/search", json={"query": params["q"], "histogram": "week"}).json()
    assert posted["histogram"]["interval"] == "week" and posted["histogram"]["undated"] == body["histogram"]["undated"]
    assert "histogram" not in server.client.get("/search", params={"q": "x"}).json()
    bad = server.client.get("/search", params={"q": "x", "histogram": "hour"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "histogram"
    bad = server.client.post("/search", json={"query": "x", "histogram_by_source": True})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "histogram_by_source"
