"""The records that flow through the pipeline: documents -> passages."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    doc_id: str
    text: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    lang: str | None = None
    origin: str | None = None  # file (and line) it was read from, for messages

    def content_hash(self) -> str:
        """Hash of everything that shapes the passages; equal hash means nothing to re-embed."""
        payload = {k: v for k, v in asdict(self).items() if k != "origin"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Passage:
    doc_id: str
    ordinal: int
    start: int  # character offsets into the document's cleaned text
    end: int
    text: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    lang: str | None = None

    @property
    def passage_id(self) -> str:
        return f"{self.doc_id}#{self.ordinal}"


@dataclass
class ReadProblem:
    """One input that could not be read; the rest of the batch goes on."""

    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass
class ReadBatch:
    documents: list[Document] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)
    notes: list[ReadProblem] = field(default_factory=list)  # read, with a remark (e.g. decoded as Windows-1252)
    # doc_id -> author of a web article: reported, not stored (the index has no author column yet)
    authors: dict[str, str] = field(default_factory=dict)
