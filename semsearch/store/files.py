"""Durable file operations: what makes a rename-published file or folder survive a crash."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file, or a folder (so that a rename or a new entry in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Flush every file of a freshly written folder before it can be published."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(Path(root))


def write_durably(path: Path, data: bytes) -> None:
    """`data` at `path`, all or nothing: a temp file fsynced, renamed, the folder fsynced."""
    temp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_path(path.parent)
