"""Ids and texts are validated in one place for files, JSON Lines, HTTP and web pages."""

import json

import pytest

from semsearch.errors import InvalidInputError
from semsearch.ingest.html import NoArticleError, extract_article
from semsearch.ingest.readers import read_paths
from semsearch.ingest.validation import has_visible_text, has_words, validate_doc_id

from .conftest import run_cli
from .service_helpers import AUTH, client_for, server_errors

TEXT = "Le conseil municipal de Marseille a voté mardi soir le budget des écoles pour l'année 2024."


def test_text_of_spaces_zero_width_and_bidi_controls_is_no_text():
    assert not has_visible_text(" \u200b\u200c\u200d\u2060\ufeff\u202e\u2066\n\t\u00a0")
    assert not has_visible_text("\u3164\u115f\uffa0\u2800\u00ad\u034f\ufe0f\u0301")  # fillers, blank Braille, lone marks
    assert has_visible_text("\u200bIrak\u200b") and has_visible_text("١٢٣") and has_visible_text("日本")
    # An article's text needs a letter or a digit: "." ranked first (0.85) for "recette de la tarte aux pommes".
    assert not any(has_words(t) for t in (".", "— — —", "🙂 !", "\u3164" * 9, "\u200b" * 9))
    assert all(has_words(t) for t in ("2024", "Irak", "日本", "١٢٣", "ça"))


def test_texts_with_no_letter_or_digit_are_refused_over_http_by_field(seed_index, embedder):
    with client_for(seed_index, embedder) as client:
        before = client.get("/stats").json()
        for text in (".", "— — — …", "\u3164 " * 50, "\u200b\u200c\u200d\ufeff" * 50):
            answer = client.post("/documents", json={"documents": [{"id": "junk", "text": text}]}, headers=AUTH)
            assert answer.status_code == 422 and answer.json()["error"]["field"] == "documents.0.text", answer.text
            assert "no letter or digit" in answer.json()["error"]["message"]
        assert client.get("/stats").json() == before and server_errors(client) == []


@pytest.mark.parametrize("bad", ["a\u200bb", "\u202eevil", "x\u2066y", "\ufeffid", "seed\u31641", "a\u2800", "a\u00adb"])
def test_ids_with_invisible_characters_are_refused_by_name(bad):
    with pytest.raises(InvalidInputError, match=r"id: contains an invisible character \(U\+[0-9A-F]{4} at character \d+"):
        validate_doc_id(bad)


def test_a_page_whose_article_is_only_filler_characters_has_no_article():
    with pytest.raises(NoArticleError, match="no article text"):
        extract_article("<html><body><article>" + "<p>" + "\u3164 " * 80 + "</p>" * 3 + "</article></body></html>")


def test_lone_surrogates_are_refused_by_field_in_index_and_over_http(tmp_path, seed_index, embedder):
    # A JSON "\ud800" escape decodes to a lone surrogate that nothing downstream can encode: it was a
    # traceback in `index` (hashing the document).
    bad = {
        "text": f'{{"id": "a", "text": "{TEXT} \\ud800"}}',
        "id": f'{{"id": "b\\udfff", "text": "{TEXT}"}}',
        "title": f'{{"id": "c", "text": "{TEXT}", "title": "\\ud83d"}}',
        "html": '{"id": "d", "html": "<p>\\ud800</p>"}',
    }
    (tmp_path / "docs.jsonl").write_text("\n".join([*bad.values(), json.dumps({"id": "ok", "text": TEXT})]) + "\n")
    done = run_cli("index", str(tmp_path / "docs.jsonl"), "--index-dir", str(tmp_path / "index"), "--json")
    assert "Traceback" not in done.stderr and json.loads(done.stdout)["added"] == 1, done.stderr
    for line, field in enumerate(bad, start=1):
        assert f"docs.jsonl:{line}: {field}: holds a lone surrogate (U+" in done.stderr, done.stderr
    with client_for(seed_index, embedder) as client:
        for field, record in bad.items():
            body = f'{{"documents": [{record}]}}'.encode()
            answer = client.post("/documents", content=body, headers={**AUTH, "Content-Type": "application/json"})
            # The service refuses the body as it parses it (400); the record's own check would say 422.
            assert answer.status_code in (400, 422) and "surrogate" in answer.json()["error"]["message"], (field, answer.text)
        assert server_errors(client) == []


def test_a_text_file_of_zero_width_characters_is_reported_and_skipped(tmp_path):
    (tmp_path / "blank.txt").write_text("\u200b\u200c\u200d\n" * 20, encoding="utf-8")
    (tmp_path / "real.txt").write_text("Les soldats américains quittent la base de Bagdad après le vote du Parlement.\n")
    batch = read_paths([tmp_path])
    assert [d.doc_id for d in batch.documents] == ["real.txt"]
    assert [(p.origin.endswith("blank.txt"), "no letter or digit" in p.reason) for p in batch.problems] == [(True, True)]
