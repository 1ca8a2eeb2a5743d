"""FAISS vector index. The index type is chosen here by collection size (the seam for HNSW/IVF)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexCorruptError

FAISS_NAME = "vectors.faiss"
VECTORS_NAME = "vectors.npy"  # the exact vectors, source of truth for rebuilding any index type
VIDS_NAME = "vids.npy"
SENTENCE_VECTORS = "sentence_vectors.npy"  # one vector per sentence of every passage, in vid order
SENTENCE_VIDS = "sentence_vids.npy"  # the passage (vid) each sentence belongs to
SENTENCE_SPANS = "sentence_spans.npy"  # (start, end) of each sentence, relative to its passage


def choose_index_type(n_vectors: int, override: str | None = None) -> str:
    """FAISS factory string for a collection of this size. Exact search for now."""
    return override or "Flat"


def build_index(vectors: np.ndarray, vids: np.ndarray, index_type: str) -> faiss.Index:
    dim = vectors.shape[1]
    index = faiss.index_factory(dim, f"IDMap2,{index_type}", faiss.METRIC_INNER_PRODUCT)
    if len(vids):
        if not index.is_trained:
            index.train(vectors)
        index.add_with_ids(vectors, vids.astype(np.int64))
    return index


def save_index(index: faiss.Index, folder: Path) -> None:
    faiss.write_index(index, str(folder / FAISS_NAME))


def load_index(folder: Path) -> faiss.Index:
    path = folder / FAISS_NAME
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexCorruptError(f"{path}: FAISS index is unreadable ({str(exc).splitlines()[0][:200]})") from None


def load_vectors(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Exact vectors and their ids, memory-mapped."""
    try:
        vectors = np.load(folder / VECTORS_NAME, mmap_mode="r")
        vids = np.load(folder / VIDS_NAME)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{folder / VECTORS_NAME}: vectors are unreadable ({exc})") from None
    if vectors.ndim != 2 or len(vectors) != len(vids):
        raise IndexCorruptError(f"{folder / VECTORS_NAME}: {len(vectors)} vectors for {len(vids)} ids")
    return vectors, vids


def save_sentences(folder: Path, sentence_vectors: np.ndarray, sentence_vids: np.ndarray, spans: np.ndarray) -> None:
    np.save(folder / SENTENCE_VECTORS, np.ascontiguousarray(sentence_vectors, dtype=np.float32))
    np.save(folder / SENTENCE_VIDS, sentence_vids.astype(np.int64))
    np.save(folder / SENTENCE_SPANS, spans.astype(np.int32).reshape(-1, 2))


def load_sentences(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sentence vectors (memory-mapped), their passage ids and their spans."""
    try:
        sentence_vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
        sentence_vids = np.load(folder / SENTENCE_VIDS)
        spans = np.load(folder / SENTENCE_SPANS)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{folder / SENTENCE_VECTORS}: sentence vectors are unreadable ({exc})") from None
    if not (len(sentence_vectors) == len(sentence_vids) == len(spans)):
        raise IndexCorruptError(f"{folder / SENTENCE_VECTORS}: sentence arrays disagree in length")
    return sentence_vectors, sentence_vids, spans
