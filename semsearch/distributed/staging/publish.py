"""Publishing prepared segments: the half of a write that only the driver does, under the writer lock.

`open_staging` makes a job's staging folder (its writers take passage ids from its pool: vids.py).
`publish_segments` names segments prepared there (prepare.py) in ONE new commit point, with the tombstones that leave
one live copy of each document: the last one, in the order the segments are given (the input order,
as a single write keeps the last copy of a repeated id). Every step before the commit point is
invisible and, after a crash, removed by the next clean-up; nothing is visible half-written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...store.commit import CommitPoint
from ...store.commit_writer import ModelId, WritePlan, open_commit
from ...store.layout import IndexDirectory
from .folder import create_staging, empty_pool, pool_lock
from .prepare import PreparedSegment
from .vids import check_index_model, staging_meta


@dataclass
class PublishReport:
    plan: WritePlan = field(default_factory=WritePlan)  # a prepared copy identical to the live one replaces it all the same
    segments: list[str] = field(default_factory=list)  # names of the segments published
    commit: CommitPoint | None = None  # the live commit afterwards (None: the index is still empty)

    @property
    def changed(self) -> bool:
        return bool(self.segments or self.plan.deleted)


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
        pending = locks.enter_context(open_commit(layout, model))  # a staging folder stays while its driver holds it
        base_vid = pending.next_vid
        give_back = pool is not None and pending.base is not None and base_vid == pool.end and pool.next < pool.end
        if give_back:  # nobody allocated after the job's pool: what it did not hand out goes back
            pending.next_vid = pool.next
        pending.reserve(max([0] + [p.end_vid for p in prepared]))
        winner: dict[str, str] = {}  # doc_id -> content hash of its last copy
        last: dict[str, int] = {}  # doc_id -> the prepared segment holding it
        for i, segment in enumerate(prepared):
            for doc_id, content_hash in segment.hashes.items():
                winner.pop(doc_id, None)
                winner[doc_id] = content_hash
                last[doc_id] = i
        report.plan = plan = pending.plan(winner, delete_ids, replace_unchanged=True)
        if not prepared and not plan.deleted and pending.next_vid == base_vid:
            report.commit = pending.base
            return report
        pending.delete(plan.gone)
        layout.segments.mkdir(parents=True, exist_ok=True)
        for i, segment in enumerate(prepared):
            superseded = [d for d in segment.hashes if last[d] != i]  # copies a later segment replaces
            entry = pending.add_segment(layout.root / segment.folder, segment.passages, segment.documents, superseded, fsynced=True)
            if entry is not None:  # else it stays in the staging folder, removed with it
                report.segments.append(entry.name)
        new_commit = pending.publish(model, chunking)
        if give_back:
            empty_pool(release, pending.next_vid)
        layout.remove_leftovers()
        report.commit = new_commit
    return report
