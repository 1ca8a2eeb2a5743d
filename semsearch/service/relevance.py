"""Which candidates are relevant: close enough to the best hit, and not a mere nearest neighbour.

Hybrid search always finds neighbours, so without a cutoff every query would "match" the whole
pool and `total` and facet counts would say nothing. A candidate is relevant when

- its score is close to the best candidate's: hybrid and lexical, fused (or BM25) score
  >= RELATIVE_CUTOFF x the best score; dense, the dense score (a cosine mix) at most DENSE_MARGIN
  below the best one (cosines of one model sit in a narrow band: a ratio of them keeps everything);
- and, in hybrid and dense modes, its best sentence is close to the query in absolute terms
  (cosine >= the model's floor, DENSE_FLOORS): an off-topic question ("recette de la tarte aux
  pommes" over news about Iraq) then finds nothing, where a relative cutoff alone would keep the
  closest of the unrelated passages. A model without a measured floor has none.

The figures were chosen on PIAF dev (`python bench/relevance_cutoff.py`, BENCHMARKS.md): the
answering paragraph stays relevant for nearly every question while most of the pool is cut.
"""

from __future__ import annotations

import numpy as np

from ..embedding.base import DEFAULT_MODEL

RELATIVE_CUTOFF = 0.5
DENSE_MARGIN = 0.05
DENSE_FLOORS = {DEFAULT_MODEL: 0.83}  # model spec -> minimum best-sentence cosine


def relevant_mask(scores: np.ndarray, best_sentence: np.ndarray | None, mode: str, model: str = "") -> np.ndarray:
    """Which candidates (scores best first) are relevant. `best_sentence`: each candidate's best
    sentence cosine (unused in lexical mode); `model`: the embedder's spec, which names the floor."""
    if len(scores) == 0:
        return np.zeros(0, bool)
    best = float(scores[0])
    if mode == "dense":
        keep = scores >= best - DENSE_MARGIN
    else:
        keep = scores >= RELATIVE_CUTOFF * best if best > 0 else np.zeros(len(scores), bool)
    floor = DENSE_FLOORS.get(model)
    if mode != "lexical" and floor is not None and best_sentence is not None:
        keep &= best_sentence >= floor
    return keep
