"""`<index_dir>/entities.sqlite`: each document version's entities, per passage, beside the segments.

Keyed by document id, content hash and passage ordinal. A document holds the mentions of the last version
extracted (a new version replaces the old one's rows); whether a document is live is the reader's business:
search filters by the live document ids of the commit it serves, so deleted documents never count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from .extract import Mention

FILE_NAME = "entities.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (doc_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, lang TEXT);
CREATE TABLE IF NOT EXISTS mentions (
    doc_id TEXT NOT NULL, content_hash TEXT NOT NULL, ordinal INTEGER NOT NULL,
    kind TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (doc_id, content_hash, ordinal, kind, key)
);
"""


def connect(index_dir: str | Path, readonly: bool = False) -> sqlite3.Connection:
    path = Path(index_dir) / FILE_NAME
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.executescript(SCHEMA)
    return conn


def known_versions(conn: sqlite3.Connection) -> dict[str, str]:
    """doc_id -> content hash of the version whose entities are stored."""
    return dict(conn.execute("SELECT doc_id, content_hash FROM documents"))


def store_document(conn: sqlite3.Connection, doc_id: str, content_hash: str, lang: str | None, mentions: Iterable[Mention]) -> None:
    """Replace the document's entities by this version's (inside the caller's transaction)."""
    conn.execute("DELETE FROM mentions WHERE doc_id = ?", (doc_id,))
    conn.execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)", (doc_id, content_hash, lang))
    conn.executemany(
        "INSERT OR REPLACE INTO mentions VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(doc_id, content_hash, m.ordinal, m.kind, m.key, m.name, m.count) for m in mentions],
    )


def all_mentions(conn: sqlite3.Connection) -> list[tuple[str, int, str, str, str, int]]:
    """(doc_id, ordinal, kind, key, name, count) of every stored mention."""
    return conn.execute("SELECT doc_id, ordinal, kind, key, name, count FROM mentions").fetchall()
