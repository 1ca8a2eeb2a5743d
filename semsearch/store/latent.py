"""Latent terms on disk: a passage's sparse features (embedding/base.py `LatentTerms`) as one small blob.

A blob is a float32 scale, then the features' indices (uint16, the sparse head has 16,384) and their
weights as uint8 steps of the scale: 3 bytes a feature, about 770 bytes a passage at 256 features.
They live in the segment's SQLite file (table `latent`, by vid), so a merge copies them with the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import IndexCorruptError

MAX_FEATURE = 1 << 16


def encode(indices: np.ndarray, values: np.ndarray) -> bytes:
    """One passage's latent terms as a blob (indices below 65,536, weights >= 0)."""
    indices = np.asarray(indices)
    values = np.asarray(values, dtype=np.float32)
    if len(indices) != len(values):
        raise ValueError(f"latent terms: {len(indices)} indices, {len(values)} weights")
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= MAX_FEATURE):
        raise ValueError("latent terms: a feature index is outside 0-65535")
    scale = float(values.max()) / 255.0 if len(values) and float(values.max()) > 0 else 1.0
    steps = np.clip(np.rint(values / scale), 0, 255).astype(np.uint8)
    return np.float32(scale).tobytes() + indices.astype("<u2").tobytes() + steps.tobytes()


def decode(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(indices int64, weights float32) of a blob."""
    if len(blob) < 4 or (len(blob) - 4) % 3:
        raise IndexCorruptError(f"latent terms: a blob of {len(blob)} bytes is not a scale and 3 bytes a feature")
    n = (len(blob) - 4) // 3
    scale = float(np.frombuffer(blob, "<f4", 1)[0])
    indices = np.frombuffer(blob, "<u2", n, 4).astype(np.int64)
    values = np.frombuffer(blob, np.uint8, n, 4 + 2 * n).astype(np.float32) * scale
    return indices, values


def cosines(query: tuple[np.ndarray, np.ndarray], blobs: Sequence[bytes | None]) -> np.ndarray:
    """Cosine of the query's latent terms with each blob's (0 for a missing blob or an empty side)."""
    q_idx, q_val = query
    out = np.zeros(len(blobs), dtype=np.float64)
    q_norm = float(np.linalg.norm(q_val))
    if q_norm == 0 or not len(blobs):
        return out
    dense = np.zeros(int(max(q_idx.max(), 0)) + 1, dtype=np.float64)
    dense[q_idx] = q_val
    for i, blob in enumerate(blobs):
        if not blob:
            continue
        idx, val = decode(blob)
        norm = float(np.linalg.norm(val))
        if norm == 0:
            continue
        hit = idx < len(dense)
        out[i] = float(dense[idx[hit]] @ val[hit]) / (norm * q_norm)
    return out
