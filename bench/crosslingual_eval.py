"""Cross-lingual search quality: English questions over French passages, French over English, beside PIAF dev.

    python bench/crosslingual_eval.py [--index-dir data/bench/piaf] [--news-index-dir data/bench/crosslingual-news] [--no-write]

- PIAF: 240 PIAF dev questions translated to English by hand (bench/data/piaf_dev_en.json) against
  the same questions in French, over all PIAF paragraphs (the index `bench/quality_piaf.py` builds,
  reused), and every PIAF dev question in French (the figures that may not fall). The sample is split
  by article into halves A and B (`piaf_split`): bench/crosslingual_train.py tunes on A only.
- News: 40 English news paragraphs written for this (bench/data/news_en.json) and the French seed
  passages in one index; each paragraph's question in English and in French, and the seeds' 16
  questions in English and in French (bench/data/seeds_questions.json). Built once into
  --news-index-dir and reused.
Needs ../shared/eval/piaf-dev.json for the PIAF part (skipped with a message without it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, piaf_missing, publish, refresh_rows  # noqa: E402

from semsearch.documents import Document  # noqa: E402
from semsearch.evaluation.datasets import EvalSet, load_eval_set, with_queries  # noqa: E402
from semsearch.evaluation.runner import evaluate  # noqa: E402
from semsearch.search.fusion import FusionConfig  # noqa: E402
from semsearch.search.searcher import QueryVectorCache, Searcher  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402

DATA = ROOT / "bench" / "data"
METRICS = ("recall@1", "mrr@10", "recall@10")


def piaf_split(doc_id: str) -> str:
    """Half A or B of PIAF dev, by article (a question and its paragraph's neighbours stay together)."""
    article = doc_id.split("-")[0]
    return "A" if hashlib.sha1(article.encode()).digest()[0] < 128 else "B"


def piaf_sets(dataset: EvalSet) -> dict[str, EvalSet]:
    """French and English versions of the translated sample (whole, half A, half B), and all of PIAF dev."""
    english = {q["id"]: q["en"] for q in json.loads((DATA / "piaf_dev_en.json").read_text())["questions"]}
    sets = {"piaf fr (all)": dataset}
    for half in ("", "A", "B"):
        ids = [q for q in english if not half or piaf_split(next(iter(dataset.qrels[q]))) == half]
        label = f" {half}" if half else ""
        sets[f"piaf sample{label} fr"] = with_queries(dataset, {q: dataset.queries[q] for q in ids}, f"piaf-fr{label}")
        sets[f"piaf sample{label} en"] = with_queries(dataset, {q: english[q] for q in ids}, f"piaf-en{label}")
    return sets


def news_corpus(embedder, settings: Settings) -> tuple[list[Document], dict[str, EvalSet]]:
    """The English news paragraphs and the French seed passages, and their questions in both languages."""
    from crosslingual_seeds import passage_corpus

    news = json.loads((DATA / "news_en.json").read_text())["passages"]
    seeds = json.loads((DATA / "seeds_questions.json").read_text())
    documents = [Document(p["id"], p["text"], title=p["title"], lang="en") for p in news] + passage_corpus(embedder, settings)
    sets = {}
    for lang in ("en", "fr"):
        sets[f"news {lang} -> en"] = EvalSet(f"news-{lang}", documents, {p["id"]: p[lang] for p in news}, {p["id"]: {p["id"]: 1} for p in news})
        judged = {str(i): {r: 1 for r in q["relevant"]} for i, q in enumerate(seeds)}
        sets[f"seeds {lang} -> fr"] = EvalSet(f"seeds-{lang}", documents, {str(i): q[lang] for i, q in enumerate(seeds)}, judged)
    return documents, sets


def ensure_index(index_dir: Path, documents: list[Document], embedder, settings: Settings) -> Path:
    from semsearch.index.writer import IndexWriter
    from semsearch.store.commit import CommitPoint
    from semsearch.store.layout import IndexDirectory

    layout = IndexDirectory(index_dir)
    generation = layout.generation()
    if not generation or CommitPoint.read(layout.commit_path(generation)).documents != len(documents):
        print(f"indexing {len(documents)} documents into {index_dir} (once)", file=sys.stderr, flush=True)
        IndexWriter(index_dir, embedder, settings.chunking()).write(documents)
    return index_dir


class PrecomputedQueries:
    """The embedder, answering the evaluation's questions from vectors embedded once in batches and kept
    in data/ (one query at a time was most of a run on a loaded machine)."""

    def __init__(self, embedder, texts: list[str], cache: Path) -> None:
        self.embedder = embedder
        stored = np.load(cache, allow_pickle=False) if cache.exists() else None
        self.vectors = {}
        if stored is not None and str(stored["spec"]) == embedder.spec:
            self.vectors = dict(zip(stored["texts"].tolist(), stored["vectors"]))
        missing = sorted(set(texts) - set(self.vectors))
        if missing:
            print(f"embedding {len(missing)} questions (once, kept in {cache})", file=sys.stderr, flush=True)
            vectors = np.concatenate([embedder.embed_queries(missing[i:i + 64]) for i in range(0, len(missing), 64)])
            self.vectors.update(zip(missing, vectors))
            cache.parent.mkdir(parents=True, exist_ok=True)
            known = sorted(self.vectors)
            np.savez(cache, spec=embedder.spec, texts=np.array(known), vectors=np.stack([self.vectors[t] for t in known]))

    def submit_queries(self, texts):
        future: Future = Future()
        future.set_result(np.stack([self.vectors[t] if t in self.vectors else self.embedder.embed_queries([t])[0] for t in texts]))
        return future

    def embed_queries(self, texts):
        return self.submit_queries(texts).result()

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)


@dataclass
class Bench:
    """Searchers over the PIAF and news indexes with the evaluation sets that run on each."""

    runs: list[tuple[Searcher, dict[str, EvalSet]]]

    def measure(self, config: FusionConfig, only: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
        out = {}
        for searcher, sets in self.runs:
            searcher.fusion = config
            for name, dataset in sets.items():
                if only is None or name in only:
                    out[name] = evaluate(searcher, dataset, "hybrid").metrics
        return out


def build_bench(args: argparse.Namespace, settings: Settings, with_piaf: bool = True, with_news: bool = True) -> Bench:
    from _perf import ensure_piaf_index

    from semsearch.embedding import load_embedder

    embedder = load_embedder(settings.model)
    indexes = []
    if with_piaf and not piaf_missing():
        index_dir, _ = ensure_piaf_index(Path(args.index_dir), PIAF, embedder)
        indexes.append((index_dir, piaf_sets(load_eval_set(PIAF))))
    if with_news:
        documents, sets = news_corpus(embedder, settings)
        indexes.append((ensure_index(Path(args.news_index_dir), documents, embedder, settings), sets))
    texts = [q for _, sets in indexes for dataset in sets.values() for q in dataset.queries.values()]
    queries = PrecomputedQueries(embedder, texts, Path(args.news_index_dir).parent / "crosslingual-questions.npz")
    return Bench([(Searcher(open_index(index_dir), queries, cache=QueryVectorCache(8192)), sets) for index_dir, sets in indexes])


def variants(shipped: FusionConfig) -> list[tuple[str, FusionConfig]]:
    before = replace(shipped, bridge_terms=False, cross_language_lexical=0.5, cross_sentence_weight=None, cross_language_latent=0.0)
    return [
        ("before #22: query terms in the query's language only", before),
        ("dense only across languages (cross-language lexical x0)", replace(before, cross_language_lexical=0.0)),
        ("bridge terms, no latent terms", replace(shipped, cross_language_latent=0.0)),
        (f"**shipped**: bridge terms and latent terms x{shipped.cross_language_latent:g}", shipped),
    ]


def bench_arguments(description: str) -> argparse.Namespace:
    """The options of the scripts that measure on this bench (this one, crosslingual_train.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--index-dir", default="data/bench/piaf")
    parser.add_argument("--news-index-dir", default="data/bench/crosslingual-news")
    parser.add_argument("--no-write", action="store_true", help="print, do not write to BENCHMARKS.md")
    return parser.parse_args()


def main() -> int:
    args = bench_arguments(__doc__.splitlines()[0])
    settings = Settings()
    bench = build_bench(args, settings)
    shipped = settings.fusion_config()
    rows = []
    for name, config in variants(shipped):
        result = bench.measure(config)
        for set_name, metrics in result.items():
            rows.append([name, set_name, *[f"{metrics[m]:.4f}" for m in METRICS]])
            print(rows[-1], file=sys.stderr, flush=True)
        for base in ("piaf sample", "piaf sample A", "piaf sample B"):
            if f"{base} en" in result:
                ratio = [result[f"{base} en"][m] / max(result[f"{base} fr"][m], 1e-9) for m in METRICS]
                rows.append([name, f"{base}: en / fr", *[f"{r:.3f}x" for r in ratio]])
                print(rows[-1], file=sys.stderr, flush=True)
    body = (
        "Hybrid search, document rankings (`semsearch eval`'s metrics). PIAF: all 399 paragraphs, 240 questions "
        "translated to English by hand (bench/data/piaf_dev_en.json), halves A / B by article; news: 40 English "
        "paragraphs written for this plus the 39 French seed passages in one index (bench/data/news_en.json).\n\n"
        + markdown_table(["ranking", "questions", "R@1", "MRR@10", "R@10"], rows)
    )
    publish("Cross-lingual search quality", body, args.no_write, part="## Search quality")
    final = next((r for r in rows if r[0] == variants(shipped)[-1][0] and r[1] == "piaf sample: en / fr"), None)
    if final and not args.no_write:
        en = next(r for r in rows if r[0] == final[0] and r[1] == "piaf sample en")
        refresh_rows([["Search quality, PIAF dev questions in English over the French paragraphs (240 translated by hand): "
                       "R@1 / MRR@10, and as a share of the same questions in French", f"{en[2]} / {en[3]}; {final[2]} / {final[3]}",
                       "0.97x R@1", "`python bench/crosslingual_eval.py`"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
