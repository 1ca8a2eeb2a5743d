"""The work a Ray cluster does for `semsearch index --ray`, as Ray Data stages.

1. `prepare_files` (tasks, a block of files each): read, clean, detect the language, leave out
   documents whose content hash the index already holds, split the rest into passages and list the
   texts the writer will embed (`texts_to_embed`). Everything here is the single-machine code.
2. `EmbedTexts` (an actor pool): the model is loaded once per actor; a batch of documents has its
   texts embedded in slices of the embedding batch size.

A row is one document (or one skipped document, unreadable input or note): JSON, with the vectors
beside it as float32 bytes, so the driver gets each document whole, with its vectors.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Document, ReadBatch
from ..embedding import Embedder, load_embedder
from ..index.chunking import ChunkingConfig, split_passages
from ..index.embedding_texts import texts_to_embed
from ..index.readers import read_file
from ..text.lang import detect_language

DOC, UNCHANGED, PROBLEM, NOTE = "doc", "unchanged", "problem", "note"
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
            _add(rows, DOC, {"doc": asdict(doc), "texts": texts_to_embed(doc, passages), "passages": len(passages)})
    return rows


class EmbedTexts:
    """A Ray Data actor: the model once per actor, then batches of documents."""

    def __init__(self, model: ModelSpec, batch_size: int, device: str | None = None) -> None:
        if device:
            os.environ["SEMSEARCH_DEVICE"] = device  # read by the sentence-transformers backend
        self.embedder = model.load()
        self.batch_size = batch_size

    def __call__(self, batch: Batch) -> dict[str, list]:
        kinds, payloads = list(batch["kind"]), [json.loads(p) for p in batch["payload"]]
        texts = [text for kind, p in zip(kinds, payloads) if kind == DOC for text in p["texts"]]
        vectors = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            vectors[i:i + self.batch_size] = self.embedder.embed_passages(texts[i:i + self.batch_size])
        rows, cursor = _rows(), 0
        for kind, payload in zip(kinds, payloads):
            own = b""
            if kind == DOC:
                n = len(payload["texts"])
                own, cursor = vectors[cursor:cursor + n].tobytes(), cursor + n
            _add(rows, kind, payload, own)
        return rows


def decode_document(payload: dict, vectors: bytes, dim: int) -> tuple[Document, list[str], np.ndarray]:
    """A DOC row back on the driver: the document, its texts and their vectors."""
    matrix = np.frombuffer(vectors, dtype=np.float32).reshape(-1, dim)
    texts = payload["texts"]
    if len(matrix) != len(texts):
        raise ValueError(f"{payload['doc']['doc_id']}: {len(matrix)} vectors for {len(texts)} texts")
    return Document(**payload["doc"]), texts, matrix
