"""Acceptance: the search page's sort switch, facet counts that filter, pages, similar coverage and CSV
download, in Chromium against a real `semsearch serve` over the seeds plus the dated articles of
tests/dated_news.py (posted with the key). Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from .dated_news import DATED, INAUGURATION, LYON_QUESTION, NEWEST_FIRST, OPENING_EN
from .service_helpers import AUTH
from .test_serve_process import Server
from .test_web_page import PHONE, SCREENSHOTS, browser, tab  # noqa: F401 (browser is a fixture)

TITLES = {doc["id"]: doc["title"] for doc in DATED}


@pytest.fixture(scope="module")
def server(seed_index_master: Path, tmp_path_factory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("web-features")
    index_dir = base / "index"
    shutil.copytree(seed_index_master, index_dir)
    (base / "cwd").mkdir()
    server = Server(index_dir, base / "cwd", base / "serve.log")
    try:
        server.wait_ready()
        added = server.client.post("/documents", json={"documents": DATED}, headers=AUTH)
        assert added.status_code == 200 and added.json()["added"] == len(DATED), added.text
        yield server
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text(errors="replace"), server.log()


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def titles(current) -> list[str]:
    return current.results().locator("h2").all_inner_texts()


def chip(page, facet: str, value: str):
    return page.locator(f'.facet[data-facet="{facet}"] button.chip[data-value="{value}"]')


def test_sort_switch_and_facets_that_filter(browser, server):  # noqa: F811
    with tab(browser, server) as current:
        page = current.page
        current.open()
        current.search(LYON_QUESTION)
        assert page.locator("#range").inner_text() == "Results 1–4 of 4"
        assert re.match(r"4 passages in [\d,]+ ms", page.locator("#status").inner_text())
        assert chip(page, "source", "AFP").inner_text().split() == ["AFP", "2"]
        assert chip(page, "lang", "en").inner_text().split() == ["English", "1"]
        assert [b.split()[0] for b in page.locator('.facet[data-facet="month"] button').all_inner_texts()] == ["2024-05", "2024-02"]
        assert titles(current)[0] == TITLES["lyon/2024/chantier.txt"]
        current.shot("desktop-en-features-facets")

        current.mark_stale()
        page.locator("label[for=sort-date]").click()  # the sort switch searches again
        page.wait_for_url(re.compile(r"sort=date"))
        current.settled()
        assert titles(current) == [TITLES[doc] for doc in NEWEST_FIRST]

        current.mark_stale()
        chip(page, "source", "AFP").click()
        page.wait_for_url(re.compile(r"source=AFP"))
        current.settled()
        assert page.locator("#range").inner_text() == "Results 1–2 of 2"
        assert page.locator("#source").input_value() == "AFP"
        assert chip(page, "source", "AFP").get_attribute("aria-pressed") == "true"
        assert query_of(page)["sort"] == ["date"]  # the other choices stay

        current.mark_stale()
        chip(page, "source", "AFP").click()  # clicked again: the filter goes
        page.wait_for_url(lambda url: "source=" not in url)
        current.settled()
        assert page.locator("#range").inner_text() == "Results 1–4 of 4"

        current.mark_stale()
        chip(page, "month", "2024-05").click()
        page.wait_for_url(re.compile(r"date_to=2024-05"))
        current.settled()
        assert query_of(page)["date_from"] == ["2024-05"] and page.locator("#date_from").input_value() == "2024-05"
        assert titles(current) == [TITLES[OPENING_EN], TITLES[INAUGURATION]]


def test_next_page_similar_coverage_and_csv_download(browser, server, tmp_path):  # noqa: F811
    with tab(browser, server) as current:
        page = current.page
        current.open("/?" + urlencode({"q": LYON_QUESTION, "sort": "date", "k": 3}))
        current.settled()
        assert titles(current) == [TITLES[doc] for doc in NEWEST_FIRST[:3]]
        assert page.locator("#range").inner_text() == "Results 1–3 of 4"
        assert not page.locator("#prev").is_visible() and page.locator("#next").inner_text() == "Next page"

        current.mark_stale()
        page.locator("#next").click()
        page.wait_for_url(re.compile(r"offset=3"))
        current.settled()
        assert titles(current) == [TITLES[NEWEST_FIRST[3]]] and page.locator("#range").inner_text() == "Results 4–4 of 4"
        assert not page.locator("#next").is_visible() and page.locator("#prev").is_visible()
        current.mark_stale()
        page.go_back()  # Back returns to the first page
        page.wait_for_url(lambda url: "offset=" not in url)
        current.settled()
        assert titles(current)[0] == TITLES[OPENING_EN]

        second = current.results().nth(1)  # the Le Progrès article
        toggle = second.locator("button.similar-toggle")
        assert toggle.inner_text() == "Similar coverage" and toggle.get_attribute("aria-expanded") == "false"
        toggle.click()
        panel = second.locator(".similar-panel")
        panel.locator(".similar-list li").first.wait_for()
        others = panel.locator(".similar-title").all_inner_texts()
        assert others[0] in {TITLES[d] for d in ("lyon/2024/opening-en.txt", "lyon/2024/chantier.txt", "lyon/archive.txt")}
        assert TITLES[OPENING_EN] in others[:3] and TITLES[INAUGURATION] not in others
        assert toggle.get_attribute("aria-expanded") == "true"
        second.screenshot(path=str(SCREENSHOTS / "desktop-en-similar-coverage.png"))

        link = page.locator("#csv")
        assert link.inner_text() == "Download CSV"
        assert parse_qs(urlsplit(link.get_attribute("href")).query)["format"] == ["csv"]
        with page.expect_download() as waiting:
            link.click()
        saved = tmp_path / "results.csv"
        waiting.value.save_as(saved)
        data = saved.read_bytes()
        assert data.startswith("\ufeff".encode())
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert [row["doc_id"] for row in rows] == list(NEWEST_FIRST)  # the whole search (up to 100), not only the page
        current.shot("desktop-en-features-page")


def test_french_labels_and_phone_layout(browser, server):  # noqa: F811
    with tab(browser, server, locale="fr-FR", viewport=PHONE) as current:
        page = current.page
        current.open("/?" + urlencode({"q": LYON_QUESTION, "k": 3}))
        current.settled()
        assert page.locator("label[for=sort-relevance]").inner_text() == "Pertinence"
        assert page.locator("label[for=sort-date]").inner_text() == "Plus récents d’abord"
        assert page.locator("#range").inner_text() == "Résultats 1 à 3 sur 4"
        assert page.locator("#next").inner_text() == "Page suivante" and page.locator("#csv").inner_text() == "Télécharger en CSV"
        assert page.locator(".facet-name").all_inner_texts()[:3] == ["Source", "Langue", "Mois"]  # then people, places, stories (entities.js)
        assert current.results().first.locator("button.similar-toggle").inner_text() == "Couverture similaire"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        current.shot("phone-fr-features")
