"""People, organisations and places: extracted by spaCy's French pipeline when a server opens the seeds,
counted as facets, filtered with `entity=`, shown on each result and clicked on the page (Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from semsearch.entities.extract import EntityExtractor, clean_name, entity_key

from .conftest import ROOT
from .service_helpers import AUTH

QUESTION = "la fin de la coalition en Irak"
SOUDANI = re.compile(r"So?udani", re.IGNORECASE)
NEW_DOC = {
    "id": "desk/zorglub.txt",
    "lang": "fr",
    "date": "2024-05",
    "text": "Le ministre Anatole Zorglubski a rencontré à Tombouctou les représentants de l'Unesco pour parler de la coalition en Irak "
    "et des manuscrits anciens de la ville, a annoncé mardi le ministère malien de la Culture.",
}


def _search(server, **params) -> dict:
    response = server.client.get("/search", params={"q": QUESTION, "k": 10, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _values(body: dict, facet: str) -> list[str]:
    return [f["value"] for f in body["facets"][facet]]


def test_names_are_cleaned_and_keyed_without_case_or_accents():
    assert clean_name("le Pentagone") == "Pentagone"
    assert clean_name("M. Sudani") == "Sudani"
    assert clean_name("Samedi") is None and clean_name("Premier ministre") is None and clean_name("TRT FR\n\nPartager") is None
    assert entity_key("États-Unis") == entity_key("Etats-Unis")


def test_the_french_model_finds_people_and_places_in_a_passage():
    text = "Le Premier ministre Mohammed Chia al-Soudani a reçu à Bagdad une délégation de Washington."
    (mentions,) = EntityExtractor().extract("fr", [text], [[(0, 0, len(text))]])
    found = {(m.kind, m.name) for m in mentions}
    assert ("person", "Mohammed Chia al-Soudani") in found and ("place", "Bagdad") in found


def test_entity_facets_on_the_seeds_name_al_soudani_irak_and_washington(annotated_server):
    body = _search(annotated_server, facets="person,org,place")
    assert any(SOUDANI.search(v) for v in _values(body, "person")), body["facets"]["person"]
    assert {"Irak", "Washington"} <= set(_values(body, "place")), body["facets"]["place"]
    counts = {f["value"]: f["count"] for f in body["facets"]["place"]}
    assert counts["Irak"] == max(counts.values())  # every article is about Iraq


def test_each_result_names_its_entities(annotated_server):
    results = _search(annotated_server)["results"]
    assert all(r["entities"] for r in results)
    assert all(e["kind"] in ("person", "org", "place") and e["name"] for r in results for e in r["entities"])


def test_the_entity_filter_keeps_only_passages_naming_it_whatever_the_case_and_accents(annotated_server):
    everything = _search(annotated_server)
    person = next(v for v in _values(_search(annotated_server, facets="person"), "person") if SOUDANI.search(v))
    only = _search(annotated_server, entity=person.upper(), facets="person")
    assert 0 < only["total"] < everything["total"]
    assert all(any(entity_key(e["name"]) == entity_key(person) for e in r["entities"]) for r in only["results"])
    assert _search(annotated_server, entity="Personne Inconnue")["total"] == 0


def test_bad_entity_and_story_filters_are_named(annotated_server):
    for params, field in (({"entity": "x" * 300}, "entity"), ({"story": "abc"}, "story"), ({"story": "0"}, "story")):
        response = annotated_server.client.get("/search", params={"q": QUESTION, **params})
        assert response.status_code == 422 and response.json()["error"]["field"] == field, response.text
    response = annotated_server.client.post("/search", json={"query": QUESTION, "filters": {"story": "1"}})
    assert response.status_code == 422 and "story" in response.json()["error"]["field"]


def test_a_written_document_gets_its_entities_and_loses_them_when_deleted(annotated_server):
    client = annotated_server.client
    assert client.post("/documents", json={"documents": [NEW_DOC]}, headers=AUTH).status_code == 200
    try:
        body = _search(annotated_server, facets="person,place", entity="Anatole Zorglubski")
        assert body["total"] >= 1 and body["results"][0]["doc_id"] == NEW_DOC["id"]
        assert "Tombouctou" in _values(body, "place")
    finally:
        assert client.delete(f"/documents/{NEW_DOC['id']}", headers=AUTH).status_code == 200
    body = _search(annotated_server, facets="person")
    assert "Anatole Zorglubski" not in _values(body, "person")
    assert _search(annotated_server, entity="Anatole Zorglubski")["total"] == 0


# -- the page ------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def test_the_page_shows_entity_chips_that_filter_when_clicked(annotated_server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -c constraints.txt -e '.[test]'")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from .test_web_page import CHROMIUM_ARGS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="fr-FR")
            page.set_default_timeout(30_000)
            page.goto(f"{annotated_server.base}/?q={QUESTION}")
            page.wait_for_selector(".result .entities .entity-chip")
            page.wait_for_selector('#facets .facet[data-facet="place"]')
            page.screenshot(path=str(SCREENSHOTS / "entities-chips.png"), full_page=True)
            chip = page.locator('.result .entities .entity-chip[data-kind="person"]').first
            name = chip.get_attribute("data-value")
            chip.click()
            page.wait_for_url(re.compile(r"entity="))
            page.wait_for_selector("#entity-filter .active-filter")
            page.wait_for_selector(".result")
            for article in page.locator(".result article").all():
                names = [entity_key(v) for v in article.locator(".entity-chip").evaluate_all("els => els.map(e => e.dataset.value)")]
                assert entity_key(name) in names
            page.screenshot(path=str(SCREENSHOTS / "entities-filtered.png"), full_page=True)
            page.locator("#entity-filter .active-filter").click()
            page.wait_for_function("() => !new URLSearchParams(location.search).get('entity')")
            page.wait_for_selector(".result")
            assert page.locator("#entity-filter").count() == 0
        finally:
            browser.close()
