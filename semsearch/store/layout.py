"""The index directory: immutable snapshots, a CURRENT pointer swapped by rename, a writer lock.

    <index_dir>/CURRENT             name of the live snapshot (replaced atomically)
    <index_dir>/snapshots/<name>/   one complete snapshot, never modified once published
    <index_dir>/.tmp-<uuid>/        a snapshot being written (removed at the next write or start)
    <index_dir>/.lock               held by the one writer

A crash at any moment leaves CURRENT naming a complete snapshot: the old one until the
final rename, the new one after it. What a crash can leave besides (a .tmp-* folder, a
CURRENT.*.tmp pointer, a snapshot renamed into snapshots/ that CURRENT never named) is
removed under the writer lock by the next write, and by `semsearch serve` at start.

Fault injection, for the crash tests only: with SEMSEARCH_FAULT set to one of FAULT_POINTS,
`publish` kills its own process with SIGKILL at that point. Unset (always, outside tests),
it does nothing.
"""

from __future__ import annotations

import calendar
import contextlib
import fcntl
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import IndexCorruptError

CURRENT = "CURRENT"
SNAPSHOTS = "snapshots"
TMP_PREFIX = ".tmp-"
FAULT_ENV = "SEMSEARCH_FAULT"
FAULT_POINTS = ("before_rename", "after_rename", "after_pointer")


def _fault(point: str) -> None:
    """Test-only: die by SIGKILL here when SEMSEARCH_FAULT names this point."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Flush every file of a freshly written snapshot before it can be published."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


class IndexDirectory:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def snapshots(self) -> Path:
        return self.root / SNAPSHOTS

    def current_name(self) -> str | None:
        try:
            name = (self.root / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexCorruptError(f"{self.root / CURRENT}: unreadable ({exc})") from None
        if not name or "/" in name or name.startswith("."):
            raise IndexCorruptError(f"{self.root / CURRENT}: does not name a snapshot")
        return name

    def current_path(self) -> Path | None:
        name = self.current_name()
        return self.snapshots / name if name else None

    def snapshot_paths(self) -> list[Path]:
        """Published snapshots, newest first (names start with a sortable timestamp)."""
        if not self.snapshots.is_dir():
            return []
        return sorted((p for p in self.snapshots.iterdir() if p.is_dir()), reverse=True)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time, across processes (the CLI and a running service)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def new_temp(self) -> Path:
        """A fresh folder for a snapshot being written. Call under the writer lock."""
        self.remove_temps()
        path = self.root / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    @contextlib.contextmanager
    def try_writer_lock(self) -> Iterator[bool]:
        """The writer lock if no one holds it (True), else go on without it (False)."""
        if not self.root.is_dir():
            yield False
            return
        with open(self.root / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove_temps(self) -> list[Path]:
        """Leftovers of writes that died before publishing: .tmp-* folders, CURRENT.*.tmp pointers,
        and snapshots newer than the one CURRENT names (renamed into place, never pointed to, so
        never acknowledged). Call under the writer lock."""
        removed = []
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.name.startswith(TMP_PREFIX):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
                elif path.name.startswith(f"{CURRENT}.") and path.name.endswith(".tmp"):
                    path.unlink(missing_ok=True)
                    removed.append(path)
            try:
                current = self.current_name()
            except IndexCorruptError:
                current = None  # the reader reports it; nothing here can be judged an orphan
            if current is not None and (self.snapshots / current).is_dir():
                for path in self.snapshot_paths():
                    if path.name > current:
                        shutil.rmtree(path, ignore_errors=True)
                        removed.append(path)
        return removed

    def publish(self, temp: Path, keep: int = 2) -> Path:
        """Move a complete snapshot into place and point CURRENT at it; prune old ones."""
        fsync_tree(temp)
        self.snapshots.mkdir(parents=True, exist_ok=True)
        name = self._next_name()
        final = self.snapshots / name
        _fault("before_rename")
        os.rename(temp, final)
        fsync_dir(self.snapshots)
        _fault("after_rename")
        pointer = self.root / f"{CURRENT}.{uuid.uuid4().hex}.tmp"
        with open(pointer, "w") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, self.root / CURRENT)
        fsync_dir(self.root)
        _fault("after_pointer")
        self._prune(final, keep)
        return final

    def _next_name(self) -> str:
        """A name that sorts after every published snapshot, which pruning and crash clean-up rely on:
        one clock read (seconds and nanoseconds read apart once straddled a second), in UTC, and never
        behind the newest name even when the clock steps back."""
        ns = time.time_ns()
        newest = self.snapshot_paths()[:1]
        if newest:
            try:
                stamp, fraction = newest[0].name.split("-")[:2]
                last = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%S")) * 10**9 + int(fraction)
                ns = max(ns, last + 1)
            except ValueError:
                pass  # not one of ours: sorted among them by name all the same
        seconds, fraction = divmod(ns, 10**9)
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(seconds))}-{fraction:09d}-{uuid.uuid4().hex[:6]}"

    def _prune(self, current: Path, keep: int) -> None:
        """Keep the current snapshot and the one before it (a fallback if it is damaged)."""
        for path in self.snapshot_paths()[keep:]:
            if path != current:
                shutil.rmtree(path, ignore_errors=True)
        for stray in self.root.glob(f"{CURRENT}.*.tmp"):
            stray.unlink(missing_ok=True)
