"""A published snapshot opened for reading: everything a search needs, loaded once.

Searches touch SQLite only to fetch the rows they return. The connection is opened at load,
so a snapshot stays readable by in-flight searches even after a newer one replaced it and the
old folder was pruned.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexCorruptError, IndexNotFoundError
from . import database, lexical, vectors
from .layout import IndexDirectory
from .manifest import Manifest

log = logging.getLogger(__name__)


@dataclass
class RowTable:
    """Per-passage columns in vid order (row i is vids[i]), for filters and grouping."""

    vids: np.ndarray
    doc_index: np.ndarray  # row -> position in doc_ids
    doc_ids: list[str]
    headline: np.ndarray  # row -> one number per distinct document title, -1 when untitled
    date_lo: np.ndarray  # 0 when undated
    date_hi: np.ndarray
    lang: np.ndarray  # row -> position in langs
    langs: list[str]
    source: np.ndarray  # row -> position in sources, -1 when unknown
    sources: list[str]

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> RowTable:
        rows = conn.execute(
            "SELECT p.vid, p.doc_id, COALESCE(d.date_lo, 0), COALESCE(d.date_hi, 0), COALESCE(d.lang, ''),"
            " d.source, d.title FROM passages p JOIN documents d ON d.doc_id = p.doc_id ORDER BY p.vid"
        ).fetchall()
        doc_ids: dict[str, int] = {}
        langs: dict[str, int] = {}
        sources: dict[str, int] = {}
        titles: dict[str, int] = {}
        n = len(rows)
        vids = np.empty(n, np.int64)
        doc_index = np.empty(n, np.int32)
        headline = np.empty(n, np.int32)
        date_lo = np.empty(n, np.int32)
        date_hi = np.empty(n, np.int32)
        lang = np.empty(n, np.int16)
        source = np.empty(n, np.int32)
        for i, (vid, doc_id, lo, hi, lg, src, title) in enumerate(rows):
            vids[i] = vid
            doc_index[i] = doc_ids.setdefault(doc_id, len(doc_ids))
            headline[i] = titles.setdefault(title.strip().casefold(), len(titles)) if title and title.strip() else -1
            date_lo[i], date_hi[i] = lo, hi
            lang[i] = langs.setdefault(lg, len(langs))
            source[i] = sources.setdefault(src, len(sources)) if src else -1
        return cls(vids, doc_index, list(doc_ids), headline, date_lo, date_hi, lang, list(langs), source, list(sources))


@dataclass
class SentenceTable:
    """Sentence vectors grouped by passage row: row i owns sentences ptr[i]:ptr[i + 1]."""

    vectors: np.ndarray
    spans: np.ndarray  # (start, end) relative to the passage
    ptr: np.ndarray

    @classmethod
    def load(cls, path: Path, row_vids: np.ndarray) -> SentenceTable:
        sentence_vectors, sentence_vids, spans = vectors.load_sentences(path)
        if len(sentence_vids) and np.any(np.diff(sentence_vids) < 0):
            raise IndexCorruptError(f"{path / vectors.SENTENCE_VIDS}: sentences are not in passage order")
        ptr = np.searchsorted(sentence_vids, np.append(row_vids, np.iinfo(np.int64).max))
        ptr[-1] = len(sentence_vids)
        if len(row_vids) and np.any(np.diff(ptr) == 0):
            raise IndexCorruptError(f"{path / vectors.SENTENCE_VIDS}: a passage has no sentence vectors")
        return cls(sentence_vectors, spans, ptr)


@dataclass
class Snapshot:
    path: Path
    manifest: Manifest
    index: faiss.Index
    vectors: np.ndarray  # exact vectors in row order, memory-mapped
    sentences: SentenceTable
    bm25: object
    rows: RowTable
    conn: sqlite3.Connection
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> int:
        return len(self.rows.vids)

    def fetch_passages(self, vids: list[int]) -> dict[int, database.PassageRow]:
        with self._lock:
            return database.fetch_passages(self.conn, vids)

    def fetch_document(self, doc_id: str) -> tuple[database.DocumentRow, list[database.PassageRow]] | None:
        with self._lock:
            return database.fetch_document(self.conn, doc_id)

    def close(self) -> None:
        self.conn.close()


def open_snapshot_at(path: Path) -> Snapshot:
    manifest = Manifest.read(path)
    db_path = path / database.DB_NAME
    if not db_path.is_file():
        raise IndexCorruptError(f"{db_path}: SQLite file is missing")
    try:
        conn = database.connect(db_path, readonly=True)
        rows = RowTable.load(conn)
    except sqlite3.DatabaseError as exc:
        raise IndexCorruptError(f"{db_path}: SQLite file is damaged ({exc})") from None
    index = vectors.load_index(path)
    if index.ntotal != len(rows.vids):
        conn.close()
        raise IndexCorruptError(f"{path / vectors.FAISS_NAME}: holds {index.ntotal} vectors, SQLite {len(rows.vids)} passages")
    if len(rows.vids) and index.d != manifest.dim:
        conn.close()
        raise IndexCorruptError(f"{path / vectors.FAISS_NAME}: vectors of {index.d} dimensions, the manifest says {manifest.dim}")
    exact, vids = vectors.load_vectors(path)
    if not np.array_equal(vids, rows.vids):
        conn.close()
        raise IndexCorruptError(f"{path / vectors.VIDS_NAME}: vector ids do not match the SQLite passages")
    bm25 = lexical.load_bm25(path, len(rows.vids))
    sentences = SentenceTable.load(path, rows.vids)
    return Snapshot(
        path=path, manifest=manifest, index=index, vectors=exact, sentences=sentences, bm25=bm25, rows=rows, conn=conn
    )


def open_snapshot(index_dir: str | Path) -> Snapshot:
    """The live snapshot; if it is damaged, the newest older one that loads, with a warning."""
    layout = IndexDirectory(index_dir)
    current = layout.current_path()
    if current is None:
        raise IndexNotFoundError(f"no index at {layout.root}: run 'semsearch index PATH' first")
    try:
        return open_snapshot_at(current)
    except IndexCorruptError as first:
        for older in layout.snapshot_paths():
            if older.name >= current.name:
                continue
            try:
                snapshot = open_snapshot_at(older)
            except IndexCorruptError:
                continue
            log.warning("%s; serving the previous snapshot %s instead", first, older.name)
            return snapshot
        raise
