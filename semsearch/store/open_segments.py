"""The segments a serving process has open, shared by its readers and its merges.

A merge reads its sources from the reader being served instead of opening them again (loading large
segments' rows is most of a merge's time, and a second copy doubles their memory), and opens the segment
it wrote before publishing its commit, as Lucene's merged-segment warmer does. The reader of that commit
then finds it open, so the write that follows a large merge does not pay for opening the merged segment
under the writer lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection

from ..errors import SemsearchError
from .commit import CommitPoint
from .layout import IndexDirectory
from .segment import Segment


class OpenSegments:
    def __init__(self, layout: IndexDirectory, served: Callable[[], list[Segment]]) -> None:
        self.layout = layout
        self._served = served  # the segments of the reader being served now
        self._warmed: dict[str, Segment] = {}
        self._lock = threading.Lock()

    def borrow(self, name: str) -> Segment | None:
        """An open segment by name, owned by the served reader (or warmed): do not close it."""
        for segment in self._served():
            if segment.name == name:
                return segment
        with self._lock:
            return self._warmed.get(name)

    def warmed(self, segment: Segment) -> None:
        """A merged segment, opened before the commit that names it is published."""
        with self._lock:
            self._warmed[segment.name] = segment

    def known(self) -> dict[str, Segment]:
        """What a reader of a new commit may reuse instead of opening: the warmed segments (the served
        reader's own are passed as `previous`)."""
        with self._lock:
            return dict(self._warmed)

    def served(self, names: Collection[str]) -> None:
        """A reader of these segments is served now: the warmed segments it holds are its own from now on;
        those the live commit no longer names (merged again before they were served) are closed."""
        with self._lock:
            for name in [n for n in self._warmed if n in names]:
                del self._warmed[name]
            if not self._warmed:
                return
            try:
                live = {e.name for e in CommitPoint.read(self.layout.commit_path(self.layout.generation())).segments}
            except (OSError, SemsearchError):  # a commit published meanwhile: look again at the next swap
                return
            for name in [n for n in self._warmed if n not in live]:
                segment = self._warmed.pop(name)
                if segment.users <= 0:
                    segment.conn.close()
