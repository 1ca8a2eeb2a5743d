import json

from semsearch.ingest.readers import read_paths

from .conftest import run_cli, search_json


def test_jsonl_fields_are_read(tmp_path):
    path = tmp_path / "news.jsonl"
    record = {"id": "a1", "text": "Texte de l'article.", "title": "T", "date": "2024-02-03", "source": "AFP",
              "url": "https://example.org/a1", "lang": "fr"}
    path.write_text(json.dumps(record) + "\n")
    doc = read_paths([path]).documents[0]
    assert (doc.doc_id, doc.title, doc.date, doc.source, doc.url, doc.lang) == ("a1", "T", "2024-02-03", "AFP", record["url"], "fr")


def test_bad_jsonl_lines_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": "ok", "text": "Bon texte."}\n{not json\n{"id": "x"}\n{"id": "d", "text": "t", "date": "hier"}\n')
    batch = read_paths([path])
    assert [d.doc_id for d in batch.documents] == ["ok"]
    origins = [p.origin for p in batch.problems]
    assert origins == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "not valid JSON" in batch.problems[0].reason
    assert "text" in batch.problems[1].reason
    assert "date" in batch.problems[2].reason


def test_unknown_extension_empty_file_and_latin1_are_handled(tmp_path):
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "vide.txt").write_text("")
    (tmp_path / "archive.txt").write_bytes("L'armée française a quitté la base de Kidal en été.".encode("latin-1"))
    batch = read_paths([tmp_path, tmp_path / "notes.pdf"])
    assert [d.doc_id for d in batch.documents] == ["archive.txt"]
    assert "armée" in batch.documents[0].text
    reasons = {p.origin.rsplit("/", 1)[-1]: p.reason for p in batch.problems}
    assert "empty" in reasons["vide.txt"]
    assert "unknown extension" in reasons["notes.pdf"]


def test_folder_ids_are_paths_relative_to_the_folder(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "story.md").write_text("Un article assez long pour être indexé correctement.")
    assert read_paths([tmp_path]).documents[0].doc_id == "a/b/story.md"


def test_jsonl_with_a_broken_line_indexes_its_good_lines(tmp_path, seed_index):
    path = tmp_path / "batch.jsonl"
    path.write_text(
        json.dumps({"id": "gaz", "text": "Le prix du gaz naturel a augmenté de 12 % en Europe cet hiver.", "date": "2024-02"})
        + "\n{broken\n"
        + json.dumps({"id": "rail", "text": "The rail strike in Germany cancelled most long-distance trains on Monday.",
                      "source": "Wire"})
        + "\n"
    )
    proc = run_cli("index", str(path), "--index-dir", str(seed_index), "--json")
    out = json.loads(proc.stdout)
    assert out["added"] == 2 and out["documents"] == 7
    assert f"{path}:2" in proc.stderr and "not valid JSON" in proc.stderr
    top = search_json(seed_index, "prix du gaz en Europe", "-k", "1")["results"][0]
    assert top["doc_id"] == "gaz"
    rail = search_json(seed_index, "grève des trains en Allemagne", "-k", "1")["results"][0]
    assert rail["doc_id"] == "rail" and rail["lang"] == "en"


def test_index_exits_nonzero_only_when_nothing_could_be_indexed(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    proc = run_cli("index", str(bad), "--index-dir", str(tmp_path / "idx"), check=False)
    assert proc.returncode == 1
    assert "nothing could be indexed" in proc.stderr and "Traceback" not in proc.stderr
