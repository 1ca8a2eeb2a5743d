"""One immutable segment: the documents of one write (or of one merge) and everything a search needs
about their passages, in one folder, never modified once published.

    docs.sqlite               documents and passages (with their analyzed terms), as before segments;
                              passages' latent terms (table latent, store/latent.py; segment.json
                              "latent_terms" says every passage has them)
    vectors_q8.npy, vectors_scale.npy, vids.npy   passage vectors in vid order (int8 codes, a scale
                              each; format "int8"), their ids; vectors.npy (float32) in older segments
    sentence_*.npy            one vector (int8 + scale, as above) and span per sentence, grouped by passage
    vectors.faiss             FAISS index of the segment's type (chosen by the segment's size)
    postings_*, passage_lengths.npy   lexical postings (lexical.py)
    segment.json              counts, languages, sources, index type
    deletes_<gen>.npy         tombstones: vids deleted as of commit <gen> (written beside, never in place)

The SQLite connection, the memory maps and the FAISS index are opened at load, so a segment stays
readable by in-flight searches after a merge replaced it and its folder was removed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexCorruptError
from . import database, vectors
from .lexical import Postings
from .live_rows import LiveRows

SEGMENT_MANIFEST = "segment.json"
# How new segments store passage and sentence vectors (segment.json "vector_format"; a segment without it
# is "float32"). int8 with a scale a vector: a quarter of the disk and page cache, PIAF dev unchanged
# (BENCHMARKS.md, "Vector storage: int8 against float32").
VECTOR_FORMAT = vectors.INT8
_SCRATCH = {vectors.VECTORS_NAME: ".passage_vectors.f32.npy", vectors.SENTENCE_VECTORS: ".sentence_vectors.f32.npy"}
# np.load parses .npy headers with ast.literal_eval, which CPython 3.11 can fail with "SystemError: AST
# constructor recursion depth mismatch" when threads run it at once (cpython#106905). A service opens
# segments from its poll, write and merge threads: their .npy reads take turns.
_NPY_LOCK = threading.Lock()


def headline_key(title: str | None) -> int:
    """A number per distinct headline (casefolded), the same in every segment; -1 when untitled."""
    if not title or not title.strip():
        return -1
    digest = hashlib.blake2b(title.strip().casefold().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x3FFF_FFFF_FFFF_FFFF


@dataclass
class RowTable:
    """Per-passage columns in row order, for filters and grouping."""

    vids: np.ndarray
    doc_index: np.ndarray  # row -> position in doc_ids
    doc_ids: list[str]
    headline: np.ndarray  # row -> headline_key of its document's title, -1 when untitled
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
        headline = np.empty(n, np.int64)
        date_lo = np.empty(n, np.int32)
        date_hi = np.empty(n, np.int32)
        lang = np.empty(n, np.int16)
        source = np.empty(n, np.int32)
        for i, (vid, doc_id, lo, hi, lg, src, title) in enumerate(rows):
            vids[i] = vid
            doc_index[i] = doc_ids.setdefault(doc_id, len(doc_ids))
            headline[i] = titles[title] if title in titles else titles.setdefault(title, headline_key(title))
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
    def load(cls, path: Path, row_vids: np.ndarray, vector_format: str = vectors.FLOAT32) -> SentenceTable:
        sentence_vectors, sentence_vids, spans = vectors.load_sentences(path, vector_format)
        if len(sentence_vids) and np.any(np.diff(sentence_vids) < 0):
            raise IndexCorruptError(f"{path / vectors.SENTENCE_VIDS}: sentences are not in passage order")
        ptr = np.searchsorted(sentence_vids, np.append(row_vids, np.iinfo(np.int64).max))
        ptr[-1] = len(sentence_vids)
        if len(row_vids) and np.any(np.diff(ptr) == 0):
            raise IndexCorruptError(f"{path / vectors.SENTENCE_VIDS}: a passage has no sentence vectors")
        return cls(sentence_vectors, spans, ptr)


@dataclass
class SegmentInfo:
    passages: int
    documents: int
    dim: int
    index_type: str
    built_at: str
    languages: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    vector_format: str = vectors.FLOAT32  # what segments written before int8 vectors are
    latent_terms: bool = False  # every passage has its latent terms (store/latent.py); older segments: none

    def write(self, folder: Path) -> None:
        (folder / SEGMENT_MANIFEST).write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def read(cls, folder: Path) -> SegmentInfo:
        path = folder / SEGMENT_MANIFEST
        try:
            data = json.loads(path.read_text())
            info = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except FileNotFoundError:
            raise IndexCorruptError(f"{path}: segment manifest is missing") from None
        except (OSError, ValueError, TypeError) as exc:
            raise IndexCorruptError(f"{path}: segment manifest is unreadable ({exc})") from None
        if info.vector_format not in (vectors.FLOAT32, vectors.INT8):
            raise IndexCorruptError(
                f"{path}: vector format {info.vector_format!r} is not one this version reads (float32, int8): a newer semsearch wrote it"
            )
        return info


class SegmentWriter:
    """The one way a segment's files are written: rows added one by one (a write's new documents) or
    copied live from other segments (a merge), then the vectors, the FAISS index and the postings.
    Not fsynced, not renamed: the commit writer publishes the folder."""

    def __init__(self, folder: Path, dim: int, vector_format: str | None = None) -> None:
        self.folder = folder
        self.dim = dim
        self.vector_format = vector_format or VECTOR_FORMAT
        self.conn = database.connect(folder / database.DB_NAME)
        self.conn.executescript(database.SCHEMA)

    def add_document(
        self, doc_id: str, content_hash: str, text: str, title: str | None, date: str | None, source: str | None,
        url: str | None, lang: str | None, date_lo: int | None, date_hi: int | None, indexed_at: str,
    ) -> None:
        self.conn.execute(
            "INSERT INTO documents (doc_id, content_hash, text, title, date, source, url, lang, date_lo, date_hi,"
            " indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc_id, content_hash, text, title, date, source, url, lang, date_lo, date_hi, indexed_at),
        )

    def add_passage(
        self, vid: int, doc_id: str, ordinal: int, start: int, end: int, terms: list[str], latent: bytes | None = None
    ) -> None:
        self.conn.execute(
            "INSERT INTO passages (vid, doc_id, ordinal, start, end, terms) VALUES (?, ?, ?, ?, ?, ?)",
            (vid, doc_id, ordinal, start, end, " ".join(terms)),
        )
        if latent is not None:
            self.conn.execute("INSERT INTO latent (vid, terms) VALUES (?, ?)", (vid, latent))

    def copy_live(self, source: Path, deleted: np.ndarray) -> None:
        """The rows of the segment at `source` that `deleted` (vids) does not name, and their documents."""
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS dead (vid INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM dead")
        conn.executemany("INSERT INTO dead (vid) VALUES (?)", ((int(v),) for v in deleted))
        conn.execute("ATTACH DATABASE ? AS src", (str(source / database.DB_NAME),))
        conn.execute(
            "INSERT INTO main.documents SELECT d.* FROM src.documents d WHERE EXISTS"
            " (SELECT 1 FROM src.passages p WHERE p.doc_id = d.doc_id AND p.vid NOT IN (SELECT vid FROM dead))"
        )
        conn.execute("INSERT INTO main.passages SELECT * FROM src.passages WHERE vid NOT IN (SELECT vid FROM dead)")
        if conn.execute("SELECT 1 FROM src.sqlite_master WHERE type = 'table' AND name = 'latent'").fetchone():
            conn.execute("INSERT INTO main.latent SELECT * FROM src.latent WHERE vid NOT IN (SELECT vid FROM dead)")
        conn.commit()
        conn.execute("DETACH DATABASE src")

    def vector_files(self, passages: int, sentences: int) -> tuple[np.ndarray, np.ndarray]:
        """Passage and sentence vector arrays backed by files of the segment's folder, to fill in place: a large
        merge does not hold its sentence vectors in memory. In format int8 they are float32 scratch files,
        quantized by `finish` and removed."""
        def backed(name: str, rows: int) -> np.ndarray:
            if self.vector_format == vectors.INT8:
                name = _SCRATCH[name]
            return np.lib.format.open_memmap(self.folder / name, mode="w+", dtype=np.float32, shape=(rows, self.dim))

        return backed(vectors.VECTORS_NAME, passages), backed(vectors.SENTENCE_VECTORS, sentences)

    def finish(
        self,
        vids: np.ndarray,
        passage_vectors: np.ndarray,
        sentence_vectors: np.ndarray,
        sentence_vids: np.ndarray,
        spans: np.ndarray,
        postings: Postings,
        index_type: str,
        centroids: np.ndarray | None = None,
    ) -> SegmentInfo:
        """Everything but the rows (committed here). Vector arrays from `vector_files` are in their files
        already (flushed here), not saved again. `centroids`: an IVF index_type's coarse centroids, shared
        with other segments (searched with one coarse search), instead of its own k-means."""
        folder, dim = self.folder, self.dim
        self.conn.commit()
        vectors_arr = np.ascontiguousarray(passage_vectors, dtype=np.float32).reshape(-1, dim)
        if len(vectors_arr) != len(vids) or len(postings.lengths) != len(vids):
            raise RuntimeError(f"internal error: {len(vectors_arr)} vectors, {len(postings.lengths)} lengths for {len(vids)} passages")
        quantized = (
            (passage_vectors, vectors.VECTORS_NAME, vectors.VECTORS_Q8, vectors.VECTORS_SCALE),
            (sentence_vectors, vectors.SENTENCE_VECTORS, vectors.SENTENCE_Q8, vectors.SENTENCE_SCALE),
        )
        for array, name, codes_name, scales_name in quantized:
            if self.vector_format == vectors.INT8:
                vectors.save_quantized(folder, codes_name, scales_name, array, dim)
            elif isinstance(array, np.memmap) and Path(array.filename) == (folder / name).resolve():
                array.flush()
            else:
                np.save(folder / name, np.ascontiguousarray(array, dtype=np.float32).reshape(-1, dim))
        np.save(folder / vectors.VIDS_NAME, vids.astype(np.int64))
        vectors.save_sentence_ids(folder, sentence_vids, spans)
        vectors.save_index(vectors.build_index(vectors_arr, vids, index_type, centroids), folder)
        postings.save(folder)
        for scratch in _SCRATCH.values():
            (folder / scratch).unlink(missing_ok=True)
        return describe_segment(folder, self.conn, dim, index_type, self.vector_format)

    def close(self) -> None:
        self.conn.close()


def describe_segment(
    folder: Path, conn: sqlite3.Connection, dim: int, index_type: str, vector_format: str = vectors.FLOAT32
) -> SegmentInfo:
    passages = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    latent = database.has_latent(conn) and conn.execute("SELECT COUNT(*) FROM latent").fetchone()[0] == passages > 0
    info = SegmentInfo(
        passages=passages,
        documents=conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
        dim=dim,
        index_type=index_type,
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        languages=sorted(x for (x,) in conn.execute("SELECT DISTINCT lang FROM documents WHERE lang IS NOT NULL")),
        sources=sorted(x for (x,) in conn.execute("SELECT DISTINCT source FROM documents WHERE source IS NOT NULL")),
        vector_format=vector_format,
        latent_terms=latent,
    )
    info.write(folder)
    return info


def live_document_hashes(conn: sqlite3.Connection, deleted: np.ndarray, doc_ids: list[str] | None = None) -> dict[str, str]:
    """doc_id -> content hash of the documents of one segment that its tombstones (`deleted`, vids) leave
    live; only those of `doc_ids` when given. A document's passages are tombstoned together, so its first
    passage says whether it is live. Raises sqlite3.DatabaseError for the caller to name the file."""
    if doc_ids is None:
        rows = conn.execute(
            "SELECT d.doc_id, d.content_hash, MIN(p.vid) FROM documents d JOIN passages p ON p.doc_id = d.doc_id GROUP BY d.doc_id"
        ).fetchall()
    else:
        rows = []
        for i in range(0, len(doc_ids), 500):
            chunk = doc_ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            rows += conn.execute(
                "SELECT d.doc_id, d.content_hash, MIN(p.vid) FROM documents d JOIN passages p ON p.doc_id = d.doc_id"
                f" WHERE d.doc_id IN ({marks}) GROUP BY d.doc_id",
                chunk,
            ).fetchall()
    gone = set(np.intersect1d(deleted, np.array([r[2] for r in rows], np.int64)).tolist())
    return {doc_id: content_hash for doc_id, content_hash, vid in rows if vid not in gone}


def load_deletes(folder: Path, name: str | None) -> np.ndarray:
    """Tombstoned vids of a segment (sorted), from the file a commit names."""
    if not name:
        return np.zeros(0, np.int64)
    path = folder / name
    try:
        with _NPY_LOCK:
            return np.load(path)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path}: tombstones are unreadable ({exc})") from None


@dataclass
class Segment:
    """An open segment. Shared by every reader whose commit names it; closed by the last one."""

    path: Path
    info: SegmentInfo
    index: faiss.Index
    vectors: np.ndarray  # memory-mapped, row order (QuantizedVectors in format int8: float32 rows when indexed)
    sentences: SentenceTable
    postings: Postings
    rows: RowTable
    conn: sqlite3.Connection
    _lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    _live: LiveRows | None = None

    @functools.cached_property
    def quantizer_key(self) -> bytes | None:
        """Which coarse centroids its IVF index was built with (vectors.shared_quantizer_key); None: not IVF."""
        return vectors.shared_quantizer_key(self.index)

    def live_rows(self, deleted: np.ndarray) -> LiveRows:
        """Its live passages under these tombstones; kept for the next reader, whose commit most often
        left this segment's tombstones as they were."""
        live = self._live
        if live is None or live.deleted != len(deleted):
            live = LiveRows.of(self.rows.vids, self.rows.doc_index, self.rows.doc_ids, deleted)
            self._live = live
        return live

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size(self) -> int:
        return len(self.rows.vids)

    def local_rows(self, vids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.rows.vids, vids)

    def fetch_passages(self, vids: list[int]) -> dict[int, database.PassageRow]:
        with self._lock:
            return database.fetch_passages(self.conn, vids)

    def fetch_document(self, doc_id: str) -> tuple[database.DocumentRow, list[database.PassageRow]] | None:
        with self._lock:
            return database.fetch_document(self.conn, doc_id)

    def fetch_latent(self, vids: list[int]) -> dict[int, bytes]:
        if not self.info.latent_terms:
            return {}
        with self._lock:
            return database.fetch_latent(self.conn, vids)

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.conn.close()

    @classmethod
    def open(cls, path: Path, dim: int) -> Segment:
        with _NPY_LOCK:
            return cls._open(path, dim)

    @classmethod
    def _open(cls, path: Path, dim: int) -> Segment:
        if not path.is_dir():
            raise IndexCorruptError(f"{path}: segment folder is missing")
        info = SegmentInfo.read(path)
        db_path = path / database.DB_NAME
        if not db_path.is_file():
            raise IndexCorruptError(f"{db_path}: SQLite file is missing")
        try:
            conn = database.connect(db_path, readonly=True)
            rows = RowTable.load(conn)
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{db_path}: SQLite file is damaged ({exc})") from None
        try:
            index = vectors.load_index(path)
            if index.ntotal != len(rows.vids):
                raise IndexCorruptError(f"{path / vectors.FAISS_NAME}: holds {index.ntotal} vectors, SQLite {len(rows.vids)} passages")
            if len(rows.vids) and index.d != dim:
                raise IndexCorruptError(f"{path / vectors.FAISS_NAME}: vectors of {index.d} dimensions, the commit says {dim}")
            exact, vids = vectors.load_vectors(path, info.vector_format)
            if not np.array_equal(vids, rows.vids):
                raise IndexCorruptError(f"{path / vectors.VIDS_NAME}: vector ids do not match the SQLite passages")
            postings = Postings.load(path, len(rows.vids))
            sentences = SentenceTable.load(path, rows.vids, info.vector_format)
        except IndexCorruptError:
            conn.close()
            raise
        return cls(path, info, index, exact, sentences, postings, rows, conn)
