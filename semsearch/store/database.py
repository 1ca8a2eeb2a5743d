"""SQLite rows of documents and passages. SQL only with bound parameters."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "docs.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    title TEXT, date TEXT, source TEXT, url TEXT, lang TEXT,
    date_lo INTEGER, date_hi INTEGER,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    vid INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    terms TEXT NOT NULL,
    UNIQUE (doc_id, ordinal)
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE TABLE IF NOT EXISTS latent (vid INTEGER PRIMARY KEY, terms BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class PassageRow:
    vid: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str | None
    date: str | None
    source: str | None
    url: str | None
    lang: str | None

    @property
    def passage_id(self) -> str:
        return f"{self.doc_id}#{self.ordinal}"


@dataclass
class DocumentRow:
    doc_id: str
    text: str
    title: str | None
    date: str | None
    source: str | None
    url: str | None
    lang: str | None
    indexed_at: str


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


_PASSAGE_SELECT = (
    "SELECT p.vid, p.doc_id, p.ordinal, p.start, p.end, substr(d.text, p.start + 1, p.end - p.start),"
    " d.title, d.date, d.source, d.url, d.lang FROM passages p JOIN documents d ON d.doc_id = p.doc_id"
)


def fetch_passages(conn: sqlite3.Connection, vids: list[int]) -> dict[int, PassageRow]:
    if not vids:
        return {}
    marks = ",".join("?" * len(vids))
    rows = conn.execute(f"{_PASSAGE_SELECT} WHERE p.vid IN ({marks})", [int(v) for v in vids]).fetchall()
    return {row[0]: PassageRow(*row) for row in rows}


def has_latent(conn: sqlite3.Connection) -> bool:
    """Whether the file has the latent-terms table (segments written before it do not)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'latent'").fetchone() is not None


def fetch_latent(conn: sqlite3.Connection, vids: list[int]) -> dict[int, bytes]:
    """vid -> latent-terms blob (store/latent.py) of the passages that have one."""
    if not vids:
        return {}
    marks = ",".join("?" * len(vids))
    return dict(conn.execute(f"SELECT vid, terms FROM latent WHERE vid IN ({marks})", [int(v) for v in vids]).fetchall())


def fetch_document(conn: sqlite3.Connection, doc_id: str) -> tuple[DocumentRow, list[PassageRow]] | None:
    row = conn.execute(
        "SELECT doc_id, text, title, date, source, url, lang, indexed_at FROM documents WHERE doc_id = ?", (doc_id,)
    ).fetchone()
    if row is None:
        return None
    passages = conn.execute(f"{_PASSAGE_SELECT} WHERE p.doc_id = ? ORDER BY p.ordinal", (doc_id,)).fetchall()
    return DocumentRow(*row), [PassageRow(*p) for p in passages]
