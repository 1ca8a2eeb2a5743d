"""Format 1 (a CURRENT pointer naming a complete snapshot) converted once into one segment and a commit.

A snapshot's files already are a segment's (SQLite rows, vectors, sentence vectors, FAISS index): they
are hard-linked (copied across file systems), and only the lexical postings are built, from the
`terms` column. Nothing is re-embedded. The commit point is published before the old files are removed,
so a crash during the conversion leaves the old index or the converted one.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import datetime, timezone

from ..errors import IndexCorruptError
from . import database, vectors
from .commit import CommitPoint, SegmentEntry
from .layout import LEGACY_CURRENT, LEGACY_SNAPSHOTS, IndexDirectory
from .lexical import Postings
from .manifest import Manifest
from .segment import describe_segment

log = logging.getLogger(__name__)

_FILES = (
    database.DB_NAME, vectors.VECTORS_NAME, vectors.VIDS_NAME, vectors.FAISS_NAME,
    vectors.SENTENCE_VECTORS, vectors.SENTENCE_VIDS, vectors.SENTENCE_SPANS,
)


def convert_legacy(layout: IndexDirectory, have_lock: bool = False) -> None:
    """Under the writer lock (taken here unless the caller holds it); does nothing if another process
    converted the index meanwhile."""
    if have_lock:
        _convert(layout)
        return
    with layout.writer_lock():
        _convert(layout)


def _convert(layout: IndexDirectory) -> None:
    if not layout.is_legacy():
        return
    name = (layout.root / LEGACY_CURRENT).read_text().strip()
    snapshot = layout.root / LEGACY_SNAPSHOTS / name
    if not name or "/" in name or not snapshot.is_dir():
        raise IndexCorruptError(f"{layout.root / LEGACY_CURRENT}: does not name a snapshot")
    manifest = Manifest.read(snapshot)
    with layout.temp_folder() as temp:
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
        segment = layout.new_segment_name()
        layout.publish_segment(temp, segment)
    commit = CommitPoint(
        generation=1,
        model=manifest.model,
        dim=manifest.dim,
        next_vid=max(int(next_vid[0]) if next_vid else 0, (max_vid if max_vid is not None else -1) + 1),
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        chunking=manifest.chunking,
        segments=[SegmentEntry(segment, info.passages, info.documents, origin="convert")] if info.passages else [],
    )
    commit.publish(layout.commit_path(1))
    layout.remove_leftovers()
    log.warning(
        "converted the index at %s from snapshot %s (format 1) to one segment (format 2): %d documents,"
        " %d passages, nothing re-embedded", layout.root, name, info.documents, info.passages,
    )
