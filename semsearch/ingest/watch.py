"""Watching feeds: every round, fetch each feed and index its new and changed articles.

What the servers said of each feed and article (ETag, Last-Modified) is kept in a small JSON
state file beside the index, so the next round asks only for what changed: an unchanged feed
answers 304 and costs nothing else; a changed one has each of its articles asked for
conditionally. The state is saved only once the round's documents are in the index (a crash in
between fetches them again; nothing is lost), and atomically (a temporary file renamed over it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..documents import ReadBatch
from .fetcher import Fetcher, Validators, canonical_url
from .web import WebReader

if TYPE_CHECKING:  # the settings parse durations here without loading the writer's libraries
    from ..index.writer import IndexWriter, WriteReport

log = logging.getLogger("semsearch.watch")
STATE_VERSION = 1
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> float:
    """Seconds of `30s`, `15m`, `2h`, `1d` or a plain number of seconds; ValueError otherwise."""
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 30s, 15m, 2h or 1d")
    seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds < 1:
        raise ValueError(f"{value!r}: the interval must be at least one second")
    return seconds


def state_path(index_dir: str | Path) -> Path:
    """Beside the index folder (data/index -> data/index.watch.json): on the same volume, out of
    the folder the index's writer owns."""
    index_dir = Path(index_dir)
    return index_dir.parent / f"{index_dir.name}.watch.json"


@dataclass
class WatchState:
    validators: dict[str, Validators] = field(default_factory=dict)  # URL -> what its server last sent

    @classmethod
    def load(cls, path: Path) -> WatchState:
        """An unreadable state is started afresh (it only saves requests), with a warning; an entry that
        is not a URL with text validators is dropped (that URL is fetched in full once)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            urls = data["urls"]
            if not isinstance(urls, dict):
                raise TypeError("'urls' is not an object")
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("watch state %s unreadable (%s): starting afresh", path, exc)
            return cls()
        state, dropped = cls(), 0
        for url, saved in urls.items():
            if not isinstance(saved, dict):
                dropped += 1
                continue
            validators = Validators(saved.get("etag"), saved.get("last_modified"))  # drops what cannot be sent back
            dropped += (validators.etag, validators.last_modified) != (saved.get("etag"), saved.get("last_modified"))
            state.validators[url] = validators
        if dropped:
            log.warning("watch state %s: %d entries unusable as sent by their servers, dropped (fetched in full once)", path, dropped)
        return state

    def save(self, path: Path) -> None:
        data = {
            "version": STATE_VERSION,
            "urls": {url: {"etag": v.etag, "last_modified": v.last_modified} for url, v in sorted(self.validators.items())},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@dataclass
class RoundReport:
    batch: ReadBatch
    write: WriteReport | None  # None when nothing was fetched
    not_modified: int = 0
    stopped: bool = False  # interrupted: what was fetched before is written, the rest is fetched next time


class Watcher:
    def __init__(
        self,
        feeds: Sequence[str],
        writer: IndexWriter,
        fetcher: Fetcher,
        state_file: Path,
        stop: threading.Event | None = None,
    ) -> None:
        # As given (a private feed's credentials are sent), once each: the reader names them without credentials.
        once: dict[str, str] = {}
        for feed in feeds:
            once.setdefault(canonical_url(feed), feed.strip())
        self.feeds = list(once.values())
        self.writer = writer
        self.fetcher = fetcher
        self.state_file = state_file
        self.stop = stop or threading.Event()

    def run_round(self) -> RoundReport:
        state = WatchState.load(self.state_file)
        reader = WebReader(self.fetcher, known=state.validators, should_stop=self.stop.is_set)
        batch = ReadBatch()
        for feed in self.feeds:
            if self.stop.is_set():
                break
            reader.read_url(feed, batch)  # never raises: one feed's failure is its problem, the others go on
        stopped = self.stop.is_set()  # what was fetched before the signal is still written: a write finishes first
        for problem in batch.problems:
            log.warning("skipped %s", problem)
        write = None
        if batch.documents:
            write = self.writer.write(batch.documents)
            for doc in batch.documents:
                what = "changed page" if doc.doc_id in state.validators else "new"
                meta = ", ".join(x for x in (batch.authors.get(doc.doc_id), doc.source, doc.date) if x)
                log.info("article (%s) %s: %s%s", what, doc.doc_id, doc.title, f" ({meta})" if meta else "")
        state.validators.update(reader.fetched)
        state.save(self.state_file)
        report = RoundReport(batch, write, len(reader.not_modified), stopped=stopped)
        log.info("round %s: %s", "stopped" if stopped else "done", summary(report))
        return report

    def run(self, every: float, once: bool = False, on_round: Callable[[RoundReport], None] | None = None) -> None:
        """Rounds every `every` seconds until `stop` is set (a signal); a round in progress ends
        first, or at its next article when it is still fetching."""
        while not self.stop.is_set():
            report = self.run_round()
            if on_round is not None:
                on_round(report)
            if once or report.stopped:
                return
            self.stop.wait(every)


def summary(report: RoundReport) -> str:
    write = report.write
    added, updated, unchanged = (write.added, write.updated, write.unchanged) if write else (0, 0, 0)
    return (
        f"{added} added, {updated} updated, {unchanged + report.not_modified} unchanged "
        f"({report.not_modified} not modified since the last round), {len(report.batch.problems)} failed"
        + (f"; index holds {write.documents} documents" if write and write.documents else "")
    )
