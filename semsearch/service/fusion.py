"""Fusing dense and lexical evidence into one ranking.

Both methods work on the union of the two candidate lists, where every candidate has both
scores (its exact cosine and its BM25 score), so neither method has to guess a missing score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionConfig:
    method: str = "score"  # "score" (normalized score fusion) or "rrf"
    dense_weight: float = 0.5  # lexical weight is 1 - dense_weight
    rrf_k: int = 60


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, best first."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def _minmax(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.zeros_like(scores, dtype=np.float64) if high <= 0 else np.ones_like(scores, dtype=np.float64)
    return (scores - low) / (high - low)


def fuse(dense: np.ndarray, lexical: np.ndarray, config: FusionConfig, dense_weight: float | None = None) -> np.ndarray:
    """Fused score per candidate; higher is better."""
    w = config.dense_weight if dense_weight is None else dense_weight
    if len(dense) == 0:
        return np.zeros(0)
    if config.method == "rrf":
        lex_part = np.where(lexical > 0, 1.0 / (config.rrf_k + _ranks(lexical)), 0.0)
        return w / (config.rrf_k + _ranks(dense)) + (1 - w) * lex_part
    return w * _minmax(dense) + (1 - w) * _minmax(lexical)
