"""What commits added since a consumer last looked: the documents that saved searches and stories react to.

A consumer (alerts, stories) keeps a cursor in the index directory: the written segments it has already
seen. Segments are immutable and their names never reused, so "new" is "written (origin "write") and not
in the cursor": a commit seen late, or several commits at once, give the same answer, and a process that
dies before saving its cursor sees the same segments again (consumers make their work idempotent).
A merged segment copies documents already in the index: it is new only when it holds documents written
after the cursor's generation (their written segment was merged away before the consumer looked), and then
all of it is looked at again, which idempotent consumers absorb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .commit import CommitPoint, SegmentEntry
from .files import write_durably

CURSORS = "cursors"  # <index_dir>/cursors/<consumer>.json


@dataclass(frozen=True)
class Cursor:
    """The written segments a consumer has seen, as of one commit generation."""

    generation: int = 0
    seen: frozenset[str] = frozenset()

    def new_segments(self, commit: CommitPoint) -> list[SegmentEntry]:
        """The commit's segments holding written documents this cursor has not seen, in commit order."""
        return [
            s for s in commit.segments
            if s.name not in self.seen and (s.origin == "write" or (s.origin == "merge" and s.written_at > self.generation))
        ]

    def advanced(self, commit: CommitPoint) -> Cursor:
        """The cursor once everything in `commit` is seen (names no longer live are forgotten: never reused)."""
        return Cursor(commit.generation, frozenset(s.name for s in commit.segments))


def cursor_path(index_dir: str | Path, consumer: str) -> Path:
    if not consumer.isidentifier():
        raise ValueError(f"consumer name {consumer!r} is not an identifier")
    return Path(index_dir) / CURSORS / f"{consumer}.json"


def read_cursor(index_dir: str | Path, consumer: str, commit: CommitPoint | None = None) -> Cursor:
    """The consumer's cursor; a consumer seen for the first time starts at `commit` (it reacts to what comes
    after it, not to the whole collection), or at nothing when there is no commit yet. An unreadable cursor
    file counts as absent."""
    path = cursor_path(index_dir, consumer)
    try:
        data = json.loads(path.read_text())
        return Cursor(int(data["generation"]), frozenset(str(n) for n in data["seen"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Cursor().advanced(commit) if commit is not None else Cursor()


def save_cursor(index_dir: str | Path, consumer: str, cursor: Cursor) -> None:
    """Durably; call after the consumer's own state for those segments is durable."""
    path = cursor_path(index_dir, consumer)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"generation": cursor.generation, "seen": sorted(cursor.seen)}
    write_durably(path, json.dumps(data).encode())
