"""Applying documents and deletions to an index: one new segment and one new commit point per write.

A write costs the size of the change: unchanged documents (same content hash) are not touched; new
and changed ones are chunked, embedded and written as ONE new immutable segment; the passages they
replace, and deleted documents' passages, are tombstoned in the segments that hold them (a new
deletes file, never an in-place rewrite); a new commit point naming all of it is published last, by
rename. Nothing of the rest of the collection is read but the SQLite rows of the documents written.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..dates import date_bounds
from ..documents import Document, Passage, ReadProblem
from ..embedding import Embedder
from ..errors import IndexCorruptError, ModelMismatchError, SemsearchError
from ..store import database, vectors
from ..store.commit import CommitPoint, SegmentEntry
from ..store.layout import IndexDirectory, fault, write_durably
from ..store.lexical import Postings
from ..store.segment import live_document_hashes, load_deletes, write_segment
from ..text.analyzer import analyze
from ..text.lang import detect_language
from ..text.sentences import sentence_spans
from .chunking import ChunkingConfig, split_passages

log = logging.getLogger(__name__)


@dataclass
class WriteReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: list[ReadProblem] = field(default_factory=list)
    notes: list[ReadProblem] = field(default_factory=list)  # inputs read with a remark (decoded as Windows-1252...)
    not_found: list[str] = field(default_factory=list)
    passages_embedded: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    documents: int = 0  # totals in the index after the write
    passages: int = 0
    snapshot: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failed"] = [{"origin": p.origin, "reason": p.reason} for p in self.failed]
        data["notes"] = [{"origin": p.origin, "note": p.reason} for p in self.notes]
        data["passages_per_second"] = round(self.passages_embedded / self.embed_seconds, 2) if self.embed_seconds else None
        return data


@dataclass
class EmbeddedPassages:
    """Vectors of new passages and of each of their sentences (for highlights and ranking)."""

    passages: np.ndarray  # (n, dim)
    sentences: np.ndarray  # (s, dim), grouped by passage in passage order
    spans: np.ndarray  # (s, 2) sentence offsets relative to the passage start
    counts: np.ndarray  # (n,) sentences per passage


def embedding_text(doc: Document, text: str) -> str:
    """What the model sees for a passage or one of its sentences: the text under its document's
    headline, when the headline is not its lede. For sentences the headline names what a lone
    sentence leaves implicit ("Sa naissance coïncide..."): +0.7 point R@1 on PIAF dev."""
    title = doc.title
    if title and not doc.text.startswith(title.rstrip("…")):
        return f"{title}\n{text}"
    return text


def check_model(manifest, embedder: Embedder, where: Path) -> None:
    """`manifest`: anything with the index's model and dim (a commit point, a reader's manifest);
    `where`: the file to name in the error."""
    if manifest.model != embedder.spec or manifest.dim != embedder.dim:
        raise ModelMismatchError(
            f"{where}: the index was built with model {manifest.model!r} ({manifest.dim} dims); "
            f"it cannot be used with {embedder.spec!r} ({embedder.dim} dims): pass --model {manifest.model} "
            "(or SEMSEARCH_MODEL), or index into another --index-dir"
        )


def live_commit(layout: IndexDirectory) -> CommitPoint | None:
    """The newest commit point (converting a format-1 index first), or None for an empty index.
    Call under the writer lock."""
    if layout.is_legacy():
        from ..store.legacy import convert_legacy

        convert_legacy(layout, have_lock=True)
    generation = layout.generation()
    return CommitPoint.read(layout.commit_path(generation)) if generation else None


def model_load_error(exc: SemsearchError, index_dir: str | Path, spec: str) -> SemsearchError:
    """A model that cannot be loaded: when the index's commit point is what asked for it, say so and name it."""
    layout = IndexDirectory(index_dir)
    try:
        generation = layout.generation()
        model = CommitPoint.read(layout.commit_path(generation)).model if generation else None
    except SemsearchError:
        model = None
    if model != spec:
        return exc
    return SemsearchError(
        f"{layout.commit_path(generation)}: the index was built with model {spec!r}, which cannot be loaded here ({exc})"
    )


class _SegmentView:
    """What a write needs of one live segment: its SQLite rows (read-only) and its tombstones."""

    def __init__(self, layout: IndexDirectory, entry: SegmentEntry) -> None:
        self.entry = entry
        self.folder = layout.segments / entry.name
        db_path = self.folder / database.DB_NAME
        if not db_path.is_file():
            raise IndexCorruptError(f"{db_path}: SQLite file is missing")
        # A write must not publish over a segment a reader cannot open: the FAISS index is checked here
        # (memory-mapped: milliseconds at 1M passages), the SQLite file by the look-ups below.
        vectors.load_index(self.folder)
        self.db_path = db_path
        self.conn = database.connect(db_path, readonly=True)
        self.deleted = load_deletes(self.folder, entry.deletes)

    def live_documents(self, doc_ids: list[str]) -> dict[str, str]:
        """doc_id -> content hash of those of `doc_ids` this segment holds live."""
        try:
            return live_document_hashes(self.conn, self.deleted, doc_ids)
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.db_path}: SQLite file is damaged ({exc})") from None

    def vids_of(self, doc_ids: list[str]) -> np.ndarray:
        marks = ",".join("?" * len(doc_ids))
        rows = self.conn.execute(f"SELECT vid FROM passages WHERE doc_id IN ({marks})", doc_ids).fetchall()
        return np.array([v for (v,) in rows], dtype=np.int64)

    def close(self) -> None:
        self.conn.close()


class IndexWriter:
    def __init__(
        self,
        index_dir: str | Path,
        embedder: Embedder,
        chunking: ChunkingConfig = ChunkingConfig(),
        index_type: str | None = None,
        batch_size: int = 32,
        index_tiers: Sequence[tuple[int, str]] | None = None,
    ) -> None:
        self.layout = IndexDirectory(index_dir)
        self.embedder = embedder
        self.chunking = chunking
        self.index_type = index_type
        self.batch_size = batch_size
        self.index_tiers = index_tiers  # None: vectors.INDEX_TIERS (segment size -> index type)

    def write(
        self,
        documents: Sequence[Document] = (),
        delete_ids: Sequence[str] = (),
        progress: bool = False,
        on_published: Callable[[Path], None] | None = None,
    ) -> WriteReport:
        """Apply upserts and deletions as one new commit; returns once it is durable on disk.
        `on_published` is called with the commit point's path while the writer lock is still held."""
        started = time.perf_counter()
        report = WriteReport()
        with self.layout.writer_lock():
            commit = live_commit(self.layout)
            if commit is not None:
                check_model(commit, self.embedder, self.layout.commit_path(commit.generation))
            self.layout.remove_leftovers()
            views = [_SegmentView(self.layout, entry) for entry in commit.segments] if commit else []
            try:
                plan, gone = self._plan(views, documents, delete_ids, report)
                if not report.changed:
                    self._totals(commit, report)
                    report.seconds = time.perf_counter() - started
                    return report
                generation = (commit.generation if commit else 0) + 1
                next_vid = commit.next_vid if commit else 0
                entries = [replace(e) for e in commit.segments] if commit else []
                if plan:
                    with self.layout.temp_folder() as temp:  # from the start: a crash while embedding leaves it
                        passages = self._chunk(plan)
                        embedded = self._embed(plan, passages, report, progress)
                        entry = self._new_segment(temp, plan, passages, embedded, next_vid)
                    next_vid += len(passages)
                    if entry is not None:
                        entries.append(entry)
                entries = self._tombstone(views, entries, gone, generation)
            finally:
                for view in views:
                    view.close()
            new_commit = CommitPoint(
                generation=generation,
                model=self.embedder.spec,
                dim=self.embedder.dim,
                next_vid=next_vid,
                built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                chunking=asdict(self.chunking),
                segments=entries,
                merges=commit.merges if commit else 0,
            )
            path = self.layout.commit_path(generation)
            new_commit.publish(path)
            fault("after_pointer")
            self.layout.remove_leftovers()
            self._totals(new_commit, report)
            if on_published is not None:
                on_published(path)
        report.seconds = time.perf_counter() - started
        return report

    # -- steps -------------------------------------------------------------------------------

    def _plan(
        self, views: list[_SegmentView], documents: Sequence[Document], delete_ids: Sequence[str], report: WriteReport
    ) -> tuple[list[Document], dict[int, list[str]]]:
        """Documents to (re)embed, and the live documents to tombstone, by segment. The last copy of an id wins."""
        latest: dict[str, Document] = {}
        for doc in documents:
            latest.pop(doc.doc_id, None)
            latest[doc.doc_id] = doc
        deletes = [d for d in dict.fromkeys(delete_ids) if d not in latest]
        wanted = list(latest) + deletes
        where: dict[str, tuple[int, str]] = {}  # doc_id -> (segment, content hash) of its live copy
        for s, view in enumerate(views):
            for doc_id, content_hash in view.live_documents(wanted).items():
                where[doc_id] = (s, content_hash)
        todo: list[Document] = []
        gone: dict[int, list[str]] = {}
        for doc in latest.values():
            if not doc.lang:
                doc.lang = detect_language(doc.text)
            found = where.get(doc.doc_id)
            if found is None:
                report.added += 1
                todo.append(doc)
            elif found[1] != doc.content_hash():
                report.updated += 1
                todo.append(doc)
                gone.setdefault(found[0], []).append(doc.doc_id)
            else:
                report.unchanged += 1
        for doc_id in deletes:
            found = where.get(doc_id)
            if found is not None:
                report.deleted += 1
                gone.setdefault(found[0], []).append(doc_id)
            else:
                report.not_found.append(doc_id)
        return todo, gone

    def _chunk(self, plan: list[Document]) -> list[tuple[Document, Passage]]:
        return [
            (doc, passage)
            for doc in plan
            for passage in split_passages(doc, self.embedder.count_tokens, self.chunking)
        ]

    def _embed_texts(self, texts: list[str], bar: tqdm) -> np.ndarray:
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            chunk = texts[i:i + self.batch_size]
            out[i:i + len(chunk)] = self.embedder.embed_passages(chunk)
            bar.update(len(chunk))
        return out

    def _embed(
        self, plan: list[Document], passages: list[tuple[Document, Passage]], report: WriteReport, progress: bool
    ) -> EmbeddedPassages:
        texts = [embedding_text(doc, p.text) for doc, p in passages]
        spans = [sentence_spans(p.text, p.lang or "fr") for _, p in passages]
        # A passage of one sentence embeds once: its sentence vector is its passage vector.
        own = [
            i for i, sp in enumerate(spans)
            if len(sp) != 1 or embedding_text(passages[i][0], passages[i][1].text[sp[0][0]:sp[0][1]]) != texts[i]
        ]
        sentence_texts = [embedding_text(passages[i][0], passages[i][1].text[a:b]) for i in own for a, b in spans[i]]
        t0 = time.perf_counter()
        with tqdm(total=len(texts) + len(sentence_texts), unit="text", desc="embedding", disable=not progress, leave=False) as bar:
            passage_vectors = self._embed_texts(texts, bar)
            own_vectors = self._embed_texts(sentence_texts, bar)
        report.embed_seconds = time.perf_counter() - t0
        report.passages_embedded = len(texts)
        counts = np.array([len(sp) for sp in spans], dtype=np.int64)
        sentences = np.zeros((int(counts.sum()), self.embedder.dim), dtype=np.float32)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
        cursor = 0
        own_set = set(own)
        for i, sp in enumerate(spans):
            if i in own_set:
                sentences[starts[i]:starts[i] + len(sp)] = own_vectors[cursor:cursor + len(sp)]
                cursor += len(sp)
            else:
                sentences[starts[i]] = passage_vectors[i]
        flat_spans = np.array([span for sp in spans for span in sp], dtype=np.int32).reshape(-1, 2)
        return EmbeddedPassages(passage_vectors, sentences, flat_spans, counts)

    def _new_segment(
        self, temp: Path, plan: list[Document], passages: list[tuple[Document, Passage]], new: EmbeddedPassages, first_vid: int
    ) -> SegmentEntry | None:
        """The written documents as one segment, renamed into segments/ (not yet named by a commit)."""
        if not passages:
            return None
        vids = np.arange(first_vid, first_vid + len(passages), dtype=np.int64)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        conn = database.connect(temp / database.DB_NAME)
        try:
            conn.executescript(database.SCHEMA)
            for doc in plan:
                lo, hi = date_bounds(doc.date) if doc.date else (None, None)
                conn.execute(
                    "INSERT INTO documents (doc_id, content_hash, text, title, date, source, url, lang, date_lo, date_hi,"
                    " indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (doc.doc_id, doc.content_hash(), doc.text, doc.title, doc.date, doc.source, doc.url, doc.lang, lo, hi, now),
                )
            term_lists = []
            for vid, (doc, passage) in zip(vids.tolist(), passages):
                terms = analyze(embedding_text(doc, passage.text), passage.lang or "fr")
                term_lists.append(terms)
                conn.execute(
                    "INSERT INTO passages (vid, doc_id, ordinal, start, end, terms) VALUES (?, ?, ?, ?, ?, ?)",
                    (vid, doc.doc_id, passage.ordinal, passage.start, passage.end, " ".join(terms)),
                )
            index_type = vectors.choose_index_type(len(vids), self.index_type, self.index_tiers)
            info = write_segment(
                temp, conn, vids, new.passages, new.sentences, np.repeat(vids, new.counts), new.spans,
                Postings.build(term_lists), index_type, self.embedder.dim,
            )
        finally:
            conn.close()
        fault("segment_written")
        name = self.layout.new_segment_name()
        self.layout.publish_segment(temp, name)
        return SegmentEntry(name, info.passages, info.documents)

    def _tombstone(
        self, views: list[_SegmentView], entries: list[SegmentEntry], gone: dict[int, list[str]], generation: int
    ) -> list[SegmentEntry]:
        """A new deletes file in each segment that loses documents; a segment left with nothing is dropped."""
        dropped: set[int] = set()
        for s, doc_ids in gone.items():
            view, entry = views[s], entries[s]
            deleted = np.union1d(view.deleted, view.vids_of(doc_ids))
            if len(deleted) >= entry.passages:
                dropped.add(s)
                continue
            name = f"deletes_{generation}.npy"
            buffer = BytesIO()
            np.save(buffer, deleted.astype(np.int64))
            write_durably(view.folder / name, buffer.getvalue())
            entry.deletes, entry.deleted = name, len(deleted)
            entry.deleted_documents += len(doc_ids)
        fault("after_deletes")
        return [e for s, e in enumerate(entries) if s not in dropped]

    def _totals(self, commit: CommitPoint | None, report: WriteReport) -> None:
        if commit is not None:
            report.documents, report.passages = commit.documents, commit.passages
            report.snapshot = self.layout.commit_path(commit.generation).name
