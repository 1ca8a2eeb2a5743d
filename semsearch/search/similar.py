"""Other articles covering the same story as one document, across outlets and languages.

The document's passages (the first MAX_OWN_PASSAGES: a news article puts its story first) are
each searched against the vector index, with the search filters applied inside that search. A
candidate article's score is the mean, over the document's passages, of the best cosine any of
its retrieved passages reaches: an article that covers the whole story scores above one that
shares a single paragraph of background (the same idea as ColBERT's MaxSim, at passage level).
The document itself is excluded; each article appears once, with its best-matching passage.

Articles below the model's floor (SIMILAR_FLOORS) are not the same story and are left out, so an
article nobody else covered has no similar coverage rather than k unrelated neighbours. For the
default model the floor sits between the seeds' reports of one story (0.87 to 0.95, across
outlets and languages) and articles on other stories (0.76 to 0.82): tests/test_search_features.py
and BENCHMARKS.md. A model without a measured floor has none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..embedding.base import DEFAULT_MODEL
from .results import SearchFilters, SearchHit
from .searcher import Searcher

MAX_OWN_PASSAGES = 16
SIMILAR_FLOORS = {DEFAULT_MODEL: 0.85}  # model spec -> least mean best cosine of the same story


@dataclass
class SimilarResult:
    doc_id: str
    title: str | None
    took_ms: float
    results: list[SearchHit]


def similar_documents(searcher: Searcher, doc_id: str, k: int = 10, filters: SearchFilters | None = None) -> SimilarResult | None:
    """The k articles closest to `doc_id`, best first; None when the document is not in the index."""
    started = time.perf_counter()
    reader = searcher.reader
    found = reader.fetch_document(doc_id)
    if found is None:
        return None
    doc, passages = found
    table = reader.rows
    own_vids = np.array(sorted(p.vid for p in passages[:MAX_OWN_PASSAGES]), dtype=np.int64)
    own_rows = np.searchsorted(table.vids, own_vids)
    hits: list[SearchHit] = []
    if len(own_rows):
        own_doc = int(table.doc_index[own_rows[0]])
        own = np.asarray(reader.vectors[own_rows], dtype=np.float32)
        n = min(reader.size, max(searcher.candidates, 4 * k) + len(passages))
        found_rows = np.unique(np.concatenate([searcher.nearest(vector, n, filters) for vector in own]))
        found_rows = found_rows[table.doc_index[found_rows] != own_doc]
        hits = _ranked(searcher, own, found_rows, k)
    took = (time.perf_counter() - started) * 1000
    return SimilarResult(doc_id=doc.doc_id, title=doc.title, took_ms=round(took, 2), results=hits)


def _ranked(searcher: Searcher, own: np.ndarray, rows: np.ndarray, k: int) -> list[SearchHit]:
    """One hit per article among `rows`, by mean best cosine to the document's passages."""
    if len(rows) == 0:
        return []
    reader = searcher.reader
    cosines = own @ np.asarray(reader.vectors[rows], dtype=np.float32).T  # own passages x found rows
    docs = reader.rows.doc_index[rows]
    scored: list[tuple[float, int]] = []  # (score, row of the best-matching passage)
    for doc in np.unique(docs).tolist():
        columns = np.flatnonzero(docs == doc)
        block = cosines[:, columns]
        score = float(block.max(axis=1).mean())
        scored.append((score, int(rows[columns[int(np.argmax(block.max(axis=0)))]])))
    floor = SIMILAR_FLOORS.get(searcher.embedder.spec, -1.0)
    scored = [item for item in scored if item[0] >= floor]
    scored.sort(key=lambda item: (-item[0], item[1]))
    scored = scored[:k]
    fetched = reader.fetch_passages([int(reader.rows.vids[row]) for _, row in scored])
    hits = []
    for score, row in scored:
        passage = fetched.get(int(reader.rows.vids[row]))
        if passage is None:
            continue
        hits.append(
            SearchHit(
                rank=len(hits) + 1,
                score=round(score, 6),
                doc_id=passage.doc_id,
                passage_id=passage.passage_id,
                title=passage.title,
                date=passage.date,
                source=passage.source,
                url=passage.url,
                lang=passage.lang,
                text=passage.text,
                start=passage.start,
                end=passage.end,
            )
        )
    return hits
