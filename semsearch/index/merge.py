"""Merging segments (what to merge: merge_policy.py): an atomic commit like a write.

A merge copies the live passages of its sources (SQLite rows, vectors, sentence vectors, postings;
nothing is re-embedded or re-analyzed; vids are kept, so tombstones keep their meaning) into a new
segment WITHOUT the writer lock, so writes and searches go on. Then, under the writer lock, it carries
over the tombstones written meanwhile and publishes a commit point that names the merged segment in
place of its sources. One merge runs at a time per index (layout.merge_lock).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError
from ..store import database, vectors
from ..store.commit import CommitPoint
from ..store.commit_writer import live_commit, open_commit
from ..store.layout import IndexDirectory, fault, fsync_tree
from ..store.lexical import Postings
from ..store.open_segments import OpenSegments
from ..store.reader import ranges
from ..store.segment import Segment, SegmentWriter, load_deletes
from .merge_policy import MergePolicy

log = logging.getLogger(__name__)


@dataclass
class MergeReport:
    sources: list[str]
    merged: str | None  # None when everything was deleted meanwhile
    passages: int
    purged: int  # tombstoned passages left behind
    seconds: float
    commit: str


class Merger:
    def __init__(
        self,
        index_dir,
        index_type: str | None = None,
        index_tiers: Sequence[tuple[int, str]] | None = None,
        open_segments: OpenSegments | None = None,
    ) -> None:
        self.layout = IndexDirectory(index_dir)
        self.index_type = index_type
        self.index_tiers = index_tiers
        self.open_segments = open_segments  # a serving process's: sources borrowed, merged segments warmed
        self.merging: tuple[str, ...] = ()  # the segments being merged now (empty while only looking for merges)

    def maybe_merge(self, policy: MergePolicy = MergePolicy(), limit: int = 10) -> list[MergeReport]:
        """Run what the policy asks for until it asks for nothing (at most `limit` merges). Returns at once,
        merging nothing, when another merge holds the index's merge lock."""
        with self.layout.merge_lock(blocking=False) as locked:
            return self._merge_while(lambda commit: policy.find_merges(commit.segments), limit) if locked else []

    def force_merge(self, max_segments: int = 1) -> list[MergeReport]:
        """Merge down to `max_segments` segments with no tombstones (Elasticsearch's _forcemerge)."""
        with self.layout.merge_lock():
            return self._merge_while(lambda commit: MergePolicy.force(commit.segments, max_segments), 1000)

    def _merge_while(self, plan, limit: int) -> list[MergeReport]:
        """Merge the first group `plan(commit)` names, again, until it names none (at most `limit` times)."""
        reports: list[MergeReport] = []
        for _ in range(limit):
            commit = self._commit()
            groups = plan(commit) if commit else []
            if not groups:
                break
            self.merging = tuple(groups[0])
            try:
                report = self._merge(groups[0])
            finally:
                self.merging = ()
            if report is None:
                break
            reports.append(report)
        return reports

    def _commit(self) -> CommitPoint | None:
        """The live commit; what an interrupted write or merge left is removed first, so that a merge
        run (`semsearch optimize`) that finds nothing to merge still cleans up after a killed one."""
        with self.layout.writer_lock():
            self.layout.remove_leftovers()
            return live_commit(self.layout)

    def _merge(self, names: list[str]) -> MergeReport | None:
        """Merge these segments of the live commit into one; None if the commit no longer names them all."""
        started = time.perf_counter()
        with self.layout.writer_lock():  # a consistent view of the sources' tombstones at the start
            commit = live_commit(self.layout)
            entries = [commit.segment(n) for n in names] if commit else [None]
            if any(e is None for e in entries):
                return None
            folders = [self.layout.segments / n for n in names]
            before = [load_deletes(f, e.deletes) for f, e in zip(folders, entries)]
        sources: list[Segment] = []
        opened: list[Segment] = []  # by this merge, closed by it; borrowed ones belong to the served reader
        warmed: list[Segment] = []
        try:
            # Outside the lock: only merges remove segments that hold live passages, and this one holds the
            # merge lock; a source that a write emptied and pruned meanwhile fails to open: no merge then.
            for folder in folders:
                borrowed = self.open_segments.borrow(folder.name) if self.open_segments is not None else None
                if borrowed is None:
                    borrowed = Segment.open(folder, commit.dim)
                    opened.append(borrowed)
                sources.append(borrowed)
            with self.layout.temp_folder() as temp:
                passages = self._write_merged(temp, sources, before, commit.dim)
                fault("merge_written")
                if self.open_segments is not None and passages:
                    warmed.append(Segment.open(temp, commit.dim))  # before the commit: its readers find it open
                    warmed[0].live_rows(np.zeros(0, np.int64))
                # Flushed before the writer lock: flushing a large segment under it would hold every write back.
                fsync_tree(temp)
                report = self._commit_merge(temp, names, sources, before, passages, started, warmed)
        except (IndexCorruptError, sqlite3.OperationalError) as exc:  # a source emptied and removed meanwhile
            log.warning("merge of %s abandoned: %s", names, exc, extra={"event": "merge_abandoned"})
            return None
        finally:
            for segment in opened + warmed:  # a warmed segment handed over is no longer in `warmed`
                segment.conn.close()
        log.info(
            "merged %d segment(s) into %s: %d passages, %d tombstones purged, %.2f s",
            len(names), report.merged, report.passages, report.purged, report.seconds,
            extra={"event": "merge", "sources": names, "merged": report.merged, "commit": report.commit},
        )
        return report

    def _write_merged(self, temp, sources: list[Segment], deleted: list[np.ndarray], dim: int) -> int:
        live = [np.flatnonzero(~np.isin(s.rows.vids, d)) if len(d) else np.arange(s.size) for s, d in zip(sources, deleted)]
        vids = np.concatenate([s.rows.vids[rows] for s, rows in zip(sources, live)])
        order = np.argsort(vids, kind="stable")
        new_row = np.empty(len(vids), np.int64)
        new_row[order] = np.arange(len(vids))
        vids = vids[order]
        bounds = np.cumsum([0] + [len(rows) for rows in live])
        remaps, lengths = [], np.zeros(len(vids), np.int64)
        for i, (segment, rows) in enumerate(zip(sources, live)):
            remap = np.full(segment.size, -1, np.int64)
            remap[rows] = new_row[bounds[i]:bounds[i + 1]]
            remaps.append(remap)
            ptr = segment.sentences.ptr
            lengths[remap[rows]] = ptr[rows + 1] - ptr[rows]
        new_ptr = np.zeros(len(vids) + 1, np.int64)
        np.cumsum(lengths, out=new_ptr[1:])
        writer = SegmentWriter(temp, dim)
        try:
            passage_vectors, sentence_vectors = writer.vector_files(len(vids), int(new_ptr[-1]))
            spans = np.empty((int(new_ptr[-1]), 2), np.int32)
            for segment, rows, remap in zip(sources, live, remaps):
                passage_vectors[remap[rows]] = segment.vectors[rows]
                counts = segment.sentences.ptr[rows + 1] - segment.sentences.ptr[rows]
                dest = ranges(new_ptr[remap[rows]], counts)
                src = ranges(segment.sentences.ptr[rows], counts)
                sentence_vectors[dest] = segment.sentences.vectors[src]
                spans[dest] = segment.sentences.spans[src]
            for segment, dead in zip(sources, deleted):
                writer.copy_live(segment.path, dead)
            postings = Postings.merge([(s.postings, remap) for s, remap in zip(sources, remaps)], len(vids))
            index_type = vectors.choose_index_type(len(vids), self.index_type, self.index_tiers)
            writer.finish(vids, passage_vectors, sentence_vectors, np.repeat(vids, lengths), spans, postings, index_type)
        finally:
            writer.close()
        return len(vids)

    def _commit_merge(
        self,
        temp: Path,
        names: list[str],
        sources: list[Segment],
        before: list[np.ndarray],
        passages: int,
        started: float,
        warmed: list[Segment],
    ) -> MergeReport:
        with open_commit(self.layout, clean=False) as pending:
            commit = pending.base
            assert commit is not None  # the merge's sources were named by it
            entries = [commit.segment(n) for n in names]
            # Tombstones written while the merge ran are carried into the merged segment (vids are kept). A source
            # no longer in the commit was emptied by a write (only merges, serialized, remove anything else).
            carried = np.unique(np.concatenate([np.zeros(0, np.int64)] + [
                np.setdiff1d(load_deletes(self.layout.segments / e.name, e.deletes), old) if e is not None
                else np.setdiff1d(source.rows.vids, old)
                for e, source, old in zip(entries, sources, before)
            ]))
            conn = database.connect(temp / database.DB_NAME, readonly=True)
            try:
                documents = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            finally:
                conn.close()
            merged = pending.add_merged(temp, names, passages, documents, carried)
            if merged is not None and warmed:  # open files follow the rename
                warmed[0].path = self.layout.segments / merged.name
            new_commit = pending.publish(kind="merge")
            if merged is not None and warmed and self.open_segments is not None:
                self.open_segments.warmed(warmed.pop())
            self.layout.remove_leftovers()
        purged = sum(s.size for s in sources) - passages
        path = self.layout.commit_path(new_commit.generation)
        return MergeReport(names, merged.name if merged else None, passages, purged, time.perf_counter() - started, path.name)
