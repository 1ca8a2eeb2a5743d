"""The manifest: what a format-1 snapshot held, read once to convert it (store/legacy.py), and the
versioned-JSON check the commit point's reader shares. A reader of a commit summarizes it with
store/reader.py's IndexSummary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import IndexCorruptError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


def read_versioned_json(path: Path, what: str, version: int) -> dict:
    """A JSON object of this format version; anything else is a clear error naming the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: {what} is missing") from None
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path}: {what} is unreadable ({exc})") from None
    if not isinstance(data, dict) or data.get("format_version") != version:
        found = data.get("format_version") if isinstance(data, dict) else None
        raise IndexCorruptError(f"{path}: index format version {found!r}, this semsearch reads version {version}; re-index")
    return data


@dataclass
class Manifest:
    model: str
    dim: int
    documents: int
    passages: int
    index_type: str
    built_at: str
    chunking: dict = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def write(self, folder: Path) -> None:
        (folder / MANIFEST_NAME).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """A format-1 snapshot's manifest (read once, to convert the snapshot into a segment)."""
        path = folder / MANIFEST_NAME
        data = read_versioned_json(path, "manifest", FORMAT_VERSION)
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise IndexCorruptError(f"{path}: manifest is incomplete ({exc})") from None
