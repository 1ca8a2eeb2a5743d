"""What a running service holds: the model, the live Searcher, and the one writer.

Consistency rules:

- a request takes `service.searcher` once and uses only that object, so it sees exactly one
  commit (the searcher's reader) from start to end, whatever is published meanwhile;
- writes are serialized by a lock here (and across processes by IndexWriter's file lock); a write
  returns only after IndexWriter has published and fsynced the new commit, and after a Searcher
  over its reader is swapped in, so the next request sees it;
- a new Searcher shares the embedder and the query-vector cache of the old one; the old reader
  is released when the last request using it finishes.

`ServiceBase` is all of that over any reader and searcher; `ServiceState` opens commits in this process
(IndexReader, Searcher), service/sharded_state.py on shards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from ..alerts.runtime import AlertsRuntime
from ..annotations import AnnotationView, Annotator
from ..documents import Document
from ..embedding import Embedder, load_embedder
from ..errors import SemsearchError
from ..index.merge import Merger, MergeReport
from ..index.writer import IndexWriter, WriteReport
from ..search.results import SearchResult
from ..search.searcher import QueryVectorCache, Searcher, build_searcher
from ..search.warmup import warm_up
from ..settings import Settings
from ..store.commit import CommitPoint
from ..store.commit_writer import check_model, model_load_error
from ..store.database import DocumentRow, PassageRow
from ..store.layout import IndexDirectory
from ..store.open_segments import OpenSegments
from ..store.reader import IndexReader, IndexSummary, SegmentStats, open_commit, open_index
from ..store.segment import Segment
from .maintenance import IndexMaintenance
from .metrics import Metrics, TimedEmbedder

log = logging.getLogger(__name__)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class ServedReader(Protocol):
    """What the service and its routes use of the reader of the commit it serves."""

    @property
    def path(self) -> Path: ...

    @property
    def commit(self) -> CommitPoint: ...

    @property
    def generation(self) -> int: ...

    @property
    def summary(self) -> IndexSummary: ...

    @property
    def segments(self) -> Sequence[_Named]: ...

    def segment_stats(self) -> list[SegmentStats]: ...

    def fetch_document(self, doc_id: str) -> tuple[DocumentRow, list[PassageRow]] | None: ...


R = TypeVar("R", bound=ServedReader)
R_co = TypeVar("R_co", bound=ServedReader, covariant=True)


class ServedSearcher(Protocol[R_co]):
    """What the service and its routes use of the searcher of the commit it serves."""

    @property
    def reader(self) -> R_co: ...

    def search(self, query: str, k: int = 10, mode: str = "hybrid") -> SearchResult: ...


S = TypeVar("S", bound=ServedSearcher[Any])


class NotReadyError(SemsearchError):
    """No commit is served yet (starting, indexing the corpus, or an empty index)."""


@dataclass
class Phase:
    """What the service is doing, for /readyz while no commit is served."""

    name: str = "starting"  # starting | loading model | indexing corpus | loading commit | ready | empty | failed
    message: str = "starting"
    since: float = field(default_factory=time.time)


class ServiceBase(Generic[R, S]):
    """The service over readers of type R searched by searchers of type S; a subclass says how a commit
    is opened (`_open`, `_open_generation`) and searched (`_build_searcher`)."""

    def __init__(self, settings: Settings, metrics: Metrics, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.layout = IndexDirectory(settings.index_dir)
        self.cache = QueryVectorCache(settings.query_cache_size)
        self._embedder = TimedEmbedder(embedder, metrics) if embedder is not None else None
        self._embedder_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._searcher: S | None = None
        self._ready = threading.Event()
        self._bootstrap: threading.Thread | None = None
        self._swap_lock = threading.Lock()
        self._seen_generation = -1  # the newest commit this process tried to open
        self.open_segments = self._make_open_segments()
        self.annotator = Annotator(self.layout.root)
        merger = Merger(self.layout.root, settings.index_type, open_segments=self.open_segments)
        self.maintenance = IndexMaintenance(merger, self.refresh)
        self.alerts = AlertsRuntime(self.layout.root, settings.webhook_config())  # saved searches: matched at each new commit
        self.phase = Phase()

    def _make_open_segments(self) -> OpenSegments | None:
        """What this process's merges share with its readers (None where readers live elsewhere: shards)."""
        return None

    # -- the model, loaded once per process ----------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    s = self.settings
                    self._set_phase("loading model", f"loading model {s.model}")
                    try:
                        inner = load_embedder(s.model, query_prompt=s.query_prompt, passage_prompt=s.passage_prompt)
                    except SemsearchError as exc:
                        raise model_load_error(exc, self.layout.root, s.model) from None
                    self._embedder = TimedEmbedder(inner, self.metrics)
        return self._embedder

    # -- reading -------------------------------------------------------------------------------

    @property
    def searcher(self) -> S:
        """The live Searcher; take it once per request and use only that object."""
        searcher = self._searcher
        if searcher is None:
            raise NotReadyError(f"not ready: {self.phase.message}")
        return searcher

    @property
    def ready(self) -> bool:
        return self._searcher is not None

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def _set_phase(self, name: str, message: str) -> None:
        self.phase = Phase(name, message)
        log.info("service phase", extra={"event": "phase", "phase": name, "detail": message})

    def _open(self) -> R:
        """The live commit."""
        raise NotImplementedError

    def _open_generation(self, generation: int) -> R:
        """The commit just written (write's hook)."""
        raise NotImplementedError

    def _build_searcher(self, reader: R) -> S:
        raise NotImplementedError

    def refresh(self) -> bool:
        """Serve the newest commit if it is newer than the one served (written by any process, or by a
        merge); True if it swapped. A generation that failed to open is not retried until a newer one."""
        generation = self.layout.generation()
        current = self._searcher.reader if self._searcher is not None else None
        if generation == 0 or generation == self._seen_generation or (current is not None and generation <= current.generation):
            return False
        if current is None and self.phase.name not in ("empty", "failed", "ready"):
            return False  # still starting: bootstrap loads it
        self._seen_generation = generation
        self._swap(self._open())
        return True

    def _swap(self, reader: R) -> None:
        check_model(reader.commit, self.embedder, reader.path)
        searcher = self._build_searcher(reader)
        warm_seconds = warm_up(searcher, first=self._searcher is None)  # before it serves: no request pays for first use
        with self._swap_lock:
            current = self._searcher.reader if self._searcher is not None else None
            if current is not None and reader.generation <= current.generation:
                return  # already serving this commit or a newer one
            self._searcher = searcher
            if self.open_segments is not None:
                self.open_segments.served({s.name for s in reader.segments})
        stats = reader.segment_stats()
        self.metrics.documents.set(reader.summary.documents)
        self.metrics.passages.set(reader.summary.passages)
        self.metrics.segments.set(len(stats))
        self.metrics.deleted.set(sum(x.deleted for x in stats))
        self.metrics.swaps.inc()
        self.metrics.ready.set(1)
        self.phase = Phase("ready", f"serving commit {reader.path.name}")
        self._ready.set()
        self.alerts.on_commit(reader)  # whoever committed it: its new documents against the saved searches
        log.info(
            "commit loaded",
            extra={
                "event": "commit_loaded",
                "commit": reader.path.name,
                "documents": reader.summary.documents,
                "warm_up_ms": round(warm_seconds * 1000, 1),
            },
        )

    # -- start-up ------------------------------------------------------------------------------

    def start(self, corpus: Path | None = None) -> None:
        """Load (or first build) the index in a background thread; the server answers meanwhile."""
        if self._bootstrap is None:
            self._bootstrap = threading.Thread(target=self.bootstrap, args=(corpus,), name="semsearch-bootstrap", daemon=True)
            self._bootstrap.start()
            self.maintenance.start()
            self.alerts.start()

    def stop(self) -> None:
        self.maintenance.stop()
        self.alerts.stop()

    def bootstrap(self, corpus: Path | None = None) -> None:
        """Load the model and the live commit; index `corpus` first when the index has no commit."""
        try:
            with self._write_lock:
                self._remove_leftovers()
            self.embedder  # noqa: B018 - loads the model once, before the first request needs it
            with self._write_lock:
                if self.layout.is_empty() and corpus is not None:
                    self._index_corpus(corpus)
                if self.layout.is_empty():
                    self._set_phase("empty", "the index is empty: add documents with POST /documents (or start with --corpus)")
                    return
                self._set_phase("loading commit", f"loading the index at {self.layout.root}")
                self._swap(self._open())
        except SemsearchError as exc:
            self._set_phase("failed", str(exc))
            log.error("start-up failed: %s", exc, extra={"event": "startup_failed"})
        except Exception as exc:  # keep serving /healthz and /readyz; the reason is in the log
            self._set_phase("failed", f"start-up failed ({type(exc).__name__}); see the server log")
            log.exception("start-up failed", extra={"event": "startup_failed"})

    def _remove_leftovers(self) -> None:
        """What a write killed mid-way left behind (.tmp-* folders, a never-published commit point),
        under the writer lock; skipped while another process writes (its next write cleans up)."""
        with self.layout.try_writer_lock() as locked:
            if not locked:
                log.info("another writer holds the index lock; leftovers are left to it", extra={"event": "leftovers_skipped"})
                return
            removed = self.layout.remove_leftovers()
        if removed:
            log.warning(
                "removed %d leftover(s) of an interrupted write",
                len(removed),
                extra={"event": "leftovers_removed", "paths": [p.name for p in removed]},
            )

    def _index_corpus(self, corpus: Path) -> None:
        from ..ingest.readers import read_paths

        self._set_phase("indexing corpus", f"indexing {corpus}")
        batch = read_paths([corpus])
        for problem in batch.problems:
            log.warning("corpus: skipped %s", problem, extra={"event": "corpus_skipped"})
        for note in batch.notes:
            log.info("corpus: %s", note, extra={"event": "corpus_note"})
        if batch.documents:
            report = self._writer().write(batch.documents)
            log.info(
                "corpus indexed",
                extra={"event": "corpus_indexed", "corpus": str(corpus), "documents": report.documents, "passages": report.passages},
            )

    # -- writing -------------------------------------------------------------------------------

    def _writer(self) -> IndexWriter:
        s = self.settings
        return IndexWriter(
            self.layout.root, self.embedder, s.chunking(), s.index_type, s.embed_batch_size, passage_vectors=s.passage_vectors,
            latent_terms=s.latent_terms,
        )

    def write(self, documents: Sequence[Document] = (), delete_ids: Sequence[str] = ()) -> WriteReport:
        """Apply a write; returns once it is durable and the live Searcher serves it."""
        with self._write_lock:
            published: list[R] = []

            def load(path: Path) -> None:
                # Under IndexWriter's file lock: the commit just published, before anyone replaces it.
                try:
                    published.append(self._open_generation(self.layout.generation()))
                except SemsearchError as exc:
                    log.error("cannot load the commit just written: %s", exc, extra={"event": "commit_open_failed"})

            report = self._writer().write(documents, delete_ids, on_published=load)
            if report.changed:
                self._swap(published[0] if published else self._open())
                self.maintenance.committed()
            elif self._searcher is None and not self.layout.is_empty():
                self._swap(self._open())
            return report

    def optimize(self, max_segments: int = 1) -> list[MergeReport]:
        """Force-merge (POST /admin/optimize); returns once the live commit after it is served, also when
        another request's merge did the work (this one then waited for it and merged nothing)."""
        reports = self.maintenance.run_merges(lambda: self.maintenance.merger.force_merge(max_segments))
        self.serve_live_commit()
        return reports

    def serve_live_commit(self, timeout: float = 60.0) -> None:
        """Until the commit live now is served (another thread may be opening it), at most `timeout` s."""
        target = self.layout.generation()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.refresh()
            current = self._searcher.reader if self._searcher is not None else None
            if current is None or current.generation >= target:
                return
            time.sleep(0.02)


class ServiceState(ServiceBase[IndexReader, Searcher[IndexReader]]):
    """The service over commits opened in this process: a new reader reuses the segments the served one
    has open, and those a merge here opened before its commit."""

    def _make_open_segments(self) -> OpenSegments | None:
        return OpenSegments(self.layout, lambda: self._searcher.reader.segments if self._searcher is not None else [])

    def _warmed(self) -> dict[str, Segment] | None:
        return self.open_segments.known() if self.open_segments is not None else None

    def _open(self) -> IndexReader:
        current = self._searcher.reader if self._searcher is not None else None
        return open_index(self.layout.root, previous=current, opened=self._warmed())

    def _open_generation(self, generation: int) -> IndexReader:
        current = self._searcher.reader if self._searcher is not None else None
        return open_commit(self.layout, generation, previous=current, opened=self._warmed())

    def _build_searcher(self, reader: IndexReader) -> Searcher[IndexReader]:
        return build_searcher(reader, self.embedder, self.settings.search_config(), self.cache, annotations=self._annotations(reader))

    def _annotations(self, reader: IndexReader) -> AnnotationView:
        """Entities and stories of the commit about to be served: whatever process committed it, its new
        documents are processed here if they were not yet (annotations.py); a failure leaves them to the next commit."""
        try:
            self.annotator.catch_up(reader)
        except Exception:
            log.exception("entities and stories not updated", extra={"event": "annotations_failed"})
        return self.annotator.view(reader)
