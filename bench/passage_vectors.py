"""Indexing throughput against quality: where passage and sentence vectors come from (issue #20, "Also").

    nice -n 5 python bench/passage_vectors.py [--index-dir data/bench/passage-vectors] [--reuse] [--no-write]

Corpus and questions: PIAF dev (../shared/eval/piaf-dev.json), each paragraph one document under its
article title, as in `semsearch eval`. Variants:

  (a) "embedded" (shipped): each passage's text embedded, and each of its sentences again;
  (b) "sentence_mean": only sentences embedded; a passage's vector is their normalized mean;
  (c) no sentence vectors at index time: the passage's text only. Its quality is measured on (a)'s index
      with the ranking (a) would have without sentence vectors: passage cosine only, the answering
      sentence found by lexical overlap (c-lex, no cost a query), or the top M passages' sentences
      embedded at query time and those M reordered with their best sentence (c-M); the cost a query of
      embedding those sentences is timed on the model. Its indexing cost is the model's on the passage texts
      alone, in the writer's batches (the rest of a write is about 3% of it).

Throughput: one write per variant of all paragraphs into a fresh index, timed as wall time and as this
process's CPU time (the model's engine thread included; fairer on a shared machine), with the load
average before and after. Quality: hybrid R@1 / MRR@10 / R@10 over the 2,025 questions.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import load_text  # noqa: E402

METRICS = ("recall@1", "mrr@10", "recall@10")
FLOOR = {"recall@1": 0.7995, "mrr@10": 0.8613, "recall@10": 0.9649}  # issue #20: quality unchanged


class CountingEmbedder:
    """Delegates to the real embedder; keeps the texts the writer asks for (tokens counted after the timing)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.spec, self.dim, self.max_tokens = inner.spec, inner.dim, inner.max_tokens
        self.asked: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.asked.extend(texts)
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def latent_terms(self, texts: Sequence[str]):
        return self.inner.latent_terms(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def build(embedder, documents, index_dir: Path, chunking, passage_vectors: str) -> dict:
    from semsearch.index.writer import IndexWriter

    shutil.rmtree(index_dir, ignore_errors=True)
    counting = CountingEmbedder(embedder)
    writer = IndexWriter(index_dir, counting, chunking, passage_vectors=passage_vectors)
    load_before = load_text()
    cpu, wall = time.process_time(), time.perf_counter()
    report = writer.write(copy.deepcopy(documents))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "passages": report.passages, "texts": len(counting.asked), "cpu": cpu, "wall": wall,
        "tokens": sum(embedder.count_tokens(t) for t in counting.asked),
        "embed": report.embed_seconds, "load": f"{load_before} -> {load_text()}",
    }


def passage_texts_only(embedder, documents, chunking, batch_size: int = 32) -> dict:
    """(c)'s indexing cost: the passage texts alone, embedded in the writer's batches (no index is built: the
    rest of a write is about 3% of it, BENCHMARKS.md "Indexing throughput")."""
    from semsearch.index.segment_build import chunk, embedding_text
    from semsearch.text.lang import detect_language

    docs = copy.deepcopy(documents)
    for doc in docs:
        doc.lang = doc.lang or detect_language(doc.text)
    texts = [embedding_text(doc, p.text) for doc, p in chunk(docs, embedder.count_tokens, chunking)]
    load_before = load_text()
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(texts), batch_size):
        embedder.embed_passages(texts[i:i + batch_size])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "passages": len(texts), "texts": len(texts), "cpu": cpu, "wall": wall,
        "tokens": sum(embedder.count_tokens(t) for t in texts), "load": f"{load_before} -> {load_text()}",
    }


def top_sentence_searcher(base, rerank: int):
    """A Searcher that ranks by passage vectors only and gives the best sentence's evidence to its top
    `rerank` passages alone, reordering those among themselves: what sentences embedded at query time for
    the first results would give. Sentence vectors are read from the index (what embedding them at query
    time returns, up to int8 rounding)."""
    from semsearch.search.searcher import Searcher

    class TopSentences(Searcher):
        def rank(self, query, depth, mode, filters=None):
            full = self.fusion
            self.fusion = replace(full, sentence_weight=0.0, cross_sentence_weight=0.0)
            try:
                first = super().rank(query, depth, mode, filters)
            finally:
                self.fusion = full
            top = first.rows[:rerank]
            self._scored = top
            try:
                second = super().rank(query, depth, mode, filters)
            finally:
                self._scored = None
            score = dict(zip(second.rows.tolist(), second.scores.tolist()))
            order = sorted(range(len(top)), key=lambda i: -score.get(int(top[i]), -np.inf))
            first.rows = np.concatenate([top[order], first.rows[rerank:]])
            return first

        def _sentence_scores(self, rows, qvec):
            per, best = super()._sentence_scores(rows, qvec)
            if getattr(self, "_scored", None) is None:
                return per, best
            passage = np.asarray(self.reader.vectors[rows] @ qvec, dtype=np.float64)
            return per, np.where(np.isin(rows, self._scored), best, passage)

    return TopSentences(base.reader, base.embedder, fusion=base.fusion, cache=base.cache, candidates=base.candidates)


def query_time_sentence_cost(searcher, dataset, rerank: int, sample: int) -> dict:
    """CPU and wall time a query of embedding the sentences of its top `rerank` passages (passage-only
    ranking), over the first `sample` questions; the texts as the writer would embed them."""
    from semsearch.index.segment_build import embedding_text
    from semsearch.text.sentences import sentence_spans

    reader = searcher.reader
    texts_per_query: list[list[str]] = []
    for query in list(dataset.queries.values())[:sample]:
        rows = searcher.rank(query, 50, "hybrid").rows[:rerank]
        vids = [int(reader.rows.vids[r]) for r in rows]
        passages = reader.fetch_passages(vids)
        texts = []
        for vid in vids:
            row = passages[vid]
            for a, b in sentence_spans(row.text, row.lang or "fr"):
                doc = dataset_document(dataset, row.doc_id)
                texts.append(embedding_text(doc, row.text[a:b]))
        texts_per_query.append(texts)
    cpu_times, walls = [], []
    for texts in texts_per_query:
        cpu, wall = time.process_time(), time.perf_counter()
        searcher.embedder.embed_passages(texts)
        cpu_times.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return {
        "texts": statistics.mean(len(t) for t in texts_per_query),
        "cpu_ms": 1000 * statistics.median(cpu_times),
        "wall_ms": 1000 * statistics.median(walls),
    }


_DOCS: dict[str, object] = {}


def dataset_document(dataset, doc_id: str):
    if not _DOCS:
        _DOCS.update((d.doc_id, d) for d in dataset.documents)
    return _DOCS[doc_id]


def query_embedding_cost(embedder, dataset, sample: int) -> dict:
    cpu_times, walls = [], []
    for query in list(dataset.queries.values())[:sample]:
        cpu, wall = time.process_time(), time.perf_counter()
        embedder.embed_queries([query])
        cpu_times.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return {"cpu_ms": 1000 * statistics.median(cpu_times), "wall_ms": 1000 * statistics.median(walls)}


def quality(searcher, dataset) -> dict[str, float]:
    from semsearch.evaluation.runner import evaluate

    return evaluate(searcher, dataset, "hybrid").metrics


def figures(metrics: dict[str, float]) -> list[str]:
    return [f"{metrics[m]:.4f}" for m in METRICS]


def verdict(metrics: dict[str, float]) -> str:
    return "yes" if all(metrics[m] >= FLOOR[m] for m in METRICS) else "no"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default="data/bench/passage-vectors", help="one index per variant under it (kept)")
    parser.add_argument("--reuse", action="store_true", help="reuse the indexes built there and their throughput figures (builds.json)")
    parser.add_argument("--rerank", default="3,10", help="c-M variants: sentences of the top M passages embedded at query time")
    parser.add_argument("--sample", type=int, default=50, help="questions timed for query-time costs")
    parser.add_argument("--note", default="", help="a paragraph added under the table (the choice the figures support)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0

    from semsearch.embedding import load_embedder
    from semsearch.evaluation.datasets import load_eval_set
    from semsearch.index.segment_build import EMBEDDED, SENTENCE_MEAN
    from semsearch.search.searcher import QueryVectorCache, Searcher
    from semsearch.settings import Settings
    from semsearch.store.reader import open_index

    dataset = load_eval_set(PIAF)
    settings = Settings()
    embedder = load_embedder(settings.model)
    embedder.embed_passages(["échauffement du modèle", "warm-up"])
    root = Path(args.index_dir)
    saved = root / "builds.json"  # the throughput figures of the indexes there, for --reuse
    builds: dict[str, dict] = json.loads(saved.read_text()) if args.reuse and saved.exists() else {}
    for variant in (EMBEDDED, SENTENCE_MEAN):
        if args.reuse and (root / variant).exists() and variant in builds:
            continue
        builds[variant] = build(embedder, dataset.documents, root / variant, settings.chunking(), variant)
        print(variant, builds[variant], file=sys.stderr, flush=True)
        saved.write_text(json.dumps(builds, indent=1))
    if "c" not in builds:
        builds["c"] = passage_texts_only(embedder, dataset.documents, settings.chunking())
        print("c", builds["c"], file=sys.stderr, flush=True)
        saved.write_text(json.dumps(builds, indent=1))

    cache = QueryVectorCache(4 * len(dataset.queries))
    queries = list(dataset.queries.values())
    for i in range(0, len(queries), 32):  # every question embedded once, in batches (rows equal single calls')
        for query, vector in zip(queries[i:i + 32], embedder.embed_queries(queries[i:i + 32])):
            cache._items[(embedder.spec, query)] = vector
    searchers = {v: Searcher(open_index(root / v), embedder, settings.fusion_config(), cache=cache) for v in (EMBEDDED, SENTENCE_MEAN)}
    rows = []
    results: dict[str, dict[str, float]] = {}
    results["a"] = quality(searchers[EMBEDDED], dataset)
    print("a", results["a"], file=sys.stderr, flush=True)
    results["b"] = quality(searchers[SENTENCE_MEAN], dataset)
    print("b", results["b"], file=sys.stderr, flush=True)
    for weight in (0.5, 0.6, 0.8):  # does (b) want another balance of passage and best sentence?
        tuned = replace(settings.fusion_config(), sentence_weight=weight)
        results[f"b-{weight}"] = quality(Searcher(searchers[SENTENCE_MEAN].reader, embedder, tuned, cache=cache), dataset)
        print(f"b-{weight}", results[f"b-{weight}"], file=sys.stderr, flush=True)
    passage_only = Searcher(
        searchers[EMBEDDED].reader, embedder, replace(settings.fusion_config(), sentence_weight=0.0, cross_sentence_weight=0.0), cache=cache
    )
    results["c-lex"] = quality(passage_only, dataset)
    print("c-lex", results["c-lex"], file=sys.stderr, flush=True)
    reranks = [int(m) for m in args.rerank.split(",") if m]
    for m in reranks:
        results[f"c-{m}"] = quality(top_sentence_searcher(searchers[EMBEDDED], m), dataset)
        print(f"c-{m}", results[f"c-{m}"], file=sys.stderr, flush=True)
    load_costs = load_text()
    query_cost = query_embedding_cost(embedder, dataset, args.sample)
    costs = {m: query_time_sentence_cost(passage_only, dataset, m, args.sample) for m in reranks}
    load_costs += f" -> {load_text()}"
    print("costs", query_cost, costs, file=sys.stderr, flush=True)

    a, b, c = builds[EMBEDDED], builds[SENTENCE_MEAN], builds["c"]

    def throughput(build: dict, note: str = "") -> list[str]:
        return [
            f"{build['texts']:,} ({build['tokens']:,})", f"{1000 * build['cpu'] / build['passages']:.0f}{note}",
            f"{build['passages'] / build['wall']:.2f}{note}", build["load"],
        ]

    rows.append(["(a) passage + sentence vectors (shipped default)", *throughput(a), *figures(results["a"]), verdict(results["a"]), "0"])
    rows.append(["(b) passage vector = normalized mean of its sentences'", *throughput(b), *figures(results["b"]), verdict(results["b"]), "0"])
    for weight in (0.5, 0.6, 0.8):
        key = f"b-{weight}"
        name = f"(b) with SEMSEARCH_SENTENCE_WEIGHT={weight} (default 0.7)"
        rows.append([name, "", "", "", "", *figures(results[key]), verdict(results[key]), "0"])
    rows.append(["(c-lex) no sentence vectors; best sentence by lexical overlap", *throughput(c, " (model only)"),
                 *figures(results["c-lex"]), verdict(results["c-lex"]), "0"])
    for m in reranks:
        cost = costs[m]
        rows.append([
            f"(c-{m}) no sentence vectors; top {m} passages' sentences embedded at query time", *throughput(c, " (model only)"),
            *figures(results[f"c-{m}"]), verdict(results[f"c-{m}"]),
            f"{cost['cpu_ms']:.0f} CPU / {cost['wall_ms']:.0f} wall ({cost['texts']:.1f} texts)",
        ])
    body = (
        f"PIAF dev: {len(dataset.queries)} questions, {len(dataset.documents)} paragraphs, model `{embedder.spec}`, "
        f"chunking {settings.chunking()}, default fusion. One write per variant into a fresh index, in one process "
        "run with `nice -n 5` beside other engineers' work (load average 1/5/15 min before -> after each write). "
        "CPU ms a passage is this process's CPU time (the model's engine thread included) over the passages written: "
        "fairer than wall time on a shared machine.\n\n"
        + markdown_table(
            ["variant", "texts embedded (tokens)", "CPU ms / passage", "passages/s (wall)", "load", "R@1", "MRR@10", "R@10",
             f">= floor {FLOOR['recall@1']} / {FLOOR['mrr@10']} / {FLOOR['recall@10']}", "added ms a query"],
            rows,
        )
        + f"\n\nA query's own embedding costs {query_cost['cpu_ms']:.0f} ms CPU / {query_cost['wall_ms']:.0f} ms wall "
        f"(median of {args.sample} questions; load {load_costs}); the c-M costs are medians over the same questions."
    )
    if args.note:
        body += f"\n\n{args.note}"
    publish("Passage vectors: embedded or derived from sentences (issue #20)", body, args.no_write, part="## Indexing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
