"""A job's staging folder: where parallel writers (the Ray job's tasks, on any node that sees the index
directory) prepare segments that no commit names yet, each in a block of passage ids of its own.

    <index_dir>/.tmp-<uuid>/            made and flocked by the job's driver for the whole job
        staging.json                    the job's reserved vids: first, block size, number of blocks
        claims/<k>/                     block k claimed (mkdir: atomic, also on NFS); never removed
        segment-<k>/                    the segment written in block k: vids first + k * block ...

The folder is a `.tmp-*` folder like a single write's: while the driver lives (and holds its lock) no
clean-up touches it; once it is gone (job done, or killed), the next write, merge or `semsearch serve`
removes it with everything never published (`IndexDirectory.remove_leftovers`). Nothing in it is
visible to a search: only a commit point names segments, and it names them in segments/.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SemsearchError

STAGING_MANIFEST = "staging.json"
CLAIMS = "claims"
BLOCK_VIDS = 1 << 20  # passages one prepared segment holds at most
BLOCKS = 1 << 20  # prepared segments one job writes at most (its reservation: 2^40 vids)


@dataclass(frozen=True)
class StagingInfo:
    first_vid: int
    block_vids: int = BLOCK_VIDS
    blocks: int = BLOCKS

    @property
    def end_vid(self) -> int:
        return self.first_vid + self.block_vids * self.blocks


def create_staging(folder: Path, info: StagingInfo) -> None:
    """Make `folder` (an owned `.tmp-*` folder) a staging folder for the vids `info` reserves."""
    (folder / CLAIMS).mkdir()
    (folder / STAGING_MANIFEST).write_text(json.dumps(asdict(info)) + "\n")


def read_staging(folder: Path) -> StagingInfo:
    try:
        return StagingInfo(**json.loads((folder / STAGING_MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise SemsearchError(f"{folder}: not a staging folder, or its job ended ({exc})") from None


def claim_block(folder: Path) -> tuple[Path, int]:
    """A fresh block of vids for one prepared segment: its (new, empty) folder and first vid. Concurrent
    claimers on any node get distinct blocks; a block claimed by a writer that died stays unused."""
    info = read_staging(folder)
    claims = folder / CLAIMS
    k = len(os.listdir(claims))  # claims are never removed: the next free one, or close to it
    while k < info.blocks:
        try:
            (claims / str(k)).mkdir()
        except FileExistsError:
            k += 1
            continue
        segment = folder / f"segment-{k}"
        segment.mkdir()
        return segment, info.first_vid + k * info.block_vids
    raise SemsearchError(f"{folder}: the job has written its {info.blocks} segments; index the rest in another run")
