"""Matching every commit, whoever made it: the alerts consumer's cursor over written segments.

Any process that commits (the server's writes, `semsearch index`, `watch`, the Ray driver) calls
`catch_up` right after, and a server also calls it whenever it opens a newer commit, so a commit made by a
process that died before matching is matched by the next one to look. The cursor (store/changes.py) says
which written segments were matched; hits are keyed by (saved search, document, content hash), so two
processes matching the same segment record its hits once. Only the new segments are read: the cost is
the size of the change.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..store import database
from ..store.changes import Cursor, cursor_path, read_cursor, save_cursor
from ..store.commit import CommitPoint
from ..store.layout import IndexDirectory
from ..store.reader import IndexReader, open_commit
from ..store.segment import live_document_hashes
from .matching import match_rows, segment_rows
from .store import AlertStore, Hit

log = logging.getLogger(__name__)

CONSUMER = "alerts"


@dataclass
class CatchUp:
    generation: int
    segments: int  # written segments matched
    passages: int
    hits: list[Hit]
    ms: float


def _content_hashes(reader: IndexReader, names: set[str], doc_ids: list[str]) -> dict[str, str]:
    """doc_id -> content hash of the new documents, read from their segments' SQLite (own read-only
    connection: the reader's is shared with searches)."""
    out: dict[str, str] = {}
    for segment, deleted in zip(reader.segments, reader.deletes):
        if segment.name not in names:
            continue
        try:
            conn = database.connect(segment.path / database.DB_NAME, readonly=True)
        except Exception:  # noqa: BLE001 - merged away meanwhile: the segment name stands in for the hash
            continue
        try:
            out.update(live_document_hashes(conn, deleted, doc_ids))
        except Exception:  # noqa: BLE001 - as above
            pass
        finally:
            conn.close()
    return out


class AlertsConsumer:
    """One process's matcher: serializes its catch-ups (the write thread and the reopen thread)."""

    def __init__(self, index_dir: str | Path, store: AlertStore | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.store = store or AlertStore(index_dir)
        self._lock = threading.Lock()

    def start_cursor(self, reader: IndexReader | None = None) -> None:
        """Make sure a cursor exists: saved searches react to what comes after them, not to the archive."""
        if cursor_path(self.index_dir, CONSUMER).exists():
            return
        layout = IndexDirectory(self.index_dir)
        generation = reader.generation if reader is not None else layout.generation()
        if generation <= 0:
            save_cursor(self.index_dir, CONSUMER, Cursor())  # an empty index: everything to come is new
            return
        commit = reader.commit if reader is not None else CommitPoint.read(layout.commit_path(generation))
        save_cursor(self.index_dir, CONSUMER, Cursor().advanced(commit))

    def catch_up(self, reader: IndexReader | None = None) -> CatchUp | None:
        """Match the written segments of the live commit (or of `reader`'s) not matched yet; record hits,
        queue webhooks, then advance the cursor. None when there is nothing to do (no saved search, no commit)."""
        with self._lock:
            return self._catch_up(reader)

    def _catch_up(self, reader: IndexReader | None) -> CatchUp | None:
        started = time.perf_counter()
        layout = IndexDirectory(self.index_dir)
        if not self.store.exists():
            return None  # no saved search was ever made: the cursor starts when the first one is
        if reader is None:
            generation = layout.generation()
            if generation <= 0:
                return None
            commit = CommitPoint.read(layout.commit_path(generation))
        else:
            commit = reader.commit
        cursor = read_cursor(self.index_dir, CONSUMER, commit)
        if commit.generation < cursor.generation:
            return None  # an older commit than the cursor's: its segments were matched or are gone
        new = cursor.new_segments(commit)
        if not new or not self.store.count():
            if commit.generation != cursor.generation:
                save_cursor(self.index_dir, CONSUMER, cursor.advanced(commit))
            return None
        names = {s.name for s in new}
        if reader is None:
            reader = open_commit(layout, commit.generation, only=lambda c: names)
        alerts = self.store.matrix(reader.commit.dim)
        rows = segment_rows(reader, names)
        found = match_rows(reader, rows, alerts, commit.generation)
        hashes = _content_hashes(reader, names, sorted({hit.doc_id for _, hit in found}))
        ids, hits = [], []
        for alert_id, hit in found:
            ids.append(alert_id)
            hits.append(Hit(**{**hit.__dict__, "content_hash": hashes.get(hit.doc_id) or f"segment:{commit.generation}"}))
        fresh = self.store.record(ids, hits, alerts.webhook_ids)
        save_cursor(self.index_dir, CONSUMER, cursor.advanced(commit))
        ms = (time.perf_counter() - started) * 1000
        if fresh:
            log.info(
                "alerts: %d new hit(s)", len(fresh),
                extra={"event": "alert_hits", "hits": len(fresh), "generation": commit.generation, "ms": round(ms, 1)},
            )
        return CatchUp(commit.generation, len(new), len(rows), fresh, ms)


def catch_up(index_dir: str | Path) -> CatchUp | None:
    """Match the live commit's unmatched written segments in this process (CLI index, watch, Ray driver).
    Costs nothing when no saved search exists."""
    consumer = AlertsConsumer(index_dir)
    if not consumer.store.exists():
        return None
    return consumer.catch_up()
