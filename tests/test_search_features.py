"""Search features on the seeds plus a few dated articles (tests/dated_news.py) whose order and counts
are known: relevance cutoff and total, sort by date, recency boost, offset, facets, similar articles,
CSV export, and the errors for bad values; in process, over HTTP (the real app) and through the CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from semsearch.errors import InvalidInputError
from semsearch.index.writer import IndexWriter
from semsearch.ingest.readers import document_from_record
from semsearch.search.facets import facet_counts
from semsearch.search.recency import recency_factors
from semsearch.search.results import SearchFilters, SearchHit
from semsearch.search.search_options import SearchOptions, parse_facets, parse_half_life, search_options
from semsearch.search.searcher import Searcher
from semsearch.search.similar import similar_documents
from semsearch.service.csv_export import BOM, COLUMNS, results_csv
from semsearch.store.reader import open_index

from .conftest import run_cli
from .dated_news import ARCHIVE, CHANTIER, DATED, INAUGURATION, JAZZ, LYON, LYON_QUESTION, NEWEST_FIRST, OPENING_EN
from .service_helpers import client_for


@pytest.fixture(scope="module")
def dated_index(seed_index_master: Path, embedder, tmp_path_factory) -> Path:
    """The seeds plus the dated articles, indexed once for the module with the real model."""
    index_dir = tmp_path_factory.mktemp("dated") / "index"
    shutil.copytree(seed_index_master, index_dir)
    documents = [document_from_record(record, f"dated[{i}]") for i, record in enumerate(DATED)]
    IndexWriter(index_dir, embedder).write(documents)
    return index_dir


@pytest.fixture(scope="module")
def searcher(dated_index: Path, embedder) -> Searcher:
    return Searcher(open_index(dated_index), embedder)


@pytest.fixture(scope="module")
def client(dated_index: Path, embedder):
    with client_for(dated_index, embedder) as client:
        yield client


def doc_ids(result) -> list[str]:
    return [hit.doc_id for hit in result.results]


# -- relevance cutoff and total ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_total_counts_the_story_and_leaves_out_other_stories(searcher, mode):
    result = searcher.search(LYON_QUESTION, k=10, mode=mode)
    assert result.total == 4 and result.total_relation == "eq"
    assert set(doc_ids(result)) == set(LYON)  # not the jazz festival, not the Iraq seeds


def test_an_off_topic_question_finds_nothing_relevant(searcher):
    for mode in ("hybrid", "dense"):
        result = searcher.search("recette de la tarte aux pommes", mode=mode)
        assert result.total == 0 and result.results == [], (mode, doc_ids(result))


def test_without_the_cutoff_hybrid_search_never_runs_out(searcher):
    every = searcher.search("recette de la tarte aux pommes", k=10, options=SearchOptions(relevant_only=False))
    assert len(every.results) == 10  # why a cutoff is needed for totals and counts


# -- sort, recency ---------------------------------------------------------------------------------


def test_sort_by_date_lists_newest_first_and_undated_last(searcher):
    by_relevance = searcher.search(LYON_QUESTION, k=10)
    by_date = searcher.search(LYON_QUESTION, k=10, options=SearchOptions(sort="date"))
    assert tuple(doc_ids(by_date)) == NEWEST_FIRST
    assert by_date.total == by_relevance.total == 4
    assert doc_ids(by_relevance)[0] == CHANTIER  # relevance puts the February article first


def test_recency_boost_lifts_recent_articles_and_keeps_undated_ones(searcher):
    plain = searcher.search(LYON_QUESTION, k=10)
    boosted = searcher.search(LYON_QUESTION, k=10, options=search_options(recency="7d"))
    order = doc_ids(boosted)
    assert set(order[:2]) == {INAUGURATION, OPENING_EN}  # May, days before the newest date (2024-05-12)
    assert order.index(CHANTIER) > 1 and doc_ids(plain).index(CHANTIER) == 0
    assert ARCHIVE in order and boosted.total == plain.total  # undated: neither boosted nor dropped
    archive_score = {h.doc_id: h.score for h in plain.results}[ARCHIVE]
    assert {h.doc_id: h.score for h in boosted.results}[ARCHIVE] == archive_score
    # a long half-life boosts all four almost alike: relevance decides again
    assert doc_ids(searcher.search(LYON_QUESTION, k=10, options=search_options(recency="100y")))[0] == CHANTIER


def test_recency_factor_halves_the_boost_every_half_life():
    days = np.array([100.0, 90.0, 80.0, np.nan])
    factors = recency_factors(days, reference=100.0, half_life_days=10.0)
    assert factors.tolist()[:3] == pytest.approx([2.0, 1.5, 1.25]) and factors[3] == 1.0
    assert recency_factors(days, reference=None, half_life_days=10.0).tolist() == [1.0] * 4


def test_half_life_units():
    assert parse_half_life("30d") == 30 and parse_half_life("2w") == 14 and parse_half_life("12h") == 0.5
    assert parse_half_life("1y") == 365 and parse_half_life(None) is None and parse_half_life(" ") is None
    for bad in ("abc", "30", "3m", "-2d", "0d", "101y"):
        with pytest.raises(InvalidInputError) as caught:
            parse_half_life(bad)
        assert caught.value.field == "recency"


# -- offset ------------------------------------------------------------------------------------------


def test_offset_pages_through_the_relevant_results(searcher):
    question = "coalition internationale en Irak"
    every = {"collapse": False, "per_doc": 10}
    whole = searcher.search(question, k=50, **every)
    assert 10 < whole.total == len(whole.results) < 50
    pages = [searcher.search(question, k=4, options=SearchOptions(offset=offset), **every) for offset in range(0, whole.total, 4)]
    assert [hit.passage_id for page in pages for hit in page.results] == [hit.passage_id for hit in whole.results]
    assert [hit.rank for page in pages for hit in page.results] == list(range(1, whole.total + 1))
    assert {page.total for page in pages} == {whole.total}
    beyond = searcher.search(question, k=4, options=SearchOptions(offset=whole.total), **every)
    assert beyond.results == [] and beyond.total == whole.total


# -- facets ------------------------------------------------------------------------------------------


def test_facets_count_the_relevant_results_before_the_page_cut(searcher):
    result = searcher.search(LYON_QUESTION, k=1, options=SearchOptions(facets=("source", "lang", "month")))
    counts = {name: {f.value: f.count for f in values} for name, values in result.facets.items()}
    assert len(result.results) == 1 and result.total == 4
    assert counts == {
        "source": {"AFP": 2, "Le Progrès": 1, "Reuters": 1},
        "lang": {"fr": 3, "en": 1},
        "month": {"2024-05": 2, "2024-02": 1},  # the undated article has no month
    }
    assert [f.value for f in result.facets["month"]] == ["2024-05", "2024-02"]  # newest first
    assert [f.value for f in result.facets["source"]][0] == "AFP"  # by count


def test_facets_apply_the_filters(searcher):
    result = searcher.search(LYON_QUESTION, filters=SearchFilters(source="afp"), options=SearchOptions(facets=("source", "month")))
    assert set(doc_ids(result)) == {CHANTIER, ARCHIVE}
    assert [(f.value, f.count) for f in result.facets["source"]] == [("AFP", 2)]
    assert [(f.value, f.count) for f in result.facets["month"]] == [("2024-02", 1)]


def test_facet_names_are_checked_and_a_year_has_no_month(searcher):
    assert parse_facets("source, month,source") == ("source", "month")
    with pytest.raises(InvalidInputError, match="facets: 'bogus' is not one of source, lang, month"):
        parse_facets("source,bogus")
    rows = searcher.reader.rows
    rows_of = {doc: i for i, doc in enumerate(rows.doc_ids)}
    picked = np.flatnonzero(np.isin(rows.doc_index, [rows_of["000_846077346b089afc.txt"], rows_of[ARCHIVE]]))
    assert [f.value for f in facet_counts(rows, picked, ("month",))["month"]] == ["2024-01"]


# -- similar articles ----------------------------------------------------------------------------------


def test_similar_finds_the_same_story_across_outlets_and_languages(searcher):
    result = similar_documents(searcher, INAUGURATION, k=3)
    assert {hit.doc_id for hit in result.results} == {OPENING_EN, CHANTIER, ARCHIVE}  # one per article, itself excluded
    assert [hit.rank for hit in result.results] == [1, 2, 3]
    everything = similar_documents(searcher, INAUGURATION, k=20).results
    assert {hit.doc_id for hit in everything} == {OPENING_EN, CHANTIER, ARCHIVE}  # other stories are below the floor
    scores = [hit.score for hit in everything]
    assert scores == sorted(scores, reverse=True) and len(everything) == 3
    assert similar_documents(searcher, JAZZ, k=10).results == []  # nobody else covered the festival
    iraq = similar_documents(searcher, "004_d2c93f48316b947f.txt", k=10).results
    assert {hit.doc_id[:3] for hit in iraq} == {"000", "001", "002", "003"}
    english = similar_documents(searcher, INAUGURATION, k=3, filters=SearchFilters(lang="en"))
    assert doc_ids(english) == [OPENING_EN]
    assert similar_documents(searcher, "no/such/doc.txt") is None


def test_similar_over_http_with_slashes_in_ids_and_filters(client):
    response = client.get(f"/documents/{INAUGURATION}/similar", params={"k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["doc_id"] == INAUGURATION and {hit["doc_id"] for hit in body["results"]} == {OPENING_EN, CHANTIER, ARCHIVE}
    dated = client.get(f"/documents/{INAUGURATION}/similar", params={"k": 5, "date_from": "2024-05"}).json()
    assert [hit["doc_id"] for hit in dated["results"]][0] == OPENING_EN
    assert {hit["doc_id"] for hit in dated["results"]} <= {OPENING_EN, JAZZ}
    assert client.get(f"/documents/{INAUGURATION}").json()["doc_id"] == INAUGURATION  # the document route is intact

    missing = client.get("/documents/lyon/nothing.txt/similar")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"field": "doc_id", "message": "doc_id: no document 'lyon/nothing.txt' in the index"}
    bad_k = client.get(f"/documents/{INAUGURATION}/similar", params={"k": 0})
    assert bad_k.status_code == 422 and bad_k.json()["error"]["field"] == "k"
    bad_date = client.get(f"/documents/{INAUGURATION}/similar", params={"date_from": "2024-13"})
    assert bad_date.status_code == 422 and bad_date.json()["error"]["field"] == "date_from"


def test_a_document_whose_id_ends_in_similar_stays_readable(client):
    from .service_helpers import AUTH

    record = {"id": "notes/similar", "text": "Une note interne sur la ligne E du métro de Lyon et ses 40 000 voyageurs.", "lang": "fr"}
    assert client.post("/documents", json={"documents": [record]}, headers=AUTH).status_code == 200
    try:
        shown = client.get("/documents/notes/similar")  # no document "notes": the address is the document itself
        assert shown.status_code == 200 and shown.json()["doc_id"] == "notes/similar" and "passages" in shown.json()
        its_similar = client.get("/documents/notes/similar/similar", params={"k": 2})
        assert its_similar.status_code == 200 and its_similar.json()["doc_id"] == "notes/similar"
        assert "notes/similar" not in {hit["doc_id"] for hit in its_similar.json()["results"]}
    finally:
        assert client.delete("/documents/notes/similar", headers=AUTH).status_code == 200


# -- HTTP: the new parameters, CSV, errors ------------------------------------------------------------


def test_search_over_http_carries_total_offset_sort_and_facets(client):
    response = client.get("/search", params={"q": LYON_QUESTION, "k": 2, "offset": 2, "sort": "date", "facets": "source,month"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 4 and body["total_relation"] == "eq" and body["offset"] == 2
    assert [hit["doc_id"] for hit in body["results"]] == list(NEWEST_FIRST[2:]) and [h["rank"] for h in body["results"]] == [3, 4]
    month = [{"value": "2024-05", "count": 2, "label": None}, {"value": "2024-02", "count": 1, "label": None}]
    assert body["facets"]["month"] == month  # label: a story facet's title, none for the others
    assert set(body["facets"]) == {"source", "month"}
    posted = client.post(
        "/search", json={"query": LYON_QUESTION, "k": 2, "offset": 2, "sort": "date", "recency": "30d", "facets": ["source", "month"]}
    )
    assert posted.status_code == 200 and posted.json()["total"] == 4 and posted.json()["facets"] == body["facets"]
    assert client.get("/search", params={"q": LYON_QUESTION}).json()["facets"] == {}  # only when asked


def test_csv_export_over_http(client):
    response = client.get("/search", params={"q": LYON_QUESTION, "k": 10, "sort": "date", "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;") and ".csv" in response.headers["content-disposition"]
    assert response.content.startswith(BOM.encode("utf-8"))
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS
    assert [row["doc_id"] for row in rows] == list(NEWEST_FIRST) and [row["rank"] for row in rows] == ["1", "2", "3", "4"]
    first = rows[1]  # the Le Progrès article: accents and the answering sentence intact
    assert first["source"] == "Le Progrès" and first["date"] == "2024-05-10" and first["url"] == "https://example.org/progres/ligne-e"
    assert first["answer"] and first["answer"] in first["text"] and "inaugurée" in first["text"]
    assert float(first["score"]) > 0 and first["passage_id"] == f"{INAUGURATION}#0"


def test_csv_cells_cannot_run_as_spreadsheet_formulas():
    hit = SearchHit(1, 0.5, "d.txt", "d.txt#0", "=HYPERLINK(\"http://x\")", None, "-AFP", None, "fr", "@SUM(A1)", 0, 9, [(0, 9)])
    row = list(csv.reader(io.StringIO(results_csv([hit]).removeprefix(BOM))))[1]
    assert row[4] == "'=HYPERLINK(\"http://x\")" and row[3] == "'-AFP" and row[8] == "'@SUM(A1)" and row[1] == "0.500000"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"sort": "foo"}, "sort", "sort: 'foo' is not one of relevance, date"),
        ({"recency": "abc"}, "recency", "recency: 'abc' is not a half-life such as 12h, 30d, 2w or 1y"),
        ({"offset": "-1"}, "offset", "offset: must be an integer from 0 to 10000"),
        ({"facets": "source,bogus"}, "facets", "facets: 'bogus' is not one of source, lang, month"),
        ({"format": "xml"}, "format", "format: 'xml' is not one of json, csv"),
    ],
)
def test_bad_values_get_422_naming_the_field(client, params, field, message):
    response = client.get("/search", params={"q": LYON_QUESTION, **params})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field and response.json()["error"]["message"].startswith(message)


def test_bad_values_in_a_json_body_get_422_naming_the_field(client):
    bad = [({"sort": "newest"}, "sort"), ({"offset": -1}, "offset"), ({"recency": "soon"}, "recency"), ({"facets": ["x"]}, "facets")]
    for body, field in bad:
        response = client.post("/search", json={"query": LYON_QUESTION, **body})
        assert response.status_code == 422 and response.json()["error"]["field"] == field, (body, response.text)


# -- command line ------------------------------------------------------------------------------------


def test_cli_search_sort_facets_offset_and_csv(dated_index):
    listed = json.loads(
        run_cli("search", LYON_QUESTION, "--index-dir", str(dated_index), "--json", "--sort", "date", "--facets", "lang", "--offset", "1").stdout
    )
    assert [hit["doc_id"] for hit in listed["results"]] == list(NEWEST_FIRST[1:]) and listed["total"] == 4
    assert listed["facets"] == {"lang": [{"value": "fr", "count": 3, "label": None}, {"value": "en", "count": 1, "label": None}]}
    exported = run_cli("search", LYON_QUESTION, "--index-dir", str(dated_index), "--csv", "--recency", "2w", "-k", "2")
    rows = list(csv.reader(io.StringIO(exported.stdout.removeprefix(BOM))))
    assert exported.stdout.startswith(BOM) and tuple(rows[0]) == COLUMNS and len(rows) == 3
    assert {rows[1][6], rows[2][6]} == {INAUGURATION, OPENING_EN}
    bad = run_cli("search", LYON_QUESTION, "--index-dir", str(dated_index), "--recency", "soon", check=False)
    assert bad.returncode == 2 and "recency: 'soon' is not a half-life" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_similar(dated_index):
    found = json.loads(run_cli("similar", OPENING_EN, "--index-dir", str(dated_index), "--json", "-k", "3").stdout)
    assert {hit["doc_id"] for hit in found["results"]} == {INAUGURATION, CHANTIER, ARCHIVE}
    missing = run_cli("similar", "nothing.txt", "--index-dir", str(dated_index), check=False)
    assert missing.returncode == 1 and "no document 'nothing.txt'" in missing.stderr
