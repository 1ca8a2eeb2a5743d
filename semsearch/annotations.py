"""Entities and stories, kept up to date after every commit and read by the search engine.

`Annotator.catch_up(reader)` is a consumer of written segments (store/changes.py): whoever committed
(a server write, `semsearch index`, `watch`, a Ray publish), the process that commits calls it right after
its commit, and a server calls it again whenever it opens a newer commit, so every commit is processed;
the cursor and the (doc_id, content hash) keys make a second call a no-op. A consumer met for the first
time (no cursor yet) reads every live document of the commit once: an index built before this feature
gets its entities and stories on its next open. Several processes are serialized by a lock file.

`AnnotationView` is what one reader's searches see: entities and stories of its live documents only, so
deleted and replaced documents leave the facets and the stories with the commit that removes them.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dates import date_bounds
from .entities import store as entity_store
from .entities.extract import KINDS, EntityExtractor, entity_key
from .search.results import EntityRef
from .store import database
from .store.changes import Cursor, cursor_path, read_cursor, save_cursor
from .store.reader import IndexReader
from .store.segment import live_document_hashes
from .stories import store as story_store
from .stories.cluster import StoryConfig

log = logging.getLogger(__name__)
LOCK_NAME = "annotations.lock"
CONSUMERS = ("entities", "stories")


@dataclass
class CatchUpReport:
    documents: int = 0  # new document versions seen
    entity_documents: int = 0  # of which entities were extracted (languages with a model)
    mentions: int = 0
    placed: int = 0  # articles placed in stories
    stories: int = 0  # stories started
    merges: int = 0
    entity_seconds: float = 0.0
    story_seconds: float = 0.0


@dataclass
class NewDocument:
    doc_id: str
    content_hash: str
    lang: str | None
    text: str
    passages: list[tuple[int, int, int, int]]  # (ordinal, start, end, vid)


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    with open(index_dir / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_documents(reader: IndexReader, names: set[str] | None) -> list[NewDocument]:
    """Live documents of the reader's segments named in `names` (all segments when None), in commit order."""
    out: list[NewDocument] = []
    for segment, deleted in zip(reader.segments, reader.deletes):
        if names is not None and segment.name not in names:
            continue
        conn = database.connect(segment.path / database.DB_NAME, readonly=True)
        try:
            for doc_id, content_hash in live_document_hashes(conn, deleted).items():
                found = database.fetch_document(conn, doc_id)
                if found is None:
                    continue
                doc, passages = found
                spans = [(p.ordinal, p.start, p.end, p.vid) for p in passages]
                out.append(NewDocument(doc_id, content_hash, doc.lang, doc.text, spans))
        finally:
            conn.close()
    return out


class Annotator:
    """Entities and stories of one index directory; holds the spaCy pipeline once loaded."""

    def __init__(self, index_dir: str | Path, extractor: EntityExtractor | None = None, stories: StoryConfig | None = None) -> None:
        self.root = Path(index_dir)
        self.extractor = extractor or EntityExtractor()
        self.config = stories or StoryConfig()
        self._lock = threading.Lock()

    def _pending(self, reader: IndexReader, consumer: str) -> set[str] | None:
        """The segment names the consumer has not seen (None: every segment, a first run)."""
        if not cursor_path(self.root, consumer).exists():
            return None
        return {s.name for s in read_cursor(self.root, consumer).new_segments(reader.commit)}

    def _seen(self, reader: IndexReader, consumer: str) -> None:
        """The consumer has processed everything in the reader's commit."""
        save_cursor(self.root, consumer, Cursor().advanced(reader.commit))

    def catch_up(self, reader: IndexReader) -> CatchUpReport:
        """Process the documents the reader's commit added since the last call (see the module docstring)."""
        report = CatchUpReport()
        with self._lock, _locked(self.root):
            self._entities(reader, report)
            self._stories(reader, report)
        if report.documents:
            log.info(
                "entities and stories updated",
                extra={"event": "annotations", "documents": report.documents, "mentions": report.mentions,
                       "stories": report.stories, "entity_ms": round(report.entity_seconds * 1000, 1),
                       "story_ms": round(report.story_seconds * 1000, 1)},
            )
        return report

    def _entities(self, reader: IndexReader, report: CatchUpReport) -> None:
        pending = self._pending(reader, "entities")
        if pending is not None and not pending:
            self._seen(reader, "entities")
            return
        started = time.perf_counter()
        conn = entity_store.connect(self.root)
        try:
            known = entity_store.known_versions(conn)
            docs = [d for d in _new_documents(reader, pending) if known.get(d.doc_id) != d.content_hash]
            report.documents = max(report.documents, len(docs))
            by_lang: dict[str, list[NewDocument]] = {}
            for doc in docs:
                by_lang.setdefault(doc.lang or "" if self.extractor.handles(doc.lang) else "", []).append(doc)
            with conn:
                for lang, group in by_lang.items():
                    mentions = (
                        self.extractor.extract(lang, [d.text for d in group], [[p[:3] for p in d.passages] for d in group])
                        if lang else [[] for _ in group]
                    )
                    for doc, found in zip(group, mentions):
                        entity_store.store_document(conn, doc.doc_id, doc.content_hash, doc.lang, found)
                        report.mentions += len(found)
                        report.entity_documents += 1 if lang else 0
        finally:
            conn.close()
        self._seen(reader, "entities")
        report.entity_seconds = time.perf_counter() - started

    def _stories(self, reader: IndexReader, report: CatchUpReport) -> None:
        pending = self._pending(reader, "stories")
        if pending is not None and not pending:
            self._seen(reader, "stories")
            return
        started = time.perf_counter()
        conn = story_store.connect(self.root)
        try:
            members = story_store.member_versions(conn)
            docs = [d for d in _new_documents(reader, pending) if members.get(d.doc_id, ("",))[0] != d.content_hash]
            report.documents = max(report.documents, len(docs))
            clusterer = story_store.load_clusterer(conn, self.config)
            before = clusterer.next_id
            placed = []
            for doc in docs:
                rows = reader.rows_of(np.array([p[3] for p in doc.passages], np.int64))
                rows = rows[rows >= 0]
                if not len(rows):
                    continue
                vector = np.asarray(reader.vectors[rows], np.float32).mean(axis=0)
                vector /= max(float(np.linalg.norm(vector)), 1e-12)
                if doc.doc_id in members:  # a new version: the old one leaves its story
                    _, old_story, old_vector = members[doc.doc_id]
                    clusterer.remove(old_story, old_vector)
                placed.append((doc.doc_id, doc.content_hash, clusterer.place(vector), vector))
            report.merges += len(clusterer.merges)
            merged = dict(clusterer.merges)
            placed = [(d, h, clusterer.resolve(merged.get(s, s)), v) for d, h, s, v in placed]
            story_store.save(conn, clusterer, placed)
            report.placed += len(placed)
            report.stories += clusterer.next_id - before
        finally:
            conn.close()
        self._seen(reader, "stories")
        report.story_seconds = time.perf_counter() - started

    def view(self, reader: IndexReader) -> AnnotationView:
        return AnnotationView(self.root, reader)


@dataclass
class StoryArticle:
    doc_id: str
    title: str | None
    source: str | None
    date: str | None
    lang: str | None
    url: str | None
    joined_at: str
    sentence: str  # the article's sentence closest to the story (its answering or lead sentence)


@dataclass
class StoryDetail:
    id: int
    title: str | None
    first_seen: str
    last_updated: str
    articles: list[StoryArticle] = field(default_factory=list)


class AnnotationView:
    """Entities and stories as one reader sees them: only its live documents. Loaded on first use."""

    def __init__(self, index_dir: Path, reader: IndexReader) -> None:
        self.root = index_dir
        self.reader = reader

    def _read(self, module, sql: str, args=()) -> list[tuple]:
        try:
            conn = module.connect(self.root, readonly=True)
        except sqlite3.OperationalError:
            return []  # not written yet
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    @functools.cached_property
    def _doc_positions(self) -> dict[str, int]:
        return {doc_id: i for i, doc_id in enumerate(self.reader.rows.doc_ids)}

    @functools.cached_property
    def _row_of_passage(self) -> dict[tuple[int, int], int]:
        """(document position, ordinal) -> row, ordinals as the passages' order (vid order) in the document."""
        rows = self.reader.rows
        order = np.lexsort((rows.vids, rows.doc_index))
        docs = rows.doc_index[order]
        starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]]) if len(docs) else np.zeros(0, np.int64)
        ordinal = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        return {(int(d), int(o)): int(r) for d, o, r in zip(docs.tolist(), ordinal.tolist(), order.tolist())}

    @functools.cached_property
    def _entities(self) -> tuple[dict[int, list[tuple[str, str]]], dict[str, tuple[str, str]]]:
        """row -> [(kind, key)], and key -> (kind, display name). A name's kind is the one most articles give
        it (each article votes with its own most frequent label; ties go to place, then org): the model calls
        `Washington` a person in some sentences, a place in most articles."""
        positions, rows_of = self._doc_positions, self._row_of_passage
        per_row: dict[int, list[tuple[str, str]]] = {}
        per_doc: dict[tuple[str, str], Counter] = {}
        names: dict[str, Counter] = {}
        for doc_id, ordinal, kind, key, name, count in self._read(entity_store, "SELECT doc_id, ordinal, kind, key, name, count FROM mentions"):
            row = rows_of.get((positions.get(doc_id, -1), ordinal))
            if row is None:
                continue
            per_row.setdefault(row, []).append((kind, key))
            per_doc.setdefault((doc_id, key), Counter())[kind] += count
            names.setdefault(key, Counter())[name] += count
        votes: dict[str, Counter] = {}
        preference = {"place": 2, "org": 1, "person": 0}
        for (_, key), kinds in per_doc.items():
            votes.setdefault(key, Counter())[max(kinds, key=lambda k: (kinds[k], preference[k]))] += 1
        labels = {
            key: (max(v, key=lambda k: (v[k], preference[k])), names[key].most_common(1)[0][0]) for key, v in votes.items()
        }
        return per_row, labels

    def row_entities(self, row: int) -> list[EntityRef]:
        per_row, labels = self._entities
        seen: dict[str, EntityRef] = {}
        for _, key in per_row.get(int(row), []):
            kind, name = labels[key]
            seen.setdefault(key, EntityRef(kind, name))
        return sorted(seen.values(), key=lambda e: (KINDS.index(e.kind), e.name))

    def entity_mask(self, value: str) -> np.ndarray:
        """Rows whose passage names the entity (matched by entity_key: case and accents aside)."""
        per_row, _ = self._entities
        wanted = entity_key(value)
        mask = np.zeros(self.reader.size, bool)
        rows = [row for row, items in per_row.items() if any(key == wanted for _, key in items)]
        mask[rows] = True
        return mask

    def entity_counts(self, result_rows: np.ndarray, kind: str) -> Counter:
        per_row, labels = self._entities
        counts: Counter = Counter()
        for row in np.asarray(result_rows).tolist():
            for key in {key for _, key in per_row.get(row, [])}:
                if labels[key][0] == kind:
                    counts[labels[key][1]] += 1
        return counts

    # -- stories -----------------------------------------------------------------------------------

    @functools.cached_property
    def _stories(self) -> tuple[np.ndarray, dict[int, int]]:
        """Per document position its story (-1: none yet), and merged story id -> the story it went into."""
        positions = self._doc_positions
        doc_story = np.full(len(positions), -1, np.int64)
        for doc_id, story in self._read(story_store, "SELECT doc_id, story_id FROM members"):
            if doc_id in positions:
                doc_story[positions[doc_id]] = story
        redirects = {a: b for a, b in self._read(story_store, "SELECT id, merged_into FROM stories WHERE merged_into IS NOT NULL")}
        return doc_story, redirects

    def resolve(self, story_id: int) -> int:
        _, redirects = self._stories
        for _ in range(len(redirects) + 1):
            if story_id not in redirects:
                break
            story_id = redirects[story_id]
        return story_id

    def row_story(self, row: int) -> int | None:
        story = int(self._stories[0][int(self.reader.rows.doc_index[int(row)])])
        return story if story >= 0 else None

    def story_mask(self, story_id: int) -> np.ndarray:
        doc_story, _ = self._stories
        return doc_story[self.reader.rows.doc_index] == self.resolve(story_id)

    def story_counts(self, result_rows: np.ndarray) -> Counter:
        doc_story, _ = self._stories
        stories = doc_story[self.reader.rows.doc_index[np.asarray(result_rows, np.int64)]]
        return Counter(str(s) for s in stories.tolist() if s >= 0)

    def story_title(self, story_id: int) -> str | None:
        detail = self.story(story_id, sentences=False)
        return detail.title if detail else None

    def story(self, story_id: int, sentences: bool = True) -> StoryDetail | None:
        """The story's live articles as a timeline (dated ones by date, then undated, each by when it joined)."""
        story_id = self.resolve(story_id)
        found = self._read(story_store, "SELECT id, first_seen, last_updated, total FROM stories WHERE id = ?", (story_id,))
        if not found:
            return None
        doc_story, _ = self._stories
        positions = self._doc_positions
        joined = dict(self._read(story_store, "SELECT doc_id, joined_at FROM members WHERE story_id = ?", (story_id,)))
        live = [d for d in joined if d in positions and doc_story[positions[d]] == story_id]
        if not live:
            return None
        centroid = np.frombuffer(found[0][3], np.float32)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        articles = []
        for doc_id in live:
            fetched = self.reader.fetch_document(doc_id)
            if fetched is None:
                continue
            doc, passages = fetched
            sentence = self._closest_sentence(passages, centroid) if sentences else ""
            articles.append(StoryArticle(doc_id, doc.title, doc.source, doc.date, doc.lang, doc.url, joined[doc_id], sentence))

        def when(article: StoryArticle) -> tuple:
            lo = date_bounds(article.date)[0] if article.date else 0
            return (lo == 0, lo, article.joined_at, article.doc_id)

        articles.sort(key=when)
        first_seen = min(a.joined_at for a in articles)
        last_updated = max(a.joined_at for a in articles)
        title = next((a.title for a in articles if a.title), None) or (articles[0].sentence[:120] if articles else None)
        return StoryDetail(story_id, title, first_seen, last_updated, articles)

    def _closest_sentence(self, passages, centroid: np.ndarray) -> str:
        """The document's sentence nearest the story's centroid: what this outlet says of the story."""
        vids = np.array([p.vid for p in passages], np.int64)
        rows = self.reader.rows_of(vids)
        table = self.reader.sentences
        best, best_text = -2.0, ""
        for passage, row in zip(passages, rows.tolist()):
            if row < 0:
                continue
            lo, hi = int(table.ptr[row]), int(table.ptr[row + 1])
            if hi <= lo:
                continue
            scores = np.asarray(table.vectors[np.arange(lo, hi)], np.float32) @ centroid
            i = int(np.argmax(scores))
            if scores[i] > best:
                a, b = table.spans[lo + i]
                best, best_text = float(scores[i]), passage.text[int(a):int(b)].strip()
        return best_text
