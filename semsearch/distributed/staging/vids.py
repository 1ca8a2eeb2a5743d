"""Passage ids for segments written apart: reserved in the index by a commit point, handed out from a
job's pool (staging/folder.py). Reserving is a commit that moves `next_vid` and changes nothing else:
every other writer (a service, another job) allocates after it, so ids never collide."""

from __future__ import annotations

from pathlib import Path

from ...store.commit_writer import ModelId, open_commit
from ...store.layout import IndexDirectory
from .folder import claim_vids, read_staging

RESERVE_VIDS = 1 << 20  # ids reserved at a time: a job of up to 1M passages reserves once


def check_index_model(layout: IndexDirectory, model: ModelId) -> None:
    """Fail before any work when the index was built with another model (converts a format-1 index)."""
    with open_commit(layout, model, clean=False):
        pass


def reserve_vids(layout: IndexDirectory, model: ModelId, chunking: dict, count: int) -> tuple[int, int]:
    """[first, end): `count` passage ids no other writer will use, published as a commit point that changes
    nothing else (for an empty index, its first commit: one with no segment)."""
    with open_commit(layout, model, clean=False) as pending:
        first = pending.next_vid
        pending.reserve(first + count)
        pending.publish(model, chunking, kind="reserve")
    return first, first + count


def staging_meta(model: ModelId, chunking: dict) -> dict:
    return {"model": model.spec, "dim": model.dim, "chunking": chunking}


def claim(index_dir: Path, staging: Path, count: int) -> int:
    """The first of `count` passage ids for a segment prepared in `staging` (any process, any node)."""
    meta = read_staging(staging)
    model, chunking = ModelId(meta["model"], meta["dim"]), meta["chunking"]
    return claim_vids(staging, count, lambda n: reserve_vids(IndexDirectory(index_dir), model, chunking, max(n, RESERVE_VIDS)))
