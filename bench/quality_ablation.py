"""What each ranking choice is worth on PIAF dev: the shipped default, each choice undone, and a grid.

    python bench/quality_ablation.py [--index-dir data/bench/piaf] [--no-write]

Runs on the index `bench/quality_piaf.py` builds (it builds it when absent). Every variant is
scored offline in numpy from the index's own vectors and texts, with the fusion of
`semsearch/search/fusion.py` over the same candidates `Searcher.rank` takes (top 100 dense and top
100 BM25); with the shipped settings it lands within one question of `semsearch eval` (float
rounding of a matrix product against the searcher's per-query one can swap a tie). The
sentence vectors without the headline are embedded here (about a minute). Needs
../shared/eval/piaf-dev.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bm25s
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import ensure_piaf_index  # noqa: E402

from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.evaluation.datasets import load_eval_set  # noqa: E402
from semsearch.index.segment_build import embedding_text  # noqa: E402
from semsearch.search.fusion import FusionConfig, fuse  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store import lexical  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402
from semsearch.text import analyzer  # noqa: E402
from semsearch.text.lang import detect_language  # noqa: E402


def terms_without_question_words(texts: list[str], langs: list[str]) -> list[list[str]]:
    """The analyzer as it was before French question words became stop words."""
    saved = analyzer._STOPWORDS["fr"]
    analyzer._STOPWORDS["fr"] = tuple(w for w in saved if w not in analyzer._FRENCH_QUESTION_WORDS)
    analyzer._stopwords.cache_clear()
    try:
        return [analyzer.analyze(t, lang) for t, lang in zip(texts, langs)]
    finally:
        analyzer._STOPWORDS["fr"] = saved
        analyzer._stopwords.cache_clear()


def bm25_matrix(rows: list[list[str]], queries: list[list[str]], method: str, k1: float, b: float) -> np.ndarray:
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index([t or ["\u2205"] for t in rows], show_progress=False)
    out = np.zeros((len(queries), len(rows)), np.float32)
    for i, terms in enumerate(queries):
        known = [t for t in terms if t in retriever.vocab_dict]
        if known:
            out[i] = retriever.get_scores(known)
    return out


class Scorer:
    def __init__(self, row_doc: np.ndarray, relevant: np.ndarray, candidates: int, same_language: np.ndarray) -> None:
        self.row_doc, self.relevant, self.candidates = row_doc, relevant, candidates
        self.same_language = same_language  # (queries, rows): the passage is in the query's language
        self.docs = int(row_doc.max()) + 1

    def metrics(self, dense: np.ndarray, lexical_scores: np.ndarray, config: FusionConfig) -> dict[str, float]:
        """R@1 / MRR@10 / R@10 of the document rankings, as Searcher.rank + document_ranking make them."""
        ranks = []
        for q in range(len(dense)):
            d, lex = dense[q], lexical_scores[q]
            n = self.candidates
            rows = np.argpartition(-d, n - 1)[:n]
            positive = np.flatnonzero(lex > 0)
            top_lex = positive[np.argsort(-lex[positive], kind="stable")[:n]]
            rows = np.union1d(rows, top_lex)
            scores = fuse(d[rows], lex[rows], config, self.same_language[q, rows])
            best = np.full(self.docs, -np.inf)
            np.maximum.at(best, self.row_doc[rows], scores)
            target = best[self.relevant[q]]
            ranks.append(int((best > target).sum()) + 1 if np.isfinite(target) else 10**6)
        ranks = np.array(ranks)
        return {"R@1": float((ranks == 1).mean()), "MRR@10": float(np.where(ranks <= 10, 1 / ranks, 0).mean()),
                "R@10": float((ranks <= 10).mean())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default="data/bench/piaf")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    dataset = load_eval_set(PIAF)
    embedder = load_embedder()
    index_dir, _ = ensure_piaf_index(Path(args.index_dir), PIAF, embedder)
    reader = open_index(index_dir)
    settings = Settings()
    shipped = settings.fusion_config()
    docs = {d.doc_id: d for d in dataset.documents}

    vids = [int(v) for v in reader.rows.vids]
    passages = reader.fetch_passages(vids)
    row_doc_ids = [reader.rows.doc_ids[i] for i in reader.rows.doc_index]
    row_texts = [embedding_text(docs[d], passages[v].text) for d, v in zip(row_doc_ids, vids)]
    doc_number = {d: i for i, d in enumerate(sorted(set(row_doc_ids)))}
    qids = list(dataset.queries)
    questions = [dataset.queries[q] for q in qids]
    languages = reader.summary.languages or ["fr"]
    query_langs = [detect_language(q, candidates=tuple(languages) + ("en",), default=languages[0]) for q in questions]
    row_langs = [reader.rows.langs[i] for i in reader.rows.lang]
    same_language = np.array(query_langs)[:, None] == np.array(row_langs)[None, :]
    scorer = Scorer(np.array([doc_number[d] for d in row_doc_ids]),
                    np.array([doc_number[next(iter(dataset.qrels[q]))] for q in qids]), settings.candidates, same_language)

    print("embedding the questions and the sentences without their headline", file=sys.stderr, flush=True)
    query_vectors = embedder.embed_queries(questions)
    ptr, spans = reader.sentences.ptr, reader.sentences.spans
    plain = [passages[v].text[int(a):int(b)] for r, v in enumerate(vids) for a, b in spans[ptr[r]:ptr[r + 1]]]
    plain_vectors = np.concatenate([embedder.embed_passages(plain[i:i + 64]) for i in range(0, len(plain), 64)])

    passage_cos = query_vectors @ np.asarray(reader.vectors).T
    best_sentence = np.maximum.reduceat(query_vectors @ np.asarray(reader.sentences.vectors).T, ptr[:-1], axis=1)
    best_plain = np.maximum.reduceat(query_vectors @ plain_vectors.T, ptr[:-1], axis=1)

    row_terms = [analyzer.analyze(t, lang or "fr") for t, lang in zip(row_texts, row_langs)]
    query_terms = [analyzer.analyze(q, lang) for q, lang in zip(questions, query_langs)]
    old_row_terms = terms_without_question_words(row_texts, [lang or "fr" for lang in row_langs])
    old_query_terms = terms_without_question_words(questions, query_langs)
    bm25 = (lexical.BM25_METHOD, lexical.BM25_K1, lexical.BM25_B)
    lex = bm25_matrix(row_terms, query_terms, *bm25)
    lex_lucene = bm25_matrix(row_terms, query_terms, "lucene", 1.2, 0.75)
    lex_with_question_words = bm25_matrix(old_row_terms, old_query_terms, *bm25)
    lex_before = bm25_matrix(old_row_terms, old_query_terms, "lucene", 1.2, 0.75)

    def dense(sentences: np.ndarray, s: float = shipped.sentence_weight) -> np.ndarray:
        return (1 - s) * passage_cos + s * sentences

    def cfg(**changes) -> FusionConfig:
        return FusionConfig(**{**shipped.__dict__, **changes})

    variants = [
        ("**shipped**: headline on sentences, question words dropped, BM25+ k1 0.6 b 0.5, w 0.7", dense(best_sentence), lex, shipped),
        ("sentences embedded without their headline", dense(best_plain), lex, shipped),
        ("French question words kept as terms", dense(best_sentence), lex_with_question_words, shipped),
        ("BM25 (Lucene) k1 1.2 b 0.75", dense(best_sentence), lex_lucene, shipped),
        ("dense weight 0.6", dense(best_sentence), lex, cfg(dense_weight=0.6)),
        ("previous default: all four undone", dense(best_plain), lex_before, cfg(dense_weight=0.6)),
    ]
    rows = []
    for name, d, lx, config in variants:
        m = scorer.metrics(d, lx, config)
        rows.append([name, f"{m['R@1']:.4f}", f"{m['MRR@10']:.4f}", f"{m['R@10']:.4f}"])
        print(rows[-1], file=sys.stderr, flush=True)

    grid = []
    for method, k1, b in [("bm25+", 0.6, 0.5), ("bm25+", 0.6, 0.75), ("bm25+", 0.9, 0.5), ("bm25+", 1.2, 0.75),
                          ("lucene", 0.6, 0.5), ("lucene", 1.2, 0.75)]:
        lx = lex if (method, k1, b) == bm25 else bm25_matrix(row_terms, query_terms, method, k1, b)
        cells = []
        for w in (0.6, 0.65, 0.7, 0.75):
            for s in (0.6, 0.7, 0.8):
                m = scorer.metrics(dense(best_sentence, s), lx, cfg(dense_weight=w, sentence_weight=s))
                cells.append((w, s, m))
        best = max(cells, key=lambda c: c[2]["R@1"])
        shipped_cell = next(c for c in cells if c[0] == 0.7 and c[1] == 0.7)
        r1 = [c[2]["R@1"] for c in cells]
        grid.append([f"{method} k1 {k1} b {b}", f"{min(r1):.4f} – {max(r1):.4f}",
                     f"{best[2]['R@1']:.4f} (w {best[0]}, s {best[1]})",
                     f"{shipped_cell[2]['R@1']:.4f} / {shipped_cell[2]['MRR@10']:.4f} / {shipped_cell[2]['R@10']:.4f}"])
        print(grid[-1], file=sys.stderr, flush=True)

    body = (
        f"PIAF dev: {len(qids)} questions, {len(dataset.documents)} paragraphs ({reader.size} passages), "
        f"model `{embedder.spec}`. Each row undoes one choice of the shipped default.\n\n"
        + markdown_table(["ranking", "R@1", "MRR@10", "R@10"], rows)
        + "\n\nBM25 variant by fusion weights (dense weight w in 0.6-0.75, sentence weight s in 0.6-0.8; "
        "headline on sentences, question words dropped):\n\n"
        + markdown_table(["BM25", "R@1 range over the 12 (w, s)", "best R@1", "R@1 / MRR@10 / R@10 at w 0.7, s 0.7"], grid)
    )
    publish("Search quality on PIAF dev: what each choice is worth", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
