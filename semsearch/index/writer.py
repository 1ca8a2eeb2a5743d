"""Applying documents and deletions to an index: one new segment and one new commit point per write.

A write costs the size of the change: unchanged documents (same content hash) are not touched; new
and changed ones are chunked, embedded and written as ONE new immutable segment; the passages they
replace, and deleted documents' passages, are tombstoned in the segments that hold them (a new
deletes file, never an in-place rewrite); a new commit point naming all of it is published last, by
rename. Nothing of the rest of the collection is read but the SQLite rows of the documents written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from ..documents import Document, ReadProblem
from ..embedding import Embedder
from ..errors import ModelMismatchError, SemsearchError
from ..store.commit import CommitPoint, SegmentEntry
from ..store.layout import IndexDirectory, fault
from ..text.lang import detect_language
from .chunking import ChunkingConfig
from .live_segments import SegmentView, locate_live, tombstone
from .segment_build import chunk, embed_passages, write_segment_files

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


class ModelIdentity(Protocol):
    """What names a model in an index: an `Embedder`, or `publish.ModelId` where no model is loaded."""

    spec: str
    dim: int


def check_model(manifest, embedder: ModelIdentity, where: Path) -> None:
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
            views = [SegmentView(self.layout.segments / entry.name, entry) for entry in commit.segments] if commit else []
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
                        entry, written = self._new_segment(temp, plan, next_vid, report, progress)
                    next_vid += written
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
        self, views: list[SegmentView], documents: Sequence[Document], delete_ids: Sequence[str], report: WriteReport
    ) -> tuple[list[Document], dict[int, list[str]]]:
        """Documents to (re)embed, and the live documents to tombstone, by segment. The last copy of an id wins."""
        latest: dict[str, Document] = {}
        for doc in documents:
            latest.pop(doc.doc_id, None)
            latest[doc.doc_id] = doc
        deletes = [d for d in dict.fromkeys(delete_ids) if d not in latest]
        wanted = list(latest) + deletes
        where = locate_live(views, wanted)  # doc_id -> (segment, content hash) of its live copy
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

    def _new_segment(
        self, temp: Path, plan: list[Document], first_vid: int, report: WriteReport, progress: bool
    ) -> tuple[SegmentEntry | None, int]:
        """The written documents as one segment, renamed into segments/ (not yet named by a commit),
        and its passage count."""
        passages = chunk(plan, self.embedder.count_tokens, self.chunking)
        embedded = embed_passages(passages, self.embedder.embed_passages, self.embedder.dim, self.batch_size, progress)
        report.embed_seconds = embedded.seconds
        report.passages_embedded = len(passages)
        if not passages:
            return None, 0
        info = write_segment_files(
            temp, plan, passages, embedded, first_vid, self.embedder.dim, self.index_type, self.index_tiers
        )
        fault("segment_written")
        name = self.layout.new_segment_name()
        self.layout.publish_segment(temp, name)
        return SegmentEntry(name, info.passages, info.documents), len(passages)

    def _tombstone(
        self, views: list[SegmentView], entries: list[SegmentEntry], gone: dict[int, list[str]], generation: int
    ) -> list[SegmentEntry]:
        """A new deletes file in each segment that loses documents; a segment left with nothing is dropped."""
        dropped = {s for s, doc_ids in gone.items() if not tombstone(views[s], entries[s], doc_ids, generation)}
        fault("after_deletes")
        return [e for s, e in enumerate(entries) if s not in dropped]

    def _totals(self, commit: CommitPoint | None, report: WriteReport) -> None:
        if commit is not None:
            report.documents, report.passages = commit.documents, commit.passages
            report.snapshot = self.layout.commit_path(commit.generation).name
