"""Preparing segments in parallel: the half of a write that any process can do on its own.

`prepare_segment` writes documents (already split) and their vectors as a complete, fsynced segment in
a job's staging folder (distributed/staging/folder.py), with passage ids from the job's pool (vids.py), and returns
a small `PreparedSegment` descriptor; nothing is
visible until `publish.publish_segments` (the driver, under the writer lock) names them in a commit
point. Used by the Ray job's writing tasks; a single-machine write goes through `IndexWriter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...documents import Document, Passage
from ...index.segment_build import BlobFn, EmbedFn, embed_passages, write_segment_files
from ...store.files import fsync_tree
from .folder import new_segment_folder
from .vids import claim


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


def prepare_segment(
    index_dir: Path,
    staging: Path,
    documents: Sequence[tuple[Document, list[Passage]]],
    embed: EmbedFn,
    dim: int,
    index_type: str | None = None,
    batch_size: int = 32,
    written_by: str = "",
    latent: BlobFn | None = None,
) -> PreparedSegment | None:
    """The documents (language set, with their passages, in input order; a repeated id keeps its last copy)
    as one complete, fsynced segment in `staging`; None when they have no passage. `embed` gives the
    vectors of the texts `embedding_texts.texts_to_embed` lists. The caller bounds the segment's size."""
    plan = latest_copies(documents)
    passages = [(doc, p) for doc, ps in plan for p in ps]
    if not passages:
        return None
    embedded = embed_passages(passages, embed, dim, batch_size, latent=latent)
    folder = new_segment_folder(staging)
    first_vid = claim(index_dir, staging, len(passages))
    info = write_segment_files(folder, [doc for doc, _ in plan], passages, embedded, first_vid, dim, index_type)
    fsync_tree(folder)
    return PreparedSegment(
        str(folder.relative_to(index_dir)), first_vid, info.passages, info.documents,
        {doc.doc_id: doc.content_hash() for doc, _ in plan}, written_by,
    )
