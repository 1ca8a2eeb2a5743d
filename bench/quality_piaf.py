"""Search quality on PIAF dev: fusion methods and weights, sentence scoring, duplicate collapsing.

    python bench/quality_piaf.py [--index-dir data/bench/piaf] [--no-write]

Each PIAF paragraph is one document, prefixed by its article title; a question's relevant
document is its paragraph. Needs ../shared/eval/piaf-dev.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402

from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.evaluation.datasets import load_eval_set  # noqa: E402
from semsearch.evaluation.runner import evaluate  # noqa: E402
from semsearch.index.writer import IndexWriter  # noqa: E402
from semsearch.search.fusion import FusionConfig  # noqa: E402
from semsearch.search.searcher import QueryVectorCache, Searcher  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402

METRICS = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]


def collapse_report(searcher: Searcher, dataset, k: int = 10) -> dict:
    """How collapsing changes the document ranking, and how often it merges two paragraphs of one article."""
    hits1 = hits10 = merged_same_article = merged_groups = 0
    for qid, query in dataset.queries.items():
        relevant = next(iter(dataset.qrels[qid]))
        result = searcher.search(query, k=k, collapse=True)
        docs = [h.doc_id for h in result.results]
        hits1 += docs[:1] == [relevant]
        hits10 += relevant in docs
        for hit in result.results:
            if hit.duplicates:
                merged_groups += 1
                article = hit.doc_id.split("-")[0]
                merged_same_article += any(d.doc_id.split("-")[0] == article for d in hit.duplicates)
    n = len(dataset.queries)
    return {
        "recall@1": hits1 / n,
        "recall@10": hits10 / n,
        "groups": merged_groups,
        "same_article_groups": merged_same_article,
        "queries": n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default="data/bench/piaf")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    dataset = load_eval_set(PIAF)
    settings = Settings()
    embedder = load_embedder(settings.model)
    started = time.perf_counter()
    report = IndexWriter(args.index_dir, embedder, settings.chunking()).write(dataset.documents, progress=True)
    print(f"index: {report.passages_embedded} passages embedded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    searcher = Searcher(open_index(args.index_dir), embedder, cache=QueryVectorCache(4 * len(dataset.queries)))
    shipped = settings.fusion_config()
    variants = [
        ("dense, passage only", "dense", replace(shipped, sentence_weight=0.0)),
        ("lexical (BM25, French stemming)", "lexical", shipped),
        ("hybrid RRF k=60, passage only", "hybrid", FusionConfig("rrf", 0.5, sentence_weight=0.0)),
        ("hybrid score fusion w=0.5, passage only", "hybrid", FusionConfig("score", 0.5, sentence_weight=0.0)),
        ("dense + best sentence (s=0.5)", "dense", replace(shipped, sentence_weight=0.5)),
        ("hybrid RRF + best sentence (s=0.5)", "hybrid", FusionConfig("rrf", 0.5, sentence_weight=0.5)),
    ]
    for w in (0.4, 0.5, 0.6):
        for s in (0.3, 0.5, 0.7):
            variants.append((f"hybrid score fusion w={w}, sentence s={s}", "hybrid", FusionConfig("score", w, sentence_weight=s)))
    variants.append(("**shipped default**", "hybrid", shipped))
    rows = []
    for name, mode, config in variants:
        searcher.fusion = config
        metrics = evaluate(searcher, dataset, mode).metrics
        rows.append([name, *[metrics[m] for m in METRICS]])
        print(rows[-1], file=sys.stderr, flush=True)
    searcher.fusion = shipped
    collapse = collapse_report(searcher, dataset)
    body = (
        f"PIAF dev: {len(dataset.queries)} questions, {len(dataset.documents)} paragraphs "
        f"({report.passages} passages), model `{embedder.spec}`, chunking {settings.chunking()}.\n\n"
        + markdown_table(["ranking", "R@1", "R@5", "R@10", "MRR@10", "nDCG@10"], rows)
        + "\n\nReference points given for this file: BM25 0.708 / 0.782 / 0.917, dense 0.676 / 0.768 / 0.923, "
        "RRF 0.729 / 0.810 / 0.945 (R@1 / MRR@10 / R@10). Targets: R@1 >= 0.80, MRR@10 >= 0.86, R@10 >= 0.96.\n\n"
        f"Duplicate collapsing (shipped thresholds) on the same questions, k=10: R@1 {collapse['recall@1']:.3f}, "
        f"R@10 {collapse['recall@10']:.3f}; {collapse['groups']} groups formed over {collapse['queries']} result lists, "
        f"{collapse['same_article_groups']} of them joining two paragraphs of one Wikipedia article (false merges)."
    )
    publish("Search quality on PIAF dev", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
