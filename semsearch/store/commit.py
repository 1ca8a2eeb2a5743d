"""A commit point (Lucene's segments_N): the complete list of live segments and their tombstones.

Published by writing a temp file, fsync, rename, fsync of the folder: a reader sees the previous
commit or this one, never a part of one. Everything a search needs to know about the whole index
without opening a segment is here (model, counts, chunking, how passage vectors were made, the next
passage id).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import IndexCorruptError
from .files import write_durably
from .manifest import read_versioned_json

FORMAT_VERSION = 2


@dataclass
class SegmentEntry:
    """One live segment as of a commit: its counts, and the tombstone file of this commit (or None)."""

    name: str
    passages: int
    documents: int
    deleted: int = 0  # passages of this segment tombstoned
    deleted_documents: int = 0
    deletes: str | None = None  # file name in the segment's folder, sorted vids
    # How its documents came in: "write" (new or changed documents: what saved searches and stories look at),
    # "merge" (documents already in the index, copied), "convert" (an old-format index, converted once).
    origin: str = "write"
    # The newest commit generation whose written documents this segment holds (a write: its own commit's;
    # a merge: its sources' newest). A consumer whose cursor is older has not seen all of them: a write can
    # be merged away before a consumer (a server opened later, say) looked at it. 0: unknown (older commits).
    written_at: int = 0

    @property
    def live(self) -> int:
        return self.passages - self.deleted


@dataclass
class CommitPoint:
    generation: int
    model: str
    dim: int
    next_vid: int
    built_at: str
    chunking: dict = field(default_factory=dict)
    segments: list[SegmentEntry] = field(default_factory=list)
    # How its passage vectors were made (index/segment_build.py PASSAGE_VECTORS): writes into the index follow
    # it, so one index never mixes two kinds. A commit written before the choice existed: "embedded".
    passage_vectors: str = "embedded"
    merges: int = 0  # merges committed since the index was created
    format_version: int = FORMAT_VERSION

    @property
    def documents(self) -> int:
        return sum(s.documents - s.deleted_documents for s in self.segments)

    @property
    def passages(self) -> int:
        return sum(s.live for s in self.segments)

    @property
    def deleted(self) -> int:
        return sum(s.deleted for s in self.segments)

    def segment(self, name: str) -> SegmentEntry | None:
        return next((s for s in self.segments if s.name == name), None)

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n").encode()

    def publish(self, path: Path) -> None:
        """Durably in place; the write it records is acknowledged only after this returns."""
        write_durably(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> CommitPoint:
        data = read_versioned_json(path, "commit point", FORMAT_VERSION)
        try:
            segments = [SegmentEntry(**s) for s in data.pop("segments")]
            commit = cls(segments=segments, **{k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "segments"})
        except (TypeError, KeyError, AttributeError) as exc:
            raise IndexCorruptError(f"{path}: commit point is incomplete ({exc})") from None
        if not all(isinstance(s.name, str) and s.name and "/" not in s.name and not s.name.startswith(".") for s in segments):
            raise IndexCorruptError(f"{path}: commit point names an invalid segment")
        return commit
