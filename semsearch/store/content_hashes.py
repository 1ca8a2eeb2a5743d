"""The content hash of every live document in an index, to skip unchanged documents before any work.

`IndexWriter` checks hashes itself, under its lock, at write time; this read-only view lets a
distributed job (semsearch/distributed) leave unchanged documents out before they are chunked and
embedded on a cluster. It reads the live commit point and each segment's SQLite rows, less the
documents whose passages that commit tombstones.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import IndexCorruptError
from . import database
from .commit import CommitPoint
from .layout import IndexDirectory
from .segment import live_document_hashes, load_deletes


def content_hashes(index_dir: str | Path) -> dict[str, str]:
    """doc_id -> content hash of the live index; empty when nothing is committed yet (a format-1
    index counts as empty here: the writer converts it, and then checks every hash itself)."""
    layout = IndexDirectory(index_dir)
    generation = layout.generation()
    if generation == 0:
        return {}
    commit = CommitPoint.read(layout.commit_path(generation))
    hashes: dict[str, str] = {}
    for entry in commit.segments:
        folder = layout.segments / entry.name
        db_path = folder / database.DB_NAME
        try:
            conn = database.connect(db_path, readonly=True)
            try:
                hashes.update(live_document_hashes(conn, load_deletes(folder, entry.deletes)))
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{db_path}: SQLite file is damaged ({exc})") from None
    return hashes
