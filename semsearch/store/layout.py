"""The index directory: immutable segments, commit points published by rename, a writer lock.

    <index_dir>/segments_<gen>                commit point N (JSON, see commit.py); the live one is the highest
    <index_dir>/segments/<name>/              one immutable segment (see segment.py)
    <index_dir>/segments/<name>/deletes_<gen>.npy   its tombstones as of commit <gen>, a new file per change
    <index_dir>/.tmp-<uuid>/                  a segment being written, flocked by its writer; or a Ray job's
                                              staging folder of prepared segments, flocked by its driver (staging.py)
    <index_dir>/.lock                         held by the one writer (and by a merge while it commits)
    <index_dir>/.merge.lock                   held by the one merge running on this index

A crash at any moment leaves the highest commit naming complete segments: a segment folder is renamed
into segments/ and its tombstone files fsynced before the commit point that names them is renamed into
place. What a crash can leave (a .tmp-* folder, a segments_<gen>.*.tmp commit, a segment or deletes
file no commit names) is removed under the writer lock by the next write, and by `semsearch serve` at
start; a .tmp-* folder whose owner still holds its lock (a merge in progress) is left alone.

Fault injection, for the crash tests only: with SEMSEARCH_FAULT set to one of FAULT_POINTS, the
process kills itself with SIGKILL at that point. Unset (always, outside tests), it does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

from .commit import CommitPoint
from .files import fsync_path, fsync_tree

SEGMENTS = "segments"
COMMIT_PREFIX = "segments_"
TMP_PREFIX = ".tmp-"
OWNER_LOCK = ".owner"
LEGACY_CURRENT = "CURRENT"  # format 1: CURRENT names a complete snapshot under snapshots/
LEGACY_SNAPSHOTS = "snapshots"
FAULT_ENV = "SEMSEARCH_FAULT"
FAULT_POINTS = (
    "segment_written",  # the new segment's files are written, not yet renamed into segments/
    "before_rename",  # the segment is fsynced, not yet renamed into segments/
    "after_rename",  # the segment is in segments/, its tombstones and the commit point are not written
    "after_deletes",  # the tombstone files are written, the commit point is not
    "after_pointer",  # the commit point is published (the write is durable), files not yet cleaned
    "merge_written",  # a merge wrote its segment, before it takes the lock to commit
    "merge_committed",  # a merge published its commit point, the merged-away segments are still on disk
)
_COMMIT_RE = re.compile(rf"^{COMMIT_PREFIX}(\d+)$")


def fault(point: str) -> None:
    """Test-only: die by SIGKILL here when SEMSEARCH_FAULT names this point."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


class IndexDirectory:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def segments(self) -> Path:
        return self.root / SEGMENTS

    # -- commit points -------------------------------------------------------------------------

    def generations(self) -> list[int]:
        """Generations of the published commit points, newest first (one listdir: cheap to poll)."""
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted((int(m.group(1)) for m in map(_COMMIT_RE.match, names) if m), reverse=True)

    def generation(self) -> int:
        """The live generation; 0 when nothing is committed."""
        gens = self.generations()
        return gens[0] if gens else 0

    def commit_path(self, generation: int) -> Path:
        return self.root / f"{COMMIT_PREFIX}{generation}"

    def is_legacy(self) -> bool:
        """A format-1 index (CURRENT + snapshots/) that has not been converted yet."""
        return not self.generations() and (self.root / LEGACY_CURRENT).is_file()

    def is_empty(self) -> bool:
        return not self.generations() and not self.is_legacy()

    # -- locks -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time, across processes (the CLI, a running service, a merge's commit)."""
        with self._lock(".lock", blocking=True):
            yield

    @contextlib.contextmanager
    def try_writer_lock(self) -> Iterator[bool]:
        """The writer lock if no one holds it (True), else go on without it (False)."""
        if not self.root.is_dir():
            yield False
            return
        with self._lock(".lock", blocking=False) as locked:
            yield locked

    @contextlib.contextmanager
    def merge_lock(self, blocking: bool = True) -> Iterator[bool]:
        """One merge at a time on this index (a service's background merges, `semsearch optimize`)."""
        with self._lock(".merge.lock", blocking=blocking) as locked:
            yield locked

    @contextlib.contextmanager
    def _lock(self, name: str, blocking: bool) -> Iterator[bool]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / name, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- temporary folders -------------------------------------------------------------------------

    @contextlib.contextmanager
    def temp_folder(self) -> Iterator[Path]:
        """A fresh folder for a segment being written, locked by its owner for as long as it lives, so
        that clean-up by another writer never removes a merge in progress. Removed on exit unless it was
        renamed away."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        path.mkdir()
        with open(path / OWNER_LOCK, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                if path.exists():
                    shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def _owned(temp: Path) -> bool:
        try:
            with open(temp / OWNER_LOCK, "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(handle, fcntl.LOCK_UN)
        except OSError:
            return False
        return False

    def new_segment_name(self) -> str:
        return f"seg-{uuid.uuid4().hex[:16]}"

    def publish_segment(self, temp: Path, name: str, fsynced: bool = False) -> Path:
        """Rename a complete segment folder into segments/ (not yet named by any commit); its files are
        flushed first unless the caller did (`fsynced`)."""
        if not fsynced:
            fsync_tree(temp)
        (temp / OWNER_LOCK).unlink(missing_ok=True)
        self.segments.mkdir(parents=True, exist_ok=True)
        final = self.segments / name
        fault("before_rename")
        os.rename(temp, final)
        fsync_path(self.segments)
        fault("after_rename")
        return final

    # -- clean-up -----------------------------------------------------------------------------------

    def remove_leftovers(self, keep: set[tuple[str, str | None]] | None = None, keep_commits: int = 2) -> list[Path]:
        """What interrupted writes and merges left, and what no kept commit needs any more: .tmp-* folders
        whose owner is gone, commit temp files, commit points older than the `keep_commits` newest,
        segment folders and tombstone files those commits do not name, and a converted format-1 index's
        old files. `keep`: (segment, deletes file) pairs the kept commits name (computed by the caller,
        which can read them); None reads them here. Call under the writer lock."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for path in self.root.iterdir():
            if path.name.startswith(TMP_PREFIX) and path.is_dir() and not self._owned(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            elif path.name.startswith(COMMIT_PREFIX) and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                removed.append(path)
        gens = self.generations()
        if not gens:
            return removed
        for gen in gens[keep_commits:]:
            self.commit_path(gen).unlink(missing_ok=True)
        if keep is None:
            keep = set()
            for gen in gens[:keep_commits]:
                try:
                    commit = CommitPoint.read(self.commit_path(gen))
                except Exception:  # noqa: BLE001 - a damaged commit keeps nothing; the reader reports it
                    continue
                keep |= {(s.name, s.deletes) for s in commit.segments}
        names = {name for name, _ in keep}
        deletes = {(name, d) for name, d in keep if d}
        if self.segments.is_dir():
            for folder in self.segments.iterdir():
                if folder.name not in names:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
                    continue
                for path in folder.glob("deletes_*.npy"):
                    if (folder.name, path.name) not in deletes:
                        path.unlink(missing_ok=True)
                        removed.append(path)
        for legacy in (self.root / LEGACY_CURRENT, self.root / LEGACY_SNAPSHOTS):
            if legacy.is_dir():
                shutil.rmtree(legacy, ignore_errors=True)
                removed.append(legacy)
            elif legacy.exists():
                legacy.unlink(missing_ok=True)
                removed.append(legacy)
        for stray in self.root.glob(f"{LEGACY_CURRENT}.*.tmp"):
            stray.unlink(missing_ok=True)
        return removed
