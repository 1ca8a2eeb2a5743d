"""Passage ids for segments written apart: reserved in the index by a commit point, handed out from a
job's pool (distributed/staging/folder.py). Reserving is a commit that moves `next_vid` and changes nothing else:
every other writer (a service, another job) allocates after it, so ids never collide."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from ...index.writer import check_model, live_commit
from ...store.commit import CommitPoint
from ...store.layout import IndexDirectory
from .folder import claim_vids, read_staging

RESERVE_VIDS = 1 << 20  # ids reserved at a time: a job of up to 1M passages reserves once


@dataclass(frozen=True)
class ModelId:
    """The index's model, as a commit point names it (no model needs to be loaded to commit)."""

    spec: str
    dim: int


def next_commit(commit: CommitPoint | None, model: ModelId, chunking: dict, next_vid: int) -> CommitPoint:
    """The commit after `commit` (or the first one), same segments, with `next_vid`."""
    return CommitPoint(
        generation=(commit.generation if commit else 0) + 1,
        model=model.spec,
        dim=model.dim,
        next_vid=next_vid,
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        chunking=chunking,
        segments=[replace(s) for s in commit.segments] if commit else [],
        merges=commit.merges if commit else 0,
    )


def check_index_model(layout: IndexDirectory, model: ModelId) -> None:
    """Fail before any work when the index was built with another model (converts a format-1 index)."""
    with layout.writer_lock():
        commit = live_commit(layout)
        if commit is not None:
            check_model(commit, model, layout.commit_path(commit.generation))


def reserve_vids(layout: IndexDirectory, model: ModelId, chunking: dict, count: int) -> tuple[int, int]:
    """[first, end): `count` passage ids no other writer will use, published as a commit point that changes
    nothing else (for an empty index, its first commit: one with no segment)."""
    with layout.writer_lock():
        commit = live_commit(layout)
        if commit is not None:
            check_model(commit, model, layout.commit_path(commit.generation))
        first = commit.next_vid if commit else 0
        reserved = next_commit(commit, model, chunking, first + count)
        reserved.publish(layout.commit_path(reserved.generation))
    return first, first + count


def staging_meta(model: ModelId, chunking: dict) -> dict:
    return {"model": model.spec, "dim": model.dim, "chunking": chunking}


def claim(index_dir: Path, staging: Path, count: int) -> int:
    """The first of `count` passage ids for a segment prepared in `staging` (any process, any node)."""
    meta = read_staging(staging)
    model, chunking = ModelId(meta["model"], meta["dim"]), meta["chunking"]
    return claim_vids(staging, count, lambda n: reserve_vids(IndexDirectory(index_dir), model, chunking, max(n, RESERVE_VIDS)))
