"""Which candidates are relevant. Hybrid search always finds neighbours, so without a cutoff every
query would "match" the whole pool and `total` and facet counts would say nothing.

- Hybrid and dense modes, with a model whose floors were measured (DENSE_FLOORS): a passage is
  relevant when its best sentence is close to the question, cosine >= the model's floor, a lower
  floor for a passage in another language than the question (cross-lingual cosines run about 0.05
  lower). The test is absolute, a property of the passage and the question alone: filtering by a
  facet value keeps exactly the relevant passages that carry it, whatever else the filter removes,
  and a question far from everything ("recette de la tarte aux pommes" over news about Iraq)
  finds nothing. The floor is topical, set low enough to keep the answer of nearly every PIAF
  question: PIAF's encyclopedia answers sit lower than news answers, and a floor fitted to news
  would drop many of them.
- Lexical mode, and models without measured floors: relative to the best hit, BM25 or fused score
  >= RELATIVE_CUTOFF x the best one's; dense score at most DENSE_MARGIN below the best one (cosines
  of one model sit in a narrow band, where a ratio would keep everything).

The figures were measured on PIAF dev and on the seeds' English and French questions
(`python bench/relevance_cutoff.py`, BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..embedding.base import DEFAULT_MODEL

RELATIVE_CUTOFF = 0.5
DENSE_MARGIN = 0.05


@dataclass(frozen=True)
class DenseFloor:
    same_language: float
    other_language: float


DENSE_FLOORS = {DEFAULT_MODEL: DenseFloor(same_language=0.80, other_language=0.76)}  # model spec -> floors


def relevant_mask(
    scores: np.ndarray,
    best_sentence: np.ndarray | None,
    mode: str,
    floor: DenseFloor | None = None,
    same_language: np.ndarray | None = None,
) -> np.ndarray:
    """Which candidates (scores best first) are relevant. `best_sentence`: each candidate's best sentence
    cosine (unused in lexical mode); `floor`: the model's floors (DENSE_FLOORS), None when unmeasured;
    `same_language`: whether each candidate is in the question's language (None: all are)."""
    if len(scores) == 0:
        return np.zeros(0, bool)
    if mode != "lexical" and floor is not None and best_sentence is not None:
        same = np.ones(len(scores), bool) if same_language is None else same_language
        return best_sentence >= np.where(same, floor.same_language, floor.other_language)
    best = float(scores[0])
    if mode == "dense":
        return scores >= best - DENSE_MARGIN
    return scores >= RELATIVE_CUTOFF * best if best > 0 else np.zeros(len(scores), bool)
