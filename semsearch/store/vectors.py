"""FAISS vector index. The index type is chosen here by collection size (the seam for HNSW/IVF)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexCorruptError

FAISS_NAME = "vectors.faiss"
VECTORS_NAME = "vectors.npy"  # the exact vectors, source of truth for rebuilding any index type
VIDS_NAME = "vids.npy"


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
