"""Publishing prepared segments: the half of a write that only the driver does, under the writer lock.

`open_staging` makes a job's staging folder (its writers take passage ids from its pool: vids.py).
`publish_segments` names segments prepared there (prepare.py) in ONE new commit point, with the tombstones that leave
one live copy of each document: the last one, in the order the segments are given (the input order,
as a single write keeps the last copy of a repeated id). Every step before the commit point is
invisible and, after a crash, removed by the next clean-up; nothing is visible half-written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ...index.live_segments import SegmentView, locate_live, tombstone
from ...index.writer import check_model, live_commit
from ...store.commit import CommitPoint, SegmentEntry
from ...store.layout import IndexDirectory, fault, fsync_dir
from .folder import create_staging, empty_pool, pool_lock
from .prepare import PreparedSegment
from .vids import ModelId, check_index_model, next_commit, staging_meta


@dataclass
class PublishReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0  # a prepared copy identical to the live one (it replaces it all the same)
    deleted: int = 0
    not_found: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)  # names of the segments published
    commit: CommitPoint | None = None  # the live commit afterwards (None: the index is still empty)

    @property
    def changed(self) -> bool:
        return bool(self.segments or self.deleted)


def open_staging(layout: IndexDirectory, folder: Path, model: ModelId, chunking: dict) -> None:
    """Make `folder` (a `layout.temp_folder()` the caller holds for the whole job) the job's staging folder,
    once the index's model is checked: a mismatch fails before any work."""
    check_index_model(layout, model)
    create_staging(folder, staging_meta(model, chunking))


def publish_segments(
    layout: IndexDirectory,
    prepared: Sequence[PreparedSegment],
    model: ModelId,
    chunking: dict,
    delete_ids: Sequence[str] = (),
    release: Path | None = None,
) -> PublishReport:
    """Name `prepared` (in order: a later copy of a doc id wins) in one new commit point; tombstone what they
    replace, and `delete_ids` they do not hold. `release`: the job's staging folder, at its last commit: the
    ids its pool still holds go back to the index when no other writer allocated after them. No change: no
    commit point."""
    report = PublishReport()
    with contextlib.ExitStack() as locks:
        pool = locks.enter_context(pool_lock(release)) if release else None  # the pool's lock first, as claim_vids takes them
        locks.enter_context(layout.writer_lock())
        commit = live_commit(layout)
        next_vid = max([commit.next_vid if commit else 0] + [p.end_vid for p in prepared])
        give_back = pool is not None and commit is not None and commit.next_vid == pool.end and pool.next < pool.end
        if give_back:  # nobody allocated after the job's pool: what it did not hand out goes back
            next_vid = max([pool.next] + [p.end_vid for p in prepared])
        if commit is not None:
            check_model(commit, model, layout.commit_path(commit.generation))
        layout.remove_leftovers()  # a staging folder stays while its driver holds it
        views = [SegmentView(layout.segments / e.name, e) for e in commit.segments] if commit else []
        new_views = [SegmentView(layout.root / p.folder, SegmentEntry(p.folder, p.passages, p.documents)) for p in prepared]
        try:
            winner: dict[str, int] = {}  # doc_id -> the prepared segment holding its last copy
            for i, segment in enumerate(prepared):
                winner.update(dict.fromkeys(segment.hashes, i))
            deletes = [d for d in dict.fromkeys(delete_ids) if d not in winner]
            where = locate_live(views, list(winner) + deletes)
            gone: dict[int, list[str]] = {}  # live segment -> doc ids to tombstone
            superseded: dict[int, list[str]] = {}  # prepared segment -> its copies a later one replaces
            for i, segment in enumerate(prepared):
                for doc_id in segment.hashes:
                    if winner[doc_id] != i:
                        superseded.setdefault(i, []).append(doc_id)
            for doc_id, i in winner.items():
                found = where.get(doc_id)
                if found is None:
                    report.added += 1
                    continue
                if found[1] == prepared[i].hashes[doc_id]:
                    report.unchanged += 1
                else:
                    report.updated += 1
                gone.setdefault(found[0], []).append(doc_id)
            for doc_id in deletes:
                found = where.get(doc_id)
                if found is None:
                    report.not_found.append(doc_id)
                else:
                    report.deleted += 1
                    gone.setdefault(found[0], []).append(doc_id)
            if not prepared and not report.deleted and next_vid == (commit.next_vid if commit else 0):
                report.commit = commit
                return report
            generation = (commit.generation if commit else 0) + 1
            entries = [replace(e) for e in commit.segments] if commit else []
            dropped = {s for s, doc_ids in gone.items() if not tombstone(views[s], entries[s], doc_ids, generation)}
            entries = [e for s, e in enumerate(entries) if s not in dropped]
            entries += _move_in(layout, prepared, new_views, superseded, generation, report)
        finally:
            for view in views + new_views:
                view.close()
        fault("after_deletes")
        new_commit = replace(next_commit(commit, model, chunking, next_vid), segments=entries)
        new_commit.publish(layout.commit_path(generation))
        fault("after_pointer")
        if give_back:
            empty_pool(release, next_vid)
        layout.remove_leftovers()
        report.commit = new_commit
    return report


def _move_in(
    layout: IndexDirectory, prepared: Sequence[PreparedSegment], views: list[SegmentView],
    superseded: dict[int, list[str]], generation: int, report: PublishReport,
) -> list[SegmentEntry]:
    """Rename the prepared segments into segments/ (fsynced by their writers), each with the tombstones of
    its copies that a later segment replaces; one left with nothing live is not published."""
    entries: list[SegmentEntry] = []
    layout.segments.mkdir(parents=True, exist_ok=True)
    for i, segment in enumerate(prepared):
        name = layout.new_segment_name()
        entry = SegmentEntry(name, segment.passages, segment.documents)
        lost = superseded.get(i, [])
        if lost and not tombstone(views[i], entry, lost, generation):
            continue  # stays in the staging folder, removed with it
        os.rename(layout.root / segment.folder, layout.segments / name)
        entries.append(entry)
        report.segments.append(name)
    fsync_dir(layout.segments)
    fault("after_rename")
    return entries
