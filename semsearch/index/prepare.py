"""Preparing segments in parallel: the half of a write that any process can do on its own.

`prepare_segments` writes documents (already split) and their vectors as complete, fsynced segments in
a job's staging folder (store/staging.py) and returns small `PreparedSegment` descriptors; nothing is
visible until `publish.publish_segments` (the driver, under the writer lock) names them in a commit
point. Used by the Ray job's writing tasks; a single-machine write goes through `IndexWriter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..documents import Document, Passage
from ..store.layout import fsync_tree
from ..store.staging import claim_block, read_staging
from .segment_build import EmbedFn, embed_passages, write_segment_files


@dataclass
class PreparedSegment:
    """A written, unpublished segment: what the driver needs to commit it (a few bytes a document)."""

    folder: str  # relative to the index directory
    first_vid: int
    passages: int
    documents: int
    hashes: dict[str, str] = field(default_factory=dict)  # doc_id -> content hash, of every document in it
    written_by: str = ""  # who wrote it (a Ray node and process), for the report

    @property
    def end_vid(self) -> int:
        return self.first_vid + self.passages


def latest_copies(documents: Sequence[tuple[Document, list[Passage]]]) -> list[tuple[Document, list[Passage]]]:
    """One copy per doc id, the last one, in the order of those last copies (as `IndexWriter` plans)."""
    latest: dict[str, tuple[Document, list[Passage]]] = {}
    for item in documents:
        latest.pop(item[0].doc_id, None)
        latest[item[0].doc_id] = item
    return list(latest.values())


def prepare_segments(
    index_dir: Path,
    staging: Path,
    documents: Sequence[tuple[Document, list[Passage]]],
    embed: EmbedFn,
    dim: int,
    index_type: str | None = None,
    batch_size: int = 32,
    written_by: str = "",
) -> list[PreparedSegment]:
    """The documents (language set, with their passages, in input order; a repeated id keeps its last copy) as segments
    in `staging`, each at most one vid block of passages. `embed` gives the vectors of the texts
    `embedding_texts.texts_to_embed` lists."""
    block = read_staging(staging).block_vids
    prepared: list[PreparedSegment] = []
    group: list[tuple[Document, list[Passage]]] = []
    size = 0
    for doc, passages in latest_copies(documents):
        if len(passages) > block:
            raise ValueError(f"{doc.doc_id}: {len(passages)} passages, more than a segment holds ({block})")
        if size + len(passages) > block:
            prepared.append(_write(index_dir, staging, group, embed, dim, index_type, batch_size, written_by))
            group, size = [], 0
        group.append((doc, passages))
        size += len(passages)
    if any(passages for _, passages in group):
        prepared.append(_write(index_dir, staging, group, embed, dim, index_type, batch_size, written_by))
    return prepared


def _write(
    index_dir: Path, staging: Path, group: list[tuple[Document, list[Passage]]], embed: EmbedFn, dim: int,
    index_type: str | None, batch_size: int, written_by: str,
) -> PreparedSegment:
    plan = [doc for doc, _ in group]
    passages = [(doc, p) for doc, ps in group for p in ps]
    embedded = embed_passages(passages, embed, dim, batch_size)
    folder, first_vid = claim_block(staging)
    info = write_segment_files(folder, plan, passages, embedded, first_vid, dim, index_type)
    fsync_tree(folder)
    return PreparedSegment(
        str(folder.relative_to(index_dir)), first_vid, info.passages, info.documents,
        {doc.doc_id: doc.content_hash() for doc in plan}, written_by,
    )
