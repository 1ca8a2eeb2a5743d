"""The content hash of every document in an index, to skip unchanged documents before any work.

`IndexWriter` checks hashes itself, under its lock, at write time; this read-only view lets a
distributed job (semsearch/distributed) leave unchanged documents out before they are chunked and
embedded on a cluster. The one place that knows where the hashes are stored.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import IndexCorruptError
from . import database
from .layout import IndexDirectory


def content_hashes(index_dir: str | Path) -> dict[str, str]:
    """doc_id -> content hash of the live index; empty when there is no index yet."""
    current = IndexDirectory(index_dir).current_path()
    if current is None:
        return {}
    db_path = current / database.DB_NAME
    try:
        conn = database.connect(db_path, readonly=True)
        try:
            return dict(conn.execute("SELECT doc_id, content_hash FROM documents"))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise IndexCorruptError(f"{db_path}: SQLite file is damaged ({exc})") from None
