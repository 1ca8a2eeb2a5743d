"""The one writer of commit points, as Lucene's IndexWriter: every change to an index is published here.

A single write, a Ray job's publish, a passage-id reservation, a merge and the conversion of a format-1
index all open a `PendingCommit` under the writer lock, tell it what changes (new segments, documents
that lose their live copy, merged segments in place of their sources, the next passage id) and publish
it. So there is one write plan (the last copy of a document id wins; a live copy is located by id and
content hash), one tombstone writer (a new deletes file beside the segment, never a rewrite) and one
place that builds a `CommitPoint`. Order on disk: segments renamed into segments/ and tombstones
fsynced first, the commit point renamed into place last; a crash leaves the old commit or the new one.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ..errors import IndexCorruptError, ModelMismatchError, SemsearchError
from . import database, vectors
from .commit import CommitPoint, SegmentEntry
from .files import write_durably
from .layout import IndexDirectory, fault
from .segment import live_document_hashes, load_deletes


class ModelIdentity(Protocol):
    """What names a model in an index: an `Embedder`, or a `ModelId` where no model is loaded."""

    spec: str
    dim: int


@dataclass(frozen=True)
class ModelId:
    """The index's model as a commit point names it (no model needs to be loaded to commit)."""

    spec: str
    dim: int


class IndexedModel(Protocol):
    """What names the model an index was built with: a commit point, or a reader's summary of one."""

    model: str
    dim: int


def check_model(indexed: IndexedModel, model: ModelIdentity, where: Path) -> None:
    """`where`: the file to name in the error."""
    spec, dim = indexed.model, indexed.dim
    if spec != model.spec or dim != model.dim:
        raise ModelMismatchError(
            f"{where}: the index was built with model {spec!r} ({dim} dims); "
            f"it cannot be used with {model.spec!r} ({model.dim} dims): pass --model {spec} "
            "(or SEMSEARCH_MODEL), or index into another --index-dir"
        )


def live_commit(layout: IndexDirectory) -> CommitPoint | None:
    """The newest commit point (a format-1 index is converted first), or None for an empty index.
    Call under the writer lock."""
    if layout.is_legacy():
        _convert_legacy(layout)
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


class SegmentView:
    """One segment's SQLite rows (read-only) and its tombstones as of `entry`: what a commit needs of a
    segment it changes."""

    def __init__(self, folder: Path, entry: SegmentEntry) -> None:
        self.entry = entry
        self.folder = folder
        db_path = folder / database.DB_NAME
        if not db_path.is_file():
            raise IndexCorruptError(f"{db_path}: SQLite file is missing")
        # A write must not publish over a segment a reader cannot open: the FAISS index is checked here
        # (memory-mapped, so cheap at any size), the SQLite file by the look-ups below.
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

    def vids_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        vids: list[int] = []
        for i in range(0, len(doc_ids), 500):
            part = list(doc_ids[i:i + 500])
            marks = ",".join("?" * len(part))
            vids += [v for (v,) in self.conn.execute(f"SELECT vid FROM passages WHERE doc_id IN ({marks})", part)]
        return np.array(vids, dtype=np.int64)

    def close(self) -> None:
        self.conn.close()


def write_tombstones(folder: Path, vids: np.ndarray, generation: int) -> str:
    """The segment's deleted passage ids as of commit `generation`: a new file, durably; returns its name."""
    name = f"deletes_{generation}.npy"
    buffer = BytesIO()
    np.save(buffer, np.unique(vids).astype(np.int64))
    write_durably(folder / name, buffer.getvalue())
    return name


@dataclass
class WritePlan:
    """What a set of upserts and deletions does to the live commit."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # same content hash as the live copy
    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)  # deletions of ids not in the index
    gone: dict[int, list[str]] = field(default_factory=dict)  # live segment (position) -> doc ids losing their copy

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)


class PendingCommit:
    """The next commit in the making, under the writer lock (see `open_commit`)."""

    def __init__(self, layout: IndexDirectory, base: CommitPoint | None) -> None:
        self.layout = layout
        self.base = base
        self.generation = (base.generation if base else 0) + 1
        self.next_vid = base.next_vid if base else 0
        self.segments = [replace(e) for e in base.segments] if base else []
        self.merges = base.merges if base else 0
        self._views: list[SegmentView] | None = None

    # -- reading the live commit -----------------------------------------------------------------

    @property
    def views(self) -> list[SegmentView]:
        """The base commit's segments, opened on first use (a merge or a reservation needs none)."""
        if self._views is None:
            self._views = []
            for entry in self.base.segments if self.base else []:
                self._views.append(SegmentView(self.layout.segments / entry.name, entry))
        return self._views

    def plan(self, upserts: Mapping[str, str], delete_ids: Sequence[str] = (), replace_unchanged: bool = False) -> WritePlan:
        """`upserts`: doc_id -> content hash of the copies to write, the last copy of each id (the caller
        keeps the last one); `delete_ids`: documents to remove (an id also upserted is not deleted).
        `replace_unchanged`: a copy identical to the live one replaces it all the same (it is written
        already); otherwise it is left alone and listed unchanged."""
        plan = WritePlan()
        deletes = [d for d in dict.fromkeys(delete_ids) if d not in upserts]
        where: dict[str, tuple[int, str]] = {}  # doc_id -> (segment position, content hash) of its live copy
        wanted = list(upserts) + deletes
        for s, view in enumerate(self.views):
            for doc_id, content_hash in view.live_documents(wanted).items():
                where[doc_id] = (s, content_hash)
        for doc_id, content_hash in upserts.items():
            found = where.get(doc_id)
            if found is None:
                plan.added.append(doc_id)
                continue
            same = found[1] == content_hash
            (plan.unchanged if same else plan.updated).append(doc_id)
            if replace_unchanged or not same:
                plan.gone.setdefault(found[0], []).append(doc_id)
        for doc_id in deletes:
            found = where.get(doc_id)
            if found is None:
                plan.not_found.append(doc_id)
            else:
                plan.deleted.append(doc_id)
                plan.gone.setdefault(found[0], []).append(doc_id)
        return plan

    # -- changes ---------------------------------------------------------------------------------

    def delete(self, gone: Mapping[int, Sequence[str]]) -> None:
        """Tombstone documents in the base commit's segments (by position); a segment left with nothing
        live leaves the commit."""
        dropped: set[str] = set()
        for s, doc_ids in gone.items():
            view = self.views[s]
            entry = next(e for e in self.segments if e.name == view.entry.name)
            if not self._tombstone(view, entry, doc_ids):
                dropped.add(entry.name)
        self.segments = [e for e in self.segments if e.name not in dropped]

    def add_segment(
        self,
        folder: Path,
        passages: int,
        documents: int,
        superseded: Sequence[str] = (),
        origin: str = "write",
        fsynced: bool = False,
    ) -> SegmentEntry | None:
        """Move a complete segment folder (a temp folder, or a prepared one) into segments/ under a new name
        and name it in this commit, last. `superseded`: its documents that a later copy replaces (tombstoned
        in it). None, and nothing moved, when nothing of it would stay live."""
        entry = SegmentEntry(self.layout.new_segment_name(), passages, documents, origin=origin, written_at=self.generation)
        if superseded:
            view = SegmentView(folder, entry)
            try:
                if not self._tombstone(view, entry, superseded):
                    return None
            finally:
                view.close()
        self.layout.publish_segment(folder, entry.name, fsynced=fsynced)
        self.segments.append(entry)
        return entry

    def add_merged(self, folder: Path, sources: Sequence[str], passages: int, documents: int, deleted: np.ndarray) -> SegmentEntry | None:
        """A merge's segment in place of its `sources` (at the first one still named), with the tombstones
        written meanwhile (`deleted`: vids, carried over since merges keep them). None when nothing of it
        stays live: the sources just leave the commit."""
        merged: SegmentEntry | None = None
        if len(deleted) < passages:
            written_at = max((e.written_at for e in self.segments if e.name in sources), default=0)
            merged = SegmentEntry(self.layout.new_segment_name(), passages, documents, origin="merge", written_at=written_at)
            self.layout.publish_segment(folder, merged.name, fsynced=True)
            if len(deleted):
                conn = database.connect(self.layout.segments / merged.name / database.DB_NAME, readonly=True)
                try:
                    merged.deleted_documents = _documents_of(conn, deleted)
                finally:
                    conn.close()
                merged.deletes = write_tombstones(self.layout.segments / merged.name, deleted, self.generation)
                merged.deleted = len(deleted)
        segments: list[SegmentEntry] = []
        placed = merged
        for entry in self.segments:
            if entry.name not in sources:
                segments.append(entry)
            elif placed is not None:
                segments.append(placed)
                placed = None
        self.segments = segments
        self.merges += 1
        return merged if any(e is merged for e in segments) else None

    def reserve(self, next_vid: int) -> None:
        """Passage ids below `next_vid` are taken (by segments written apart, or reserved for them)."""
        self.next_vid = max(self.next_vid, next_vid)

    # -- publishing ------------------------------------------------------------------------------

    @property
    def changed(self) -> bool:
        base = self.base
        if base is None:
            return bool(self.segments) or self.next_vid > 0
        return self.segments != base.segments or self.next_vid != base.next_vid or self.merges != base.merges

    def publish(
        self,
        model: ModelIdentity | None = None,
        chunking: dict | None = None,
        kind: Literal["write", "merge", "reserve"] = "write",
        passage_vectors: str | None = None,
    ) -> CommitPoint:
        """The commit point, durably in place: the change is acknowledged only after this returns.
        `model` and `chunking` name the index's (needed for its first commit; chunking, when given, is the
        one the written segments were split with). `passage_vectors`: how the index's passage vectors are
        made (None: the base commit's, "embedded" for a first commit)."""
        base = self.base
        if model is None:
            if base is None:
                raise ValueError("the first commit of an index needs its model")
            model = ModelId(base.model, base.dim)
        if kind == "write":
            fault("after_deletes")
        commit = CommitPoint(
            generation=self.generation,
            model=model.spec,
            dim=model.dim,
            next_vid=self.next_vid,
            built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            chunking=chunking if chunking is not None else (base.chunking if base else {}),
            segments=self.segments,
            merges=self.merges,
        )
        if passage_vectors is not None:
            commit.passage_vectors = passage_vectors
        elif base is not None:
            commit.passage_vectors = base.passage_vectors
        commit.publish(self.layout.commit_path(self.generation))
        if kind == "write":
            fault("after_pointer")
        elif kind == "merge":
            fault("merge_committed")
        return commit

    # -- internals -------------------------------------------------------------------------------

    def _tombstone(self, view: SegmentView, entry: SegmentEntry, doc_ids: Sequence[str]) -> bool:
        """A new deletes file naming `doc_ids`' passages in the segment (recorded in `entry`); False, and
        nothing written, when nothing would stay live."""
        deleted = np.union1d(view.deleted, view.vids_of(doc_ids))
        if len(deleted) >= entry.passages:
            return False
        entry.deletes = write_tombstones(view.folder, deleted, self.generation)
        entry.deleted = len(deleted)
        entry.deleted_documents += len(doc_ids)
        view.deleted = deleted
        return True

    def close(self) -> None:
        for view in self._views or []:
            view.close()
        self._views = None


@contextlib.contextmanager
def open_commit(layout: IndexDirectory, model: ModelIdentity | None = None, clean: bool = True) -> Iterator[PendingCommit]:
    """The writer lock, the live commit (converted from format 1 if need be; checked against `model`), and
    the next commit to fill and publish. `clean`: first remove what interrupted writes and merges left."""
    with layout.writer_lock():
        base = live_commit(layout)
        if base is not None and model is not None:
            check_model(base, model, layout.commit_path(base.generation))
        if clean:
            layout.remove_leftovers()
        pending = PendingCommit(layout, base)
        try:
            yield pending
        finally:
            pending.close()


def _documents_of(conn: sqlite3.Connection, vids: np.ndarray) -> int:
    """How many documents own these passages."""
    count = 0
    for i in range(0, len(vids), 500):
        part = [int(v) for v in vids[i:i + 500]]
        marks = ",".join("?" * len(part))
        count += conn.execute(f"SELECT COUNT(DISTINCT doc_id) FROM passages WHERE vid IN ({marks})", part).fetchone()[0]
    return count


def convert_legacy(layout: IndexDirectory) -> None:
    """Convert a format-1 index now (under the writer lock); nothing when another process did meanwhile."""
    with layout.writer_lock():
        if layout.is_legacy():
            _convert_legacy(layout)


def _convert_legacy(layout: IndexDirectory) -> None:
    """A format-1 index becomes one segment (hard-linked, nothing re-embedded) and its first commit."""
    from .legacy import convert_snapshot  # the format-1 reader is only loaded for an old index

    with layout.temp_folder() as temp:
        converted = convert_snapshot(layout, temp)
        pending = PendingCommit(layout, None)
        if converted.passages:
            pending.add_segment(temp, converted.passages, converted.documents, origin="convert")
        pending.reserve(converted.next_vid)
        pending.publish(ModelId(converted.model, converted.dim), converted.chunking)
    layout.remove_leftovers()
    converted.log(layout)
