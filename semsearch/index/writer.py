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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..documents import Document, ReadProblem
from ..embedding import Embedder
from ..store.commit import CommitPoint
from ..store.commit_writer import PendingCommit, WritePlan, open_commit
from ..store.layout import IndexDirectory, fault
from ..text.lang import detect_language
from .chunking import ChunkingConfig
from .segment_build import DEFAULT_PASSAGE_VECTORS, chunk, embed_passages, latent_blobs, write_segment_files

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
    commit: str | None = None  # the commit point's file name after the write
    snapshot: str | None = None  # the same, under the name of earlier versions' answers

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def count(self, plan: WritePlan) -> None:
        """Add what a commit's plan did (a job sums several commits)."""
        self.added += len(plan.added)
        self.updated += len(plan.updated)
        self.unchanged += len(plan.unchanged)
        self.deleted += len(plan.deleted)
        self.not_found += plan.not_found

    def committed(self, layout: IndexDirectory, commit: CommitPoint | None) -> None:
        """The index's totals after the write, and its commit point."""
        if commit is not None:
            self.documents, self.passages = commit.documents, commit.passages
            self.commit = self.snapshot = layout.commit_path(commit.generation).name

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failed"] = [{"origin": p.origin, "reason": p.reason} for p in self.failed]
        data["notes"] = [{"origin": p.origin, "note": p.reason} for p in self.notes]
        data["passages_per_second"] = round(self.passages_embedded / self.embed_seconds, 2) if self.embed_seconds else None
        return data


class IndexWriter:
    def __init__(
        self,
        index_dir: str | Path,
        embedder: Embedder,
        chunking: ChunkingConfig = ChunkingConfig(),
        index_type: str | None = None,
        batch_size: int = 32,
        index_tiers: Sequence[tuple[int, str]] | None = None,
        passage_vectors: str = DEFAULT_PASSAGE_VECTORS,
        latent_terms: bool = True,
    ) -> None:
        self.layout = IndexDirectory(index_dir)
        self.embedder = embedder
        self.chunking = chunking
        self.index_type = index_type
        self.batch_size = batch_size
        self.index_tiers = index_tiers  # None: vectors.INDEX_TIERS (segment size -> index type)
        self.passage_vectors = passage_vectors  # segment_build.PASSAGE_VECTORS, for a new index (an index keeps its own)
        self.latent_terms = latent_terms  # False: none stored (a monolingual archive saves their CPU; search then ranks without)
        self._warned = False

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
        latest: dict[str, Document] = {}  # the last copy of each id, in the order of those last copies
        for doc in documents:
            latest.pop(doc.doc_id, None)
            latest[doc.doc_id] = doc
        for doc in latest.values():
            if not doc.lang:
                doc.lang = detect_language(doc.text)
        with open_commit(self.layout, self.embedder) as pending:
            plan = pending.plan({d.doc_id: d.content_hash() for d in latest.values()}, delete_ids)
            report.count(plan)
            if plan.changed:
                written = set(plan.added) | set(plan.updated)
                todo = [doc for doc in latest.values() if doc.doc_id in written]
                passage_vectors: str | None = None  # nothing embedded (deletions): the index keeps its own
                if todo:
                    passage_vectors = self._passage_vectors(pending)
                    with self.layout.temp_folder() as temp:  # from the start: a crash while embedding leaves it
                        self._write_segment(temp, todo, pending, report, progress, passage_vectors)
                pending.delete(plan.gone)
                commit = pending.publish(self.embedder, asdict(self.chunking), passage_vectors=passage_vectors)
                self.layout.remove_leftovers()
                if on_published is not None:
                    on_published(self.layout.commit_path(commit.generation))
            else:
                commit = pending.base
            report.committed(self.layout, commit)
        report.seconds = time.perf_counter() - started
        return report

    def _passage_vectors(self, pending: PendingCommit) -> str:
        """How this write makes passage vectors: the writer's choice for a new index, the index's own after
        (recorded in its commit point), so that one index never ranks passage vectors of two kinds."""
        base = pending.base
        if base is None:
            return self.passage_vectors
        if base.passage_vectors != self.passage_vectors and not self._warned:
            self._warned = True
            log.warning(
                "passage vectors: the index at %s makes them %r (set when it was created); this write does too, not %r",
                self.layout.root, base.passage_vectors, self.passage_vectors,
            )
        return base.passage_vectors

    def _latent_blobs(self, texts: Sequence[str]) -> list[bytes] | None:
        return latent_blobs(self.embedder.latent_terms, texts, self.batch_size)

    def _write_segment(
        self, temp: Path, todo: list[Document], pending: PendingCommit, report: WriteReport, progress: bool, passage_vectors: str
    ) -> None:
        """The written documents as one new segment of the pending commit."""
        passages = chunk(todo, self.embedder.count_tokens, self.chunking)
        embedded = embed_passages(
            passages, self.embedder.embed_passages, self.embedder.dim, self.batch_size, progress, passage_vectors,
            self._latent_blobs if self.latent_terms else None,
        )
        report.embed_seconds = embedded.seconds
        report.passages_embedded = len(passages)
        if not passages:
            return
        info = write_segment_files(
            temp, todo, passages, embedded, pending.next_vid, self.embedder.dim, self.index_type, self.index_tiers
        )
        fault("segment_written")
        pending.reserve(pending.next_vid + len(passages))
        pending.add_segment(temp, info.passages, info.documents)
