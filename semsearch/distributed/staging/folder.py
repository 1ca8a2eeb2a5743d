"""A job's staging folder: where parallel writers (the Ray job's tasks, on any node that sees the index
directory) prepare segments that no commit names yet, and take their passage ids from one pool.

    <index_dir>/.tmp-<uuid>/            made and flocked by the job's driver for the whole job
        staging.json                    what the writers need to know: the model, its dimensions, chunking
        vids.json, vids.lock            the pool of passage ids reserved for the job, and its lock
        segment-<uuid>/                 one prepared segment

Passage ids stay dense: a writer takes exactly what its segment needs from the pool, under the pool's
lock (flock: across processes and nodes, NFSv4 included); an empty pool is refilled by a reservation in
the index (`extend`, a commit point that moves next_vid). The folder is a `.tmp-*` folder like a single
write's: while its driver lives and holds it no clean-up touches it; once the job is gone (done, or
killed), the next write, merge or `semsearch serve` removes it with everything never published. Nothing
in it is visible to a search: only a commit point names segments, and it names them in segments/.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import SemsearchError
from ...store.files import write_durably

STAGING_MANIFEST = "staging.json"
POOL = "vids.json"
POOL_LOCK = "vids.lock"


@dataclass(frozen=True)
class VidPool:
    """Reserved ids [next, end) not handed out yet."""

    next: int = 0
    end: int = 0


def create_staging(folder: Path, meta: dict, pool: VidPool = VidPool()) -> None:
    """Make `folder` (an owned `.tmp-*` folder) a staging folder; `meta`: what its writers read back."""
    write_durably(folder / STAGING_MANIFEST, json.dumps(meta).encode())
    write_durably(folder / POOL, json.dumps(asdict(pool)).encode())


def read_staging(folder: Path) -> dict:
    try:
        return json.loads((folder / STAGING_MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise SemsearchError(f"{folder}: not a staging folder, or its job ended ({exc})") from None


@contextlib.contextmanager
def pool_lock(folder: Path) -> Iterator[VidPool]:
    """The pool, read under its lock; held until the block ends."""
    with open(folder / POOL_LOCK, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield VidPool(**json.loads((folder / POOL).read_text()))
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim_vids(folder: Path, count: int, extend: Callable[[int], tuple[int, int]]) -> int:
    """The first of `count` consecutive passage ids no one else gets. `extend(count)`: reserve at least
    `count` more in the index, as (first, end), when the pool has too few (what it had left is skipped)."""
    with pool_lock(folder) as pool:
        if pool.end - pool.next < count:
            pool = VidPool(*extend(count))
        write_durably(folder / POOL, json.dumps(asdict(VidPool(pool.next + count, pool.end))).encode())
        return pool.next


def empty_pool(folder: Path, at: int) -> None:
    """The pool given back (call under `pool_lock`): a later claim reserves anew."""
    write_durably(folder / POOL, json.dumps(asdict(VidPool(at, at))).encode())


def new_segment_folder(folder: Path) -> Path:
    path = folder / f"segment-{uuid.uuid4().hex[:16]}"
    path.mkdir()
    return path
