"""PIAF dev quality against how the lexical candidate list is filled (issue #12's quality check).

    python bench/lexical_candidates.py [--index-dir data/bench/piaf] [--no-write]

BM25+ gives every passage a baseline score, so when fewer passages than `candidates` hold a query
term, the lexical top-k cut chooses among passages tied at the baseline, and the ones it takes change
the min-max normalization of the fused scores. Rows: the shipped rule (ties by passage identity, so
the ranking does not depend on how the index was written), a rule that takes only passages holding a
query term, each at several candidate depths. Needs ../shared/eval/piaf-dev.json; indexes PIAF once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import ensure_piaf_index, load_text  # noqa: E402

from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.evaluation.datasets import load_eval_set  # noqa: E402
from semsearch.evaluation.runner import evaluate  # noqa: E402
from semsearch.search.searcher import QueryVectorCache, Searcher, build_searcher  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402

METRICS = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]


class MatchingOnly(Searcher):
    """Lexical candidates are only passages that hold a query term (score above the BM25+ baseline)."""

    def _top(self, scores: np.ndarray, n: int, mask: np.ndarray | None, positive: bool = False) -> np.ndarray:
        if positive and len(scores):
            above = scores > scores.min()
            mask = above if mask is None else mask & above
        return super()._top(scores, n, mask, positive)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default="data/bench/piaf")
    parser.add_argument("--depths", default="80,100,150,200")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    dataset = load_eval_set(PIAF)
    settings = Settings()
    embedder = load_embedder(settings.model, query_prompt=settings.query_prompt, passage_prompt=settings.passage_prompt)
    index_dir, _ = ensure_piaf_index(Path(args.index_dir), PIAF, embedder)
    reader = open_index(index_dir)
    cache = QueryVectorCache(4 * len(dataset.queries))  # every question embedded once, for all rows
    rows = []
    for depth in [int(d) for d in args.depths.split(",")]:
        for name, kind in (("ties by passage identity (shipped)", Searcher), ("only passages holding a query term", MatchingOnly)):
            searcher = build_searcher(reader, embedder, settings.model_copy(update={"candidates": depth}).search_config(), cache)
            searcher.__class__ = kind
            metrics = evaluate(searcher, dataset, "hybrid").metrics
            shipped = " **(shipped)**" if depth == settings.candidates and kind is Searcher else ""
            rows.append([f"{name}, {depth} candidates{shipped}", *[f"{metrics[m]:.4f}" for m in METRICS]])
            print(rows[-1], file=sys.stderr, flush=True)
    body = (
        f"PIAF dev, {len(dataset.queries)} questions, hybrid, model `{embedder.spec}`, index `{index_dir}`"
        f" ({reader.size} passages). Load average: {load_text()}.\n\n"
        + markdown_table(["lexical candidates", "R@1", "R@5", "R@10", "MRR@10", "nDCG@10"], rows)
    )
    publish("PIAF dev against the lexical candidate rule and depth", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
