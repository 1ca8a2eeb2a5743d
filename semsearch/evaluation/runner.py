"""Running an evaluation set through a Searcher and scoring the document rankings."""

from __future__ import annotations

from dataclasses import dataclass

import ir_measures
from ir_measures import RR, R, nDCG

from ..search.searcher import Searcher
from .datasets import EvalSet

MEASURES = {"recall@1": R @ 1, "recall@5": R @ 5, "recall@10": R @ 10, "mrr@10": RR @ 10, "ndcg@10": nDCG @ 10}


@dataclass
class EvalReport:
    dataset: str
    mode: str
    queries: int
    documents: int
    metrics: dict[str, float]


def document_ranking(searcher: Searcher, query: str, mode: str, depth: int = 10) -> list[str]:
    """Documents in the order of their best passage, `depth` of them."""
    rows = searcher.rank(query, min(searcher.reader.size, max(50, depth * 5)), mode).rows
    doc_ids = searcher.reader.rows.doc_ids
    ranking: list[str] = []
    for doc in searcher.reader.rows.doc_index[rows]:
        doc_id = doc_ids[int(doc)]
        if doc_id not in ranking:
            ranking.append(doc_id)
            if len(ranking) == depth:
                break
    return ranking


def evaluate(searcher: Searcher, dataset: EvalSet, mode: str = "hybrid", depth: int = 10) -> EvalReport:
    qrels = [ir_measures.Qrel(qid, doc, rel) for qid, docs in dataset.qrels.items() for doc, rel in docs.items()]
    run = []
    for qid, query in dataset.queries.items():
        for position, doc_id in enumerate(document_ranking(searcher, query, mode, depth)):
            run.append(ir_measures.ScoredDoc(qid, doc_id, float(depth - position)))
    scores = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, run) if run else {}
    # Queries with nothing retrieved count as misses, not as absent.
    scale = len({r.query_id for r in run}) / len(dataset.queries) if dataset.queries else 0.0
    metrics = {name: round(float(scores.get(m, 0.0)) * scale, 4) for name, m in MEASURES.items()}
    return EvalReport(dataset.name, mode, len(dataset.queries), len(dataset.documents), metrics)
