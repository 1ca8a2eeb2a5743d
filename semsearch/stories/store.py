"""`<index_dir>/stories.sqlite`: stories and their members, beside the segments.

A member is a document version (doc_id, content hash) with its vector, so a replaced version leaves its
story's centroid exactly. Deleted documents stay members here and are dropped at read time by the live
document ids of the commit served.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .cluster import Story, StoryClusterer, StoryConfig

FILE_NAME = "stories.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    id INTEGER PRIMARY KEY, total BLOB NOT NULL, size INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_updated TEXT NOT NULL, merged_into INTEGER
);
CREATE TABLE IF NOT EXISTS members (
    doc_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, story_id INTEGER NOT NULL,
    vector BLOB NOT NULL, joined_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS members_story ON members(story_id);
"""


@dataclass(frozen=True)
class Member:
    doc_id: str
    content_hash: str
    story_id: int
    joined_at: str


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def connect(index_dir: str | Path, readonly: bool = False) -> sqlite3.Connection:
    path = Path(index_dir) / FILE_NAME
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.executescript(SCHEMA)
    return conn


def load_clusterer(conn: sqlite3.Connection, config: StoryConfig) -> StoryClusterer:
    clusterer = StoryClusterer(config)
    for story_id, total, size, merged_into in conn.execute("SELECT id, total, size, merged_into FROM stories"):
        clusterer.stories[story_id] = Story(story_id, np.frombuffer(total, np.float32).copy(), size, merged_into)
    clusterer.next_id = max(clusterer.stories, default=0) + 1
    return clusterer


def member_versions(conn: sqlite3.Connection) -> dict[str, tuple[str, int, np.ndarray]]:
    """doc_id -> (content hash, story id, vector) of every member."""
    return {
        doc_id: (h, story, np.frombuffer(vector, np.float32))
        for doc_id, h, story, vector in conn.execute("SELECT doc_id, content_hash, story_id, vector FROM members")
    }


def save(conn: sqlite3.Connection, clusterer: StoryClusterer, placed: list[tuple[str, str, int, np.ndarray]]) -> None:
    """Write the touched stories, the placed members and the merges' repointing, in one transaction."""
    stamp = now()
    with conn:
        for story in clusterer.stories.values():
            if not story.touched:
                continue
            conn.execute(
                "INSERT INTO stories VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET total = excluded.total,"
                " size = excluded.size, last_updated = excluded.last_updated, merged_into = excluded.merged_into",
                (story.id, np.asarray(story.total, np.float32).tobytes(), story.size, stamp, stamp, story.merged_into),
            )
            story.touched = False
        conn.executemany(
            "INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?, ?)",
            [(doc_id, h, story, np.asarray(v, np.float32).tobytes(), stamp) for doc_id, h, story, v in placed],
        )
        for gone, into in clusterer.merges:
            conn.execute("UPDATE members SET story_id = ? WHERE story_id = ?", (into, gone))
        clusterer.merges.clear()


def members(conn: sqlite3.Connection) -> list[Member]:
    return [Member(*row) for row in conn.execute("SELECT doc_id, content_hash, story_id, joined_at FROM members")]


def story_row(conn: sqlite3.Connection, story_id: int) -> tuple[int, str, str, int | None] | None:
    """(id, first_seen, last_updated, merged_into) of a story."""
    return conn.execute("SELECT id, first_seen, last_updated, merged_into FROM stories WHERE id = ?", (story_id,)).fetchone()
