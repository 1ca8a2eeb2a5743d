"""Fusing dense and lexical evidence into one ranking.

Both methods work on the union of the two candidate lists, where every candidate has both
scores (its exact cosine and its BM25 score), so neither method has to guess a missing score.
A passage in another language than the query gets no lexical evidence at all (words of two
languages do not meet): its lexical part is replaced by its dense part, so it is neither
punished nor favoured by the missing words. Figures in BENCHMARKS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionConfig:
    method: str = "score"  # "score" (normalized score fusion) or "rrf"
    dense_weight: float = 0.5  # lexical weight is 1 - dense_weight
    rrf_k: int = 60
    sentence_weight: float = 0.5  # dense score = (1 - s) * passage cosine + s * best sentence cosine
    language_aware: bool = True


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, best first."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def _minmax(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return np.zeros(0)
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.zeros_like(scores, dtype=np.float64) if high <= 0 else np.ones_like(scores, dtype=np.float64)
    return (scores - low) / (high - low)


def fuse(
    dense: np.ndarray, lexical: np.ndarray, config: FusionConfig, same_language: np.ndarray | None = None
) -> np.ndarray:
    """Fused score per candidate; higher is better. `same_language` marks candidates in the query's language."""
    w = config.dense_weight
    if len(dense) == 0:
        return np.zeros(0)
    same = np.ones(len(dense), bool) if same_language is None or not config.language_aware else same_language
    if config.method == "rrf":
        dense_part = 1.0 / (config.rrf_k + _ranks(dense))
        lex_part = np.zeros(len(dense))
        if same.any():
            lex = lexical[same]
            lex_part[same] = np.where(lex > 0, 1.0 / (config.rrf_k + _ranks(lex)), 0.0)
        lex_part[~same] = dense_part[~same]
        return w * dense_part + (1 - w) * lex_part
    dense_n = _minmax(dense)
    lex_n = np.zeros(len(dense))
    if same.any():
        lex_n[same] = _minmax(lexical[same])
    lex_n[~same] = dense_n[~same]
    return w * dense_n + (1 - w) * lex_n
