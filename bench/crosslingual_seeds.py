"""Language-aware fusion, measured: English and French questions over the French seed passages.

    python bench/crosslingual_seeds.py [--no-write]

Each seed passage is one document; 16 questions written by hand, each in English and in
French, judged against the passages that answer them (bench/data/seeds_questions.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, markdown_table, publish  # noqa: E402

from semsearch.documents import Document  # noqa: E402
from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.evaluation.datasets import EvalSet  # noqa: E402
from semsearch.evaluation.runner import evaluate  # noqa: E402
from semsearch.index.chunking import split_passages  # noqa: E402
from semsearch.index.writer import IndexWriter  # noqa: E402
from semsearch.ingest.readers import read_paths  # noqa: E402
from semsearch.search.searcher import Searcher  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402

METRICS = ["recall@1", "recall@5", "mrr@10", "ndcg@10"]


def passage_corpus(embedder, settings: Settings) -> list[Document]:
    documents = []
    for doc in read_paths([ROOT / "seeds"]).documents:
        doc.lang = "fr"
        for p in split_passages(doc, embedder.count_tokens, settings.chunking()):
            documents.append(Document(f"{doc.doc_id[:3]}#{p.ordinal}", p.text, title=doc.title, lang="fr"))
    return documents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    embedder = load_embedder(settings.model)
    questions = json.loads((ROOT / "bench" / "data" / "seeds_questions.json").read_text())
    documents = passage_corpus(embedder, settings)
    known = {d.doc_id for d in documents}
    assert all(r in known for q in questions for r in q["relevant"]), "a judged passage id is not in the corpus"
    rows = []
    with tempfile.TemporaryDirectory() as index_dir:
        IndexWriter(index_dir, embedder, settings.chunking()).write(documents)
        searcher = Searcher(open_index(index_dir), embedder)
        shipped = settings.fusion_config()
        for lang in ("en", "fr"):
            dataset = EvalSet(
                f"seeds-{lang}",
                documents,
                {str(i): q[lang] for i, q in enumerate(questions)},
                {str(i): {r: 1 for r in q["relevant"]} for i, q in enumerate(questions)},
            )
            variants = [("dense", "dense", shipped), ("lexical", "lexical", shipped)]
            for trust in (0.0, 0.25, 0.5, 0.75, 1.0):
                label = {0.0: " (dense only)", 1.0: " (language-blind)"}.get(trust, "")
                variants.append((f"hybrid, cross-language lexical x{trust}{label}", "hybrid", replace(shipped, cross_language_lexical=trust)))
            variants.append(("**hybrid, shipped default**", "hybrid", shipped))
            for name, mode, config in variants:
                searcher.fusion = config
                metrics = evaluate(searcher, dataset, mode).metrics
                rows.append([f"{lang} questions", name, *[metrics[m] for m in METRICS]])
                print(rows[-1], file=sys.stderr)
    body = (
        f"{len(questions)} questions in English and in French over the {len(documents)} passages of the five French "
        f"seeds (one document per passage; `bench/data/seeds_questions.json`), model `{embedder.spec}`.\n\n"
        + markdown_table(["questions", "ranking", "R@1", "R@5", "MRR@10", "nDCG@10"], rows)
    )
    publish("Language-aware fusion (cross-lingual questions on the seeds)", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
