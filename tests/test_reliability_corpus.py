"""Bad corpus files at index time: binary files, legacy encodings, a 50 MB single paragraph, empty
folders. What can be read is indexed, what cannot is named with its reason, a Latin-1 file is decoded
and said so, and the exit status is non-zero only when nothing at all could be indexed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from semsearch.documents import Document
from semsearch.index import chunking
from semsearch.index.chunking import split_passages
from semsearch.index.writer import IndexWriter
from semsearch.ingest.readers import decode_text, read_paths
from semsearch.store.reader import open_index

from .conftest import run_cli
from .test_snapshots import FakeEmbedder

LATIN1_TEXT = (
    "date 2023-07\n\nL'été des festivals : « Œuvres » et chefs-d'œuvre à Avignon\n\n"
    "Le festival d'Avignon a accueilli cet été 135 000 spectateurs, selon la direction. "
    "Les théâtres du Off ont affiché complet dès la première semaine, un succès qu’aucun élu n’avait prévu.\n"
)
UTF8_TEXT = (
    "Le port de Marseille a traité 77 millions de tonnes de marchandises l'an dernier. "
    "La direction annonce de nouveaux quais pour les porte-conteneurs d'ici 2027.\n"
)
UTF16_TEXT = "Le tramway de Lyon transporte 500 000 voyageurs par jour depuis l'ouverture de la ligne T10 vers Vénissieux.\n"
SENTENCE = "Le conseil municipal numéro {i} a voté {n} euros pour les écoles de M. Dupont, selon l'AFP. "


def one_paragraph(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    parts, total, i = [], 0, 0
    while total < size:
        part = SENTENCE.format(i=i, n=rng.randrange(100, 100_000))
        parts.append(part)
        total += len(part.encode())
        i += 1
    return "".join(parts)


def test_decoding_names_what_is_not_utf8_and_refuses_binary():
    assert decode_text("café".encode()) == ("café", None)
    text, note = decode_text(LATIN1_TEXT.encode("cp1252"))
    assert text == LATIN1_TEXT and note == "decoded as Windows-1252 (not valid UTF-8)"
    assert decode_text(UTF16_TEXT.encode("utf-16")) == (UTF16_TEXT, "decoded as UTF-16 (byte-order mark)")
    rng = random.Random(7)
    with pytest.raises(ValueError, match="binary"):
        decode_text(bytes(rng.randrange(256) for _ in range(4096)))  # NUL bytes
    with pytest.raises(ValueError, match="binary"):
        decode_text(bytes(rng.choice([*range(1, 9), *range(14, 32), *range(128, 256)]) for _ in range(4096)))  # none


def test_a_bad_corpus_folder_indexes_what_it_can_and_names_the_rest(tmp_path):
    corpus = tmp_path / "archives"
    (corpus / "sub" / "vide").mkdir(parents=True)
    (corpus / "marseille.txt").write_text(UTF8_TEXT)
    (corpus / "avignon-1995.txt").write_bytes(LATIN1_TEXT.encode("cp1252"))
    (corpus / "lyon.txt").write_bytes(UTF16_TEXT.encode("utf-16"))
    (corpus / "long.md").write_text(one_paragraph(3_000))
    rng = random.Random(3)
    (corpus / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(2000)))
    (corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (corpus / "vide.txt").write_text("")
    record = json.dumps({"id": "j1", "text": "Un éditorial sur l'été."}, ensure_ascii=False)
    (corpus / "latin1.jsonl").write_bytes((record + "\n").encode("cp1252"))
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    index_dir = tmp_path / "index"

    proc = run_cli("index", str(empty), str(corpus), "--index-dir", str(index_dir), "--json")
    report = json.loads(proc.stdout)
    assert report["added"] == 5 and report["documents"] == 5
    skipped = {Path(p["origin"]).name: p["reason"] for p in report["failed"]}
    assert set(skipped) == {"empty-folder", "scan.txt", "vide.txt"}  # other extensions in a folder are not articles: ignored
    assert "no .txt, .md, .jsonl, .html" in skipped["empty-folder"] and "binary" in skipped["scan.txt"] and "empty" in skipped["vide.txt"]
    notes = {Path(n["origin"]).name: n["note"] for n in report["notes"]}
    assert notes == {
        "avignon-1995.txt": "decoded as Windows-1252 (not valid UTF-8)",
        "latin1.jsonl": "decoded as Windows-1252 (not valid UTF-8)",
        "lyon.txt": "decoded as UTF-16 (byte-order mark)",
    }
    assert f"semsearch: note: {corpus / 'avignon-1995.txt'}: decoded as Windows-1252" in proc.stderr
    assert f"semsearch: skipped {corpus / 'scan.txt'}: binary file" in proc.stderr and "Traceback" not in proc.stderr

    reader = open_index(index_dir)
    doc, passages = reader.fetch_document("avignon-1995.txt")
    assert doc.title == "L'été des festivals : « Œuvres » et chefs-d'œuvre à Avignon" and doc.date == "2023-07"
    assert "un succès qu’aucun élu n’avait prévu" in doc.text and "\ufffd" not in doc.text
    assert reader.fetch_document("lyon.txt")[0].text.startswith("Le tramway de Lyon")
    assert len(reader.fetch_document("long.md")[1]) > 1  # one paragraph, cut into passages


def test_exit_status_is_non_zero_only_when_nothing_could_be_indexed(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_bytes(b"\x00\x01\x02binary")
    (junk / "b.txt").write_text("   \n")
    for args in ([str(empty)], [str(junk)], [str(empty), str(junk), str(tmp_path / "missing")]):
        proc = run_cli("index", *args, "--index-dir", str(tmp_path / "index"), check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.rstrip().endswith("semsearch: error: nothing could be indexed") and "Traceback" not in proc.stderr
    assert f"semsearch: skipped {empty}: folder holds no .txt, .md, .jsonl, .html or .htm file" in proc.stderr
    assert f"semsearch: skipped {junk / 'a.txt'}: binary file" in proc.stderr and f"{tmp_path / 'missing'}: no such file" in proc.stderr
    assert not (tmp_path / "index").exists()  # nothing written
    # (A run where something could be indexed exits 0 with the rest reported: the test above.)


# -- a 50 MB single paragraph ------------------------------------------------------------------------

READ_AND_CHUNK = textwrap.dedent(
    """
    import json, sys, time
    from semsearch.embedding import load_embedder
    from semsearch.index.chunking import split_passages
    from semsearch.ingest.readers import read_paths

    def peak_rss_mb():
        # VmHWM: this process's own peak. ru_maxrss is not: Linux carries the parent's peak across exec,
        # so a child of a test process that has grown to 2 GB reports 2 GB.
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

    counter = load_embedder().count_tokens
    started = time.perf_counter()
    batch = read_paths([sys.argv[1]])
    read = time.perf_counter() - started
    doc = batch.documents[0]
    passages = split_passages(doc, counter)
    chunked = time.perf_counter() - started - read
    step = max(1, len(passages) // 300)
    print(json.dumps({
        "read_s": read, "chunk_s": chunked, "chars": len(doc.text), "passages": len(passages),
        "max_tokens": max(counter(p.text) for p in passages[::step]),
        "offsets_ok": all(doc.text[p.start:p.end] == p.text for p in passages[::step]),
        "in_order": all(a.start < b.start and b.start <= a.end + 1 for a, b in zip(passages, passages[1:])),
        "covers": passages[0].start == 0 and passages[-1].end == len(doc.text),
        "max_rss_mb": peak_rss_mb(),
    }))
    """
)


def test_a_50mb_single_paragraph_is_read_and_chunked_in_bounded_time_and_memory(tmp_path):
    """The embedding of 50 MB (about 80,000 passages and 600,000 sentences) takes hours with the real
    model on two cores; reading and chunking, where a pathological file used to take ~20 minutes in
    pysbd, is what is bounded here, with the real tokenizer."""
    path = tmp_path / "one-paragraph.txt"
    path.write_text(one_paragraph(50 * 1024 * 1024))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", READ_AND_CHUNK, str(path)], capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    print(f"\n50 MB paragraph: read {stats['read_s']:.1f} s, chunk {stats['chunk_s']:.1f} s, {stats['passages']} passages, "
          f"max {stats['max_tokens']} tokens, peak RSS {stats['max_rss_mb']:.0f} MB, wall {wall:.1f} s")
    assert stats["chars"] > 50_000_000 and stats["passages"] > 50_000
    assert stats["offsets_ok"] and stats["in_order"] and stats["covers"]
    assert stats["max_tokens"] <= 320  # the budget is 256, estimated with a margin; the model's window is 512
    assert stats["read_s"] + stats["chunk_s"] < 90
    assert stats["max_rss_mb"] < 1500


def test_a_600kb_single_paragraph_goes_through_the_whole_write_path(tmp_path):
    """Every stage after the model (chunking, sentences, SQLite, FAISS, BM25, fsync, publish) on 600 KB
    in one paragraph (past HUGE_PARAGRAPH), with a stand-in embedder so the suite stays fast."""
    path = tmp_path / "one-paragraph.txt"
    path.write_text(one_paragraph(600 * 1024))
    started = time.perf_counter()
    report = IndexWriter(tmp_path / "index", FakeEmbedder()).write(read_paths([path]).documents)
    seconds = time.perf_counter() - started
    reader = open_index(tmp_path / "index")
    assert report.documents == 1 and report.passages == reader.size == reader.segments[0].index.ntotal > 300
    doc, passages = reader.fetch_document("one-paragraph.txt")
    assert all(doc.text[p.start:p.end] == p.text for p in passages)
    print(f"\n600 KB paragraph, full write path: {seconds:.1f} s, {report.passages} passages")
    assert seconds < 120


def test_rules_cut_a_huge_paragraph_like_pysbd_would(monkeypatch):
    monkeypatch.setattr(chunking, "HUGE_PARAGRAPH", 500)
    text = " ".join(
        [
            "« Nous partirons demain », a-t-il dit.",
            "Vraiment ?",
            "Oui !",
            "Le rapport (publié hier.) compte 40 pages…",
            "x" * 3000,  # no boundary for thousands of characters: cut at max_chars
            "Fin.",
        ]
        * 40
    )
    doc = Document("d", text, lang="fr")
    passages = split_passages(doc, lambda s: len(s.split()) + 2)
    assert len(passages) > 10
    assert all(doc.text[p.start:p.end] == p.text and p.text == p.text.strip() for p in passages)
    sentences = chunking._rule_sentences(text, 0, 200)
    assert [text[a:b] for a, b in sentences][:3] == ["« Nous partirons demain », a-t-il dit.", "Vraiment ?", "Oui !"]
    assert os.environ.get("SEMSEARCH_FAULT") is None
