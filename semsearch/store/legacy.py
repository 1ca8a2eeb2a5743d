"""Format 1 (a CURRENT pointer naming a complete snapshot), read once to become one segment.

A snapshot's files already are a segment's (SQLite rows, vectors, sentence vectors, FAISS index): they
are hard-linked (copied across file systems), and only the lexical postings are built, from the
`terms` column. Nothing is re-embedded. The commit writer publishes the segment as the index's first
commit point before the old files are removed, so a crash during the conversion leaves the old index
or the converted one.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import IndexCorruptError
from . import database, vectors
from .layout import LEGACY_CURRENT, LEGACY_SNAPSHOTS, IndexDirectory
from .lexical import Postings
from .manifest import Manifest
from .segment import describe_segment

log = logging.getLogger(__name__)

_FILES = (
    database.DB_NAME, vectors.VECTORS_NAME, vectors.VIDS_NAME, vectors.FAISS_NAME,
    vectors.SENTENCE_VECTORS, vectors.SENTENCE_VIDS, vectors.SENTENCE_SPANS,
)


@dataclass
class ConvertedSnapshot:
    """A format-1 snapshot as a segment folder: what its first commit point needs."""

    snapshot: str
    model: str
    dim: int
    chunking: dict = field(default_factory=dict)
    passages: int = 0
    documents: int = 0
    next_vid: int = 0

    def log(self, layout: IndexDirectory) -> None:
        log.warning(
            "converted the index at %s from snapshot %s (format 1) to one segment (format 2): %d documents,"
            " %d passages, nothing re-embedded", layout.root, self.snapshot, self.documents, self.passages,
        )


def convert_snapshot(layout: IndexDirectory, temp: Path) -> ConvertedSnapshot:
    """The live format-1 snapshot's files linked into `temp` as a complete segment, with its postings."""
    name = (layout.root / LEGACY_CURRENT).read_text().strip()
    snapshot = layout.root / LEGACY_SNAPSHOTS / name
    if not name or "/" in name or not snapshot.is_dir():
        raise IndexCorruptError(f"{layout.root / LEGACY_CURRENT}: does not name a snapshot")
    manifest = Manifest.read(snapshot)
    for file in _FILES:
        if not (snapshot / file).is_file():
            raise IndexCorruptError(f"{snapshot / file}: missing")
        try:
            os.link(snapshot / file, temp / file)
        except OSError:
            shutil.copy2(snapshot / file, temp / file)
    conn = database.connect(temp / database.DB_NAME, readonly=True)
    try:
        terms = [t.split() for (t,) in conn.execute("SELECT terms FROM passages ORDER BY vid")]
        next_vid = conn.execute("SELECT value FROM meta WHERE key = 'next_vid'").fetchone()
        max_vid = conn.execute("SELECT MAX(vid) FROM passages").fetchone()[0]
        Postings.build(terms).save(temp)
        info = describe_segment(temp, conn, manifest.dim, manifest.index_type)
    finally:
        conn.close()
    return ConvertedSnapshot(
        snapshot=name,
        model=manifest.model,
        dim=manifest.dim,
        chunking=manifest.chunking,
        passages=info.passages,
        documents=info.documents,
        next_vid=max(int(next_vid[0]) if next_vid else 0, (max_vid if max_vid is not None else -1) + 1),
    )
