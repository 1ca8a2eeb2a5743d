"""What a running service does for its index in the background: it opens commits made by any process
(a poll of the commit generation, a listdir every POLL_SECONDS), and runs the merge policy after
commits, off the write path.

A reopened commit reuses the segments already open and swaps the Searcher atomically (in-flight
searches finish on the reader they started with); a merge publishes its own commit, which the next
refresh serves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import SemsearchError
from ..index.merge import Merger, MergeReport
from ..index.merge_policy import MergePolicy

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


@dataclass
class MergeActivity:
    running: bool = False  # a merge pass: looking for merges (which waits for the writer lock) or merging
    completed: int = 0  # merges this process committed
    last: MergeReport | None = None
    last_error: str | None = None


class IndexMaintenance:
    def __init__(self, merger: Merger, refresh: Callable[[], bool], policy: MergePolicy = MergePolicy()) -> None:
        self.merger = merger
        self.refresh = refresh  # opens the newest commit if it is newer than the one served; True if it did
        self.policy = policy
        self.activity = MergeActivity()
        self._stop = threading.Event()
        self._merge_wanted = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._poll_loop, name="semsearch-poll", daemon=True),
                threading.Thread(target=self._merge_loop, name="semsearch-merge", daemon=True),
            ]
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._merge_wanted.set()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def merging(self) -> tuple[str, ...]:
        """The segments being merged into one right now; empty while the policy only looks for merges."""
        return self.merger.merging

    def committed(self) -> None:
        """A commit was published (by this process or another): look for merges to run."""
        self._merge_wanted.set()

    def _poll_loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                if self.refresh():
                    self.committed()
            except SemsearchError as exc:
                log.warning("cannot open the newest commit: %s", exc, extra={"event": "refresh_failed"})
            except Exception:  # keep polling; the reason is in the log
                log.exception("refresh failed", extra={"event": "refresh_failed"})

    def _merge_loop(self) -> None:
        while not self._stop.is_set():
            if not self._merge_wanted.wait(1.0) or self._stop.is_set():
                continue
            self._merge_wanted.clear()
            self.run_merges(lambda: self.merger.maybe_merge(self.policy))

    def run_merges(self, merge: Callable[[], list[MergeReport]]) -> list[MergeReport]:
        """Run `merge` (the policy's merges, or a force-merge), then serve what it committed."""
        started = time.perf_counter()
        self.activity.running = True
        try:
            reports = merge()
        except SemsearchError as exc:
            self.activity.last_error = str(exc)
            log.warning("merge failed: %s", exc, extra={"event": "merge_failed"})
            return []
        except Exception as exc:  # never take the service down; the reason is in the log
            self.activity.last_error = f"{type(exc).__name__}; see the server log"
            log.exception("merge failed", extra={"event": "merge_failed"})
            return []
        finally:
            self.activity.running = False
        if reports:
            self.activity.completed += len(reports)
            self.activity.last = reports[-1]
            log.info(
                "merges committed", extra={"event": "merges", "merges": len(reports), "seconds": round(time.perf_counter() - started, 3)}
            )
            try:
                self.refresh()
            except SemsearchError as exc:
                log.warning("cannot open the merged commit: %s", exc, extra={"event": "refresh_failed"})
        return reports
