"""Fusing dense and lexical evidence into one ranking.

Both methods work on the union of the two candidate lists, where every candidate has both
scores (its exact cosine and its BM25 score), so neither method has to guess a missing score.
A passage in another language than the query shares few words with it (names, numbers and
cognates such as "coalition"): its lexical evidence counts `cross_language_lexical` times as
much as a same-language passage's, and its dense score fills the rest, so the missing words
neither sink it nor lift it. 1.0 is language-blind fusion, 0.0 dense-only for those passages.
When such a passage is among the candidates, every candidate gains `cross_language_latent` times
the cosine of its latent terms with the question's (embedding/base.py `LatentTerms`: features of the
model's token states, which words and their translations share): the lexical evidence BM25 cannot
give across languages. Every candidate, not only those in another language: a bonus for those alone
pushed English passages above the French answers of French questions in a mixed index (seeds fr ->
fr R@1 0.690 -> 0.627; with every candidate, 0.690). Candidates all in the question's language rank
as without it.
Figures in BENCHMARKS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionConfig:
    method: str = "score"  # "score" (normalized score fusion) or "rrf"
    dense_weight: float = 0.7  # lexical weight is 1 - dense_weight
    rrf_k: int = 60
    sentence_weight: float = 0.7  # dense score = (1 - s) * passage cosine + s * best sentence cosine
    cross_language_lexical: float = 0.5  # weight of lexical evidence for a passage in another language
    cross_sentence_weight: float | None = None  # sentence weight for a passage in another language (None: the same)
    bridge_terms: bool = True  # the query's words also as the index's other languages analyze them (searcher.query_terms)
    cross_language_latent: float = 3.0  # weight of latent-terms cosine when a candidate is in another language (0: unused)


def sentence_weights(config: FusionConfig, same_language: np.ndarray) -> np.ndarray:
    """Each candidate's weight of its best sentence in its dense score (the rest is the passage's cosine)."""
    cross = config.sentence_weight if config.cross_sentence_weight is None else config.cross_sentence_weight
    return np.where(same_language, config.sentence_weight, cross)


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
    if len(dense) == 0:
        return np.zeros(0)
    if config.method == "rrf":
        dense_part = 1.0 / (config.rrf_k + _ranks(dense))
        lex_part = np.where(lexical > 0, 1.0 / (config.rrf_k + _ranks(lexical)), 0.0)
    else:
        dense_part, lex_part = _minmax(dense), _minmax(lexical)
    if same_language is not None:
        trust = np.where(same_language, 1.0, config.cross_language_lexical)
        lex_part = trust * lex_part + (1 - trust) * dense_part
    w = config.dense_weight
    return w * dense_part + (1 - w) * lex_part


def add_latent(scores: np.ndarray, cosines: np.ndarray, config: FusionConfig) -> np.ndarray:
    """Fused scores with every candidate's latent-terms evidence (when one is in another language than the query)."""
    return scores + config.cross_language_latent * cosines
