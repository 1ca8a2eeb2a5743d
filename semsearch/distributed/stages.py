"""The work a Ray cluster does for `semsearch index --ray`, as Ray Data stages.

1. `prepare_files` (tasks, a block of files each): read, clean, detect the language, leave out
   documents whose content hash the index already holds, split the rest into passages and list the
   texts the writer will embed (`texts_to_embed`). Everything here is the single-machine code.
2. `EmbedTexts` (an actor pool): the model is loaded once per actor; a batch of documents has its
   texts embedded in slices of the embedding batch size.
3. `write_segments` (tasks, a bounded batch of documents each): the documents and their vectors as
   one segment in the job's staging folder, on the shared index directory (distributed/staging/prepare.py), sent
   on as one small SEGMENT row: the descriptor the driver commits (distributed/staging/publish.py).

A row is one document (or one skipped document, unreadable input, note, or written segment): JSON,
with the vectors beside it as float32 bytes until the segment is written; vectors never reach the driver.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Document, Passage, ReadBatch
from ..embedding import Embedder, load_embedder
from ..index.chunking import ChunkingConfig, split_passages
from ..index.embedding_texts import texts_to_embed
from ..index.segment_build import BlobFn, EmbedFn, latent_blobs
from ..ingest.readers import read_file
from ..text.lang import detect_language
from .staging.prepare import prepare_segment

DOC, UNCHANGED, PROBLEM, NOTE, SEGMENT = "doc", "unchanged", "problem", "note", "segment"
Batch = dict[str, Any]  # Ray Data's "numpy" batch format: column -> array


@dataclass(frozen=True)
class ModelSpec:
    """What loads the index's model in a worker: the spec and the prompts of the settings."""

    spec: str
    query_prompt: str | None = None
    passage_prompt: str | None = None

    def load(self) -> Embedder:
        return load_embedder(self.spec, query_prompt=self.query_prompt, passage_prompt=self.passage_prompt)


@lru_cache(maxsize=2)
def _tokenizing_model(model: ModelSpec) -> Embedder:
    """Ray reuses worker processes: splitting tasks load the model (for token counts) once per process."""
    return model.load()


def _rows() -> dict[str, list]:
    return {"kind": [], "payload": [], "vectors": []}


def _add(rows: dict[str, list], kind: str, payload: dict, vectors: bytes = b"") -> None:
    rows["kind"].append(kind)
    rows["payload"].append(json.dumps(payload, ensure_ascii=False))
    rows["vectors"].append(vectors)


def prepare_files(batch: Batch, *, known: Any, model: ModelSpec, chunking: dict[str, int]) -> dict[str, list]:
    """Files -> documents to embed, each with its texts. `known`: an object reference to the
    index's {doc_id: content hash} (shared by every task through the object store)."""
    import ray

    hashes: dict[str, str] = ray.get(known)
    config = ChunkingConfig(**chunking)
    counter = _tokenizing_model(model).count_tokens
    rows = _rows()
    for path, doc_id in zip(batch["path"], batch["doc_id"]):
        read: ReadBatch = read_file(Path(str(path)), str(doc_id))
        for problem in read.problems:
            _add(rows, PROBLEM, {"origin": problem.origin, "reason": problem.reason})
        for note in read.notes:
            _add(rows, NOTE, {"origin": note.origin, "reason": note.reason})
        for doc in read.documents:
            if not doc.lang:  # as IndexWriter does, before hashing: the language is part of the hash
                doc.lang = detect_language(doc.text)
            if hashes.get(doc.doc_id) == doc.content_hash():
                _add(rows, UNCHANGED, {"doc_id": doc.doc_id})
                continue
            passages = split_passages(doc, counter, config)
            spans = [[p.start, p.end, p.lang] for p in passages]
            _add(rows, DOC, {"doc": asdict(doc), "texts": texts_to_embed(doc, passages), "spans": spans})
    return rows


class EmbedTexts:
    """A Ray Data actor: the model once per actor, then batches of documents."""

    def __init__(self, model: ModelSpec, batch_size: int, device: str | None = None, latent_terms: bool = True) -> None:
        if device:
            os.environ["SEMSEARCH_DEVICE"] = device  # read by the sentence-transformers backend
        self.embedder = model.load()
        self.batch_size = batch_size
        self.latent_terms = latent_terms  # settings.latent_terms, as IndexWriter

    def __call__(self, batch: Batch) -> dict[str, list]:
        kinds, payloads = list(batch["kind"]), [json.loads(p) for p in batch["payload"]]
        texts = [text for kind, p in zip(kinds, payloads) if kind == DOC for text in p["texts"]]
        vectors = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            vectors[i:i + self.batch_size] = self.embedder.embed_passages(texts[i:i + self.batch_size])
        for kind, payload in zip(kinds, payloads):
            if kind == DOC and self.latent_terms:
                self._add_latent(payload)
        rows, cursor = _rows(), 0
        for kind, payload in zip(kinds, payloads):
            own = b""
            if kind == DOC:
                n = len(payload["texts"])
                own, cursor = vectors[cursor:cursor + n].tobytes(), cursor + n
            _add(rows, kind, payload, own)
        return rows


    def _add_latent(self, payload: dict) -> None:
        """The passages' latent terms (segment_build.embed_passages's), as blobs in the payload, when the model has them."""
        text = payload["doc"]["text"]
        blobs = latent_blobs(self.embedder.latent_terms, [text[start:end] for start, end, _ in payload["spans"]], self.batch_size)
        if blobs is not None:
            payload["latent"] = [base64.b64encode(b).decode() for b in blobs]


def decode_document(payload: dict, vectors: bytes, dim: int) -> tuple[Document, list[str], np.ndarray]:
    """A DOC row back on the driver: the document, its texts and their vectors."""
    matrix = np.frombuffer(vectors, dtype=np.float32).reshape(-1, dim)
    texts = payload["texts"]
    if len(matrix) != len(texts):
        raise ValueError(f"{payload['doc']['doc_id']}: {len(matrix)} vectors for {len(texts)} texts")
    return Document(**payload["doc"]), texts, matrix


def _passages(doc: Document, spans: list[list]) -> list[Passage]:
    """The passages `split_passages` gave, rebuilt from their offsets (the text travels once, in the document)."""
    return [
        Passage(doc.doc_id, i, start, end, doc.text[start:end], doc.title, doc.date, doc.source, doc.url, lang)
        for i, (start, end, lang) in enumerate(spans)
    ]


def _lookup(vectors: dict[str, np.ndarray], dim: int) -> EmbedFn:
    """The embedding function of a writing task: the vectors the actors computed, by text."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        try:
            return np.stack([vectors[t] for t in texts]) if len(texts) else np.zeros((0, dim), np.float32)
        except KeyError as exc:  # never expected: texts_to_embed lists what the writer asks for
            raise RuntimeError(f"no vector was computed for the text {str(exc)[:80]}") from None

    return embed


def _latent_lookup(blobs: dict[str, bytes]) -> BlobFn:
    """The latent-terms blobs of a writing task: what the actors computed, by passage text (None: not all were)."""

    def latent(texts: Sequence[str]) -> list[bytes] | None:
        return [blobs[t] for t in texts] if all(t in blobs for t in texts) else None

    return latent


def write_segments(batch: Batch, *, index_dir: str, staging: str, dim: int, index_type: str | None) -> dict[str, list]:
    """Embedded documents -> segments in the staging folder, written here (on whichever node runs the
    task): the batch's DOC rows become the SEGMENT row of the segment written, the other rows pass through."""
    import ray

    rows, docs, vectors, latent = _rows(), [], {}, {}
    complete = True  # every document came with its passages' latent terms
    for kind, payload, blob in zip(batch["kind"], batch["payload"], batch["vectors"]):
        data = json.loads(str(payload))
        if kind != DOC:
            _add(rows, str(kind), data)
            continue
        doc, texts, matrix = decode_document(data, bytes(blob), dim)
        vectors.update(zip(texts, matrix))
        passages = _passages(doc, data["spans"])
        docs.append((doc, passages))
        if "latent" in data and len(data["latent"]) == len(passages):
            latent.update((p.text, base64.b64decode(b)) for p, b in zip(passages, data["latent"]))
        else:
            complete = False
    writer = f"{ray.get_runtime_context().get_node_id()}/{os.getpid()}"
    segment = prepare_segment(
        Path(index_dir), Path(staging), docs, _lookup(vectors, dim), dim, index_type, 256, writer,
        _latent_lookup(latent) if complete else None,
    )
    if segment is not None:
        _add(rows, SEGMENT, asdict(segment))
    return rows
