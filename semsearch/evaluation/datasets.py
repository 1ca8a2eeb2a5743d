"""Evaluation sets as documents, queries and relevance judgements.

SQuAD: every paragraph is one document (prefixed by its article title, as in the PIAF
reference figures); a question's relevant document is its paragraph.
BEIR: a folder with corpus.jsonl, queries.jsonl and qrels/*.tsv (test.tsv preferred).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..documents import Document
from ..errors import SemsearchError


@dataclass
class EvalSet:
    name: str
    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)


def load_squad(path: Path) -> EvalSet:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        articles = data["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SemsearchError(f"{path}: not a SQuAD-format JSON file ({exc})") from None
    documents, queries, qrels = [], {}, {}
    for a, article in enumerate(articles):
        title = (article.get("title") or "").replace("_", " ").strip() or None
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            doc_id = f"{a}-{p}"
            context = paragraph.get("context", "")
            if not context.strip():
                continue
            documents.append(Document(doc_id=doc_id, text=context.strip(), title=title))
            for n, qa in enumerate(paragraph.get("qas", [])):
                question = (qa.get("question") or "").strip()
                if question:
                    qid = str(qa.get("id") or f"{doc_id}-q{n}")
                    queries[qid] = question
                    qrels[qid] = {doc_id: 1}
    if not documents or not queries:
        raise SemsearchError(f"{path}: no paragraph with questions found")
    return EvalSet(Path(path).stem, documents, queries, qrels)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_beir(folder: Path) -> EvalSet:
    folder = Path(folder)
    try:
        corpus = _jsonl(folder / "corpus.jsonl")
        raw_queries = _jsonl(folder / "queries.jsonl")
    except (OSError, ValueError) as exc:
        raise SemsearchError(f"{folder}: not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/*.tsv): {exc}") from None
    qrel_files = sorted((folder / "qrels").glob("*.tsv"))
    if not qrel_files:
        raise SemsearchError(f"{folder}: no qrels/*.tsv file")
    chosen = next((f for f in qrel_files if f.stem == "test"), qrel_files[0])
    qrels: dict[str, dict[str, int]] = {}
    with chosen.open(encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            if int(row[2]) > 0:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    documents = [
        Document(doc_id=str(d["_id"]), text=(d.get("text") or "").strip(), title=(d.get("title") or "").strip() or None)
        for d in corpus
        if (d.get("text") or "").strip()
    ]
    queries = {str(q["_id"]): q["text"] for q in raw_queries if str(q["_id"]) in qrels}
    return EvalSet(folder.name, documents, queries, qrels)


def load_eval_set(path: str | Path) -> EvalSet:
    path = Path(path)
    if path.is_dir():
        return load_beir(path)
    if not path.is_file():
        raise SemsearchError(f"{path}: no such file or folder")
    return load_squad(path)


def with_queries(dataset: EvalSet, queries: dict[str, str], name: str) -> EvalSet:
    """The same documents and judgements, asked with other questions (a translation, a sample):
    `queries` maps question ids of `dataset` to their new text; an unknown id is an error."""
    unknown = sorted(set(queries) - set(dataset.qrels))
    if unknown:
        raise SemsearchError(f"{name}: {len(unknown)} question ids not in {dataset.name} (first: {unknown[0]})")
    return EvalSet(name, dataset.documents, dict(queries), {q: dataset.qrels[q] for q in queries})
