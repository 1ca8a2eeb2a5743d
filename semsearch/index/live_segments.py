"""What a commit needs of segments it changes: their documents' live copies (by doc id) and new
tombstone files. Shared by `IndexWriter` and `publish.publish_segments` (the Ray job's commit)."""

from __future__ import annotations

import sqlite3
from io import BytesIO
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError
from ..store import database, vectors
from ..store.commit import SegmentEntry
from ..store.layout import write_durably
from ..store.segment import live_document_hashes, load_deletes


class SegmentView:
    """One segment's SQLite rows (read-only) and its tombstones as of `entry`."""

    def __init__(self, folder: Path, entry: SegmentEntry) -> None:
        self.entry = entry
        self.folder = folder
        db_path = folder / database.DB_NAME
        if not db_path.is_file():
            raise IndexCorruptError(f"{db_path}: SQLite file is missing")
        # A write must not publish over a segment a reader cannot open: the FAISS index is checked here
        # (memory-mapped: milliseconds at 1M passages), the SQLite file by the look-ups below.
        vectors.load_index(folder)
        self.db_path = db_path
        self.conn = database.connect(db_path, readonly=True)
        self.deleted = load_deletes(folder, entry.deletes)

    def live_documents(self, doc_ids: list[str]) -> dict[str, str]:
        """doc_id -> content hash of those of `doc_ids` this segment holds live."""
        try:
            return live_document_hashes(self.conn, self.deleted, doc_ids)
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.db_path}: SQLite file is damaged ({exc})") from None

    def vids_of(self, doc_ids: list[str]) -> np.ndarray:
        vids: list[int] = []
        for i in range(0, len(doc_ids), 500):
            part = doc_ids[i:i + 500]
            marks = ",".join("?" * len(part))
            vids += [v for (v,) in self.conn.execute(f"SELECT vid FROM passages WHERE doc_id IN ({marks})", part)]
        return np.array(vids, dtype=np.int64)

    def close(self) -> None:
        self.conn.close()


def locate_live(views: list[SegmentView], doc_ids: list[str]) -> dict[str, tuple[int, str]]:
    """doc_id -> (position in `views`, content hash) of each live copy among `doc_ids`."""
    where: dict[str, tuple[int, str]] = {}
    for s, view in enumerate(views):
        for doc_id, content_hash in view.live_documents(doc_ids).items():
            where[doc_id] = (s, content_hash)
    return where


def tombstone(view: SegmentView, entry: SegmentEntry, doc_ids: list[str], generation: int) -> bool:
    """Tombstone `doc_ids` in the segment: a new deletes file beside it, named in `entry` (updated in place).
    False when nothing would stay live: the caller drops the segment from the commit instead."""
    deleted = np.union1d(view.deleted, view.vids_of(doc_ids))
    if len(deleted) >= entry.passages:
        return False
    name = f"deletes_{generation}.npy"
    buffer = BytesIO()
    np.save(buffer, deleted.astype(np.int64))
    write_durably(view.folder / name, buffer.getvalue())
    entry.deletes, entry.deleted = name, len(deleted)
    entry.deleted_documents += len(doc_ids)
    return True
