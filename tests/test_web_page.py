"""Acceptance: the search page at `/`, in a real browser (Debian's Chromium driven by Playwright)
against a real `semsearch serve` process over the seeds plus one document carrying HTML.

Screenshots (desktop and 390 px phone width) are written to artifacts/screenshots/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import ROOT
from .service_helpers import AUTH, SOLDIERS
from .test_serve_process import Server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -c constraints.txt -e '.[test]'")

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)", allow_module_level=True)

# Without the background-networking flags Chromium tries to reach Google and logs the refusals.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 30_000

FR_QUESTION = "Combien de soldats américains sont en Irak ?"
EN_QUESTION = "How many US soldiers are in Iraq?"
IMG = "<img src=x onerror=alert(1)>"
HTML_DOC = {
    "id": "desk/2024/markup.txt",
    "title": 'Festival <script>alert("title")</script> in Timbuktu',
    "date": "2024-03-02",
    "source": "AFP",
    "lang": "en",
    "url": "javascript:alert(3)",
    "text": f"The Timbuktu desert music festival drew 12,000 spectators despite a sandstorm {IMG} and its organisers "
    "promised <script>alert(2)</script> a longer edition next year, with concerts on the dunes at sunset.",
}
HTML_QUESTION = "How many spectators came to the Timbuktu festival?"


@pytest.fixture(scope="module")
def server(seed_index_master: Path, tmp_path_factory) -> Iterator[Server]:
    """One `semsearch serve` for the module, over a copy of the seed index plus HTML_DOC (posted with the key)."""
    base = tmp_path_factory.mktemp("web")
    index_dir = base / "index"
    shutil.copytree(seed_index_master, index_dir)
    workdir = base / "cwd"
    workdir.mkdir()
    server = Server(index_dir, workdir, base / "serve.log")
    try:
        server.wait_ready()
        added = server.client.post("/documents", json={"documents": [HTML_DOC]}, headers=AUTH)
        assert added.status_code == 200 and added.json()["added"] == 1, added.text
        yield server
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text(errors="replace"), server.log()


@pytest.fixture(scope="module")
def browser():
    playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()


class Tab:
    """A page in its own browser context, recording dialogs and JavaScript errors."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.base = base
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.set_default_timeout(TIMEOUT_MS)
        page.on("dialog", self._dialog)
        page.on("console", lambda message: self.errors.append(f"console: {message.text}") if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_function("() => document.documentElement.lang !== '' && document.title !== ''")

    def search(self, question: str) -> None:
        """Type a question in the box and press Enter, as a user would."""
        box = self.page.locator("#q")
        box.fill("")
        box.type(question)
        self.mark_stale()
        box.press("Enter")
        self.settled()

    def mark_stale(self) -> None:
        """Tag what the page shows now, so that `settled` waits for the outcome of the next search."""
        self.page.evaluate("document.querySelectorAll('#results > li, #empty, #error > *').forEach(n => { n.dataset.stale = '1'; })")

    def settled(self) -> None:
        """Wait until no search is in flight and a new outcome (results, empty state or error) is shown."""
        self.page.wait_for_function(
            "() => !document.getElementById('search').hasAttribute('aria-busy') && "
            "document.querySelector('#results > li:not([data-stale]), #empty:not([data-stale]), "
            "#error:not([hidden]) > :not([data-stale])') !== null"
        )

    def results(self):
        return self.page.locator("#results > li")

    def dates(self) -> list[str]:
        """The date shown on each result ("" when it has none)."""
        return self.page.eval_on_selector_all("#results > li", "items => items.map(li => li.querySelector('.meta time')?.textContent || '')")

    def shot(self, name: str, full_page: bool = True) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


@contextmanager
def tab(browser, server: Server, locale: str = "en-US", viewport: dict | None = None, allowed_errors: str | None = None) -> Iterator[Tab]:
    """A fresh context (own locale, cookies, history); on exit, no dialog opened and no JavaScript
    error was logged (but console lines matching `allowed_errors`, such as an expected failed request)."""
    context = browser.new_context(locale=locale, viewport=viewport or DESKTOP)
    try:
        current = Tab(context.new_page(), server.base)
        yield current
        assert current.dialogs == [], current.dialogs
        errors = [e for e in current.errors if not (allowed_errors and re.search(allowed_errors, e))]
        assert errors == [], errors
    finally:
        context.close()


def soldiers_marked(current: Tab):
    return current.page.locator("#results mark").filter(has_text=SOLDIERS)


def test_page_is_served_with_a_strict_content_security_policy(server):
    page = server.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "inline script in the page"
    for path, kind in [("/static/app.js", "javascript"), ("/static/style.css", "text/css"), ("/static/favicon.svg", "image/svg")]:
        response = server.client.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"], (path, response.headers)
    assert server.client.get("/static/nothing.js").json()["error"]["message"] == "not found: /static/nothing.js"
    assert "/" not in server.client.get("/openapi.json").json()["paths"]


def test_french_question_in_a_french_browser(browser, server):
    with tab(browser, server, locale="fr-FR") as current:
        page = current.page
        current.open()
        assert page.evaluate("document.documentElement.lang") == "fr"
        assert page.locator("label[for=q]").inner_text() == "Votre question"
        assert page.locator("label[for=date_from]").inner_text() == "Du"
        assert page.evaluate("document.activeElement.id") == "q"  # focused on load
        # Filters come from /stats: both languages of the corpus, and its sources (several: shown).
        page.wait_for_selector("#lang option[value=en]", state="attached")
        assert page.locator("#source-field").is_visible()
        assert set(page.locator("#source option").all_inner_texts()) >= {"AFP", "TRT FR"}

        current.search(FR_QUESTION)
        assert parse_qs(urlsplit(page.url).query)["q"] == [FR_QUESTION]
        assert soldiers_marked(current).count() >= 1, page.locator("#results").inner_text()
        assert re.search(r"\d+ passages? en [\d\s\u202f\u00a0]+ ms", page.locator("#status").inner_text())

        also = page.locator("details.duplicates").first
        summary = also.locator("summary")
        assert re.match(r"Également rapporté par \d+ sources?", summary.inner_text())
        assert not also.locator("li").first.is_visible()
        summary.click()
        assert also.get_attribute("open") is not None and also.locator("li").first.is_visible()
        current.shot("desktop-fr-results")


def test_english_question_on_a_phone(browser, server):
    with tab(browser, server, locale="en-US", viewport=PHONE) as current:
        page = current.page
        current.open()
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.locator("label[for=q]").inner_text() == "Your question"
        current.search(EN_QUESTION)
        marked = soldiers_marked(current)
        assert marked.count() >= 1, page.locator("#results").inner_text()
        passage = marked.first.locator("xpath=..")
        assert SOLDIERS.search(passage.inner_text())
        # Nothing wider than the phone: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        current.shot("phone-en-top", full_page=False)

        # Keyboard: Tab from the box reaches the button, with a visible focus ring; Enter on a
        # summary opens the duplicates.
        page.locator("#q").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "submit"
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        also = page.locator("details.duplicates").first
        assert re.match(r"Also reported by \d+ sources?", also.locator("summary").inner_text())
        also.locator("summary").focus()
        page.keyboard.press("Enter")
        assert also.get_attribute("open") is not None and also.locator("li").first.is_visible()
        current.shot("phone-en-results")
        also.locator("xpath=ancestor::li").screenshot(path=str(SCREENSHOTS / "phone-en-duplicates-open.png"))


def test_date_filter_mode_switch_and_a_shared_url(browser, server):
    with tab(browser, server) as current:
        page = current.page
        current.open()
        current.search(EN_QUESTION)
        before = current.dates()
        assert any(not d.startswith("2024-03") for d in before), before

        page.locator("#date_from").fill("2024-03")
        page.locator("#date_to").fill("2024-03")
        current.mark_stale()
        page.locator("#date_to").press("Enter")
        page.wait_for_url(re.compile(r"date_to=2024-03"))
        current.settled()
        after = current.dates()
        assert after and all(d.startswith("2024-03") for d in after), after
        assert len(after) < len(before) or set(after) < set(before)

        current.mark_stale()
        page.locator("label[for=mode-dense]").click()  # the mode switch searches again
        page.wait_for_url(re.compile(r"mode=dense"))
        current.settled()
        shared = page.url
        assert parse_qs(urlsplit(shared).query) == {"q": [EN_QUESTION], "mode": ["dense"], "date_from": ["2024-03"], "date_to": ["2024-03"]}
        titles = current.results().locator("h2").all_inner_texts()
        assert titles

        # Back goes to the search before the mode switch.
        current.mark_stale()
        page.go_back()
        page.wait_for_url(lambda url: "mode=" not in url)
        current.settled()
        assert page.locator("#mode-hybrid").is_checked()

    with tab(browser, server, locale="fr-FR") as fresh:  # someone else opens the shared link
        fresh.page.goto(shared)
        fresh.settled()
        assert fresh.page.locator("#q").input_value() == EN_QUESTION
        assert fresh.page.locator("#date_from").input_value() == "2024-03"
        assert fresh.page.locator("#mode-dense").is_checked()
        assert fresh.results().locator("h2").all_inner_texts() == titles
        assert all(d.startswith("2024-03") for d in fresh.dates())


def test_a_document_carrying_html_is_shown_as_text(browser, server):
    with tab(browser, server) as current:
        page = current.page
        current.open()
        current.search(HTML_QUESTION)
        first = current.results().first
        assert first.locator("h2").inner_text() == HTML_DOC["title"]
        assert IMG in first.locator(".passage").inner_text()
        assert "<script>alert(2)</script>" in first.locator(".passage").inner_text()
        assert page.get_by_text(IMG, exact=False).first.is_visible()
        assert page.locator("#results img, #results script").count() == 0
        assert first.locator("h2 a").count() == 0  # a javascript: url is not made a link
        page.wait_for_timeout(200)  # an onerror handler would have fired by now
        assert current.dialogs == []
        current.shot("desktop-en-html-as-text")


def test_empty_state_when_a_filter_matches_nothing(browser, server):
    with tab(browser, server, viewport=PHONE) as current:
        page = current.page
        current.open()
        page.locator("#date_from").fill("1990")
        page.locator("#date_to").fill("1990")
        current.search(EN_QUESTION)
        assert page.locator("#empty").is_visible()
        assert "No passage matches." in page.locator("#empty").inner_text()
        assert current.results().count() == 0
        current.shot("phone-en-empty", full_page=False)


def test_error_states_show_the_api_message_or_that_the_service_is_down(browser, server):
    # Chromium logs every failed request to the console: those two are expected here.
    expected = r"status of 422|net::ERR_FAILED"
    with tab(browser, server, locale="fr-FR", allowed_errors=expected) as current:
        page = current.page
        current.open()
        page.locator("#date_from").fill("2024-13")
        current.search(FR_QUESTION)
        error = page.locator("#error")
        assert error.is_visible()
        assert "date_from" in error.inner_text() and "La recherche a échoué" in error.inner_text()
        assert page.locator("#date_from").get_attribute("aria-invalid") == "true"
        current.shot("desktop-fr-error")

        page.locator("#date_from").fill("")
        page.route("**/search?**", lambda route: route.abort())  # the service is down
        current.search(FR_QUESTION)
        assert "injoignable" in error.inner_text()
        assert page.locator("#date_from").get_attribute("aria-invalid") is None
