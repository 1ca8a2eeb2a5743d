"""The relevance cutoff on PIAF dev: how often the answering paragraph stays relevant, and how much
of the candidate pool the cutoff removes, for several cutoffs and the shipped one.

    python bench/relevance_cutoff.py [--index-dir data/bench/piaf] [--no-write]

Each PIAF paragraph is one document; a question's answering paragraph is its relevant document.
"Kept" counts the questions whose answering paragraph is in the candidate pool (k=10 search depth)
and passes the cutoff, over the questions whose answering paragraph is in the pool at all; five
off-topic questions (cooking, football, fuel prices...) show what the cutoff lets through when
nothing in the collection answers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402

from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.evaluation.datasets import load_eval_set  # noqa: E402
from semsearch.index.writer import IndexWriter  # noqa: E402
from semsearch.service import relevance  # noqa: E402
from semsearch.service.search_options import SearchOptions  # noqa: E402
from semsearch.service.searcher import QueryVectorCache, Searcher  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store.layout import IndexDirectory  # noqa: E402
from semsearch.store.snapshot import open_snapshot  # noqa: E402

RATIOS = (0.3, 0.4, 0.5, 0.6)
MARGINS = (0.03, 0.05, 0.08)
FLOORS = (None, 0.80, 0.82, 0.83, 0.84)
OFF_TOPIC = (
    "recette de la tarte aux pommes",
    "résultats du match de football d'hier soir",
    "How to bake sourdough bread?",
    "prix de l'essence à Lyon cette semaine",
    "meilleur smartphone pas cher",
)


@dataclass
class Pool:
    closeness: np.ndarray  # score / best (or best - score for dense), per candidate
    sentence: np.ndarray  # best sentence cosine per candidate
    answer: int  # position of the answering paragraph's best passage; -1 when outside the pool


def pools(searcher: Searcher, queries: dict[str, str], qrels: dict, mode: str, depth: int) -> list[Pool]:
    rows = searcher.snapshot.rows
    doc_position = {doc_id: i for i, doc_id in enumerate(rows.doc_ids)}
    out = []
    for qid, query in queries.items():
        ranking = searcher.rank(query, depth, mode)
        if len(ranking.scores) == 0:
            out.append(Pool(np.zeros(0), np.zeros(0), -1))
            continue
        wanted = doc_position.get(next(iter(qrels[qid]))) if qid in qrels else None
        hits = np.flatnonzero(rows.doc_index[ranking.rows] == wanted)
        best = float(ranking.scores[0])
        closeness = best - ranking.scores if mode == "dense" else ranking.scores / best
        sentence = np.array([float(x.max()) if len(x) else -1.0 for x in ranking.sentence_scores])
        out.append(Pool(closeness, sentence, int(hits[0]) if len(hits) else -1))
    return out


def keep_mask(pool: Pool, mode: str, cut: float, floor: float | None) -> np.ndarray:
    keep = pool.closeness <= cut if mode == "dense" else pool.closeness >= cut
    if floor is not None and mode != "lexical":
        keep &= pool.sentence >= floor
    return keep


def table_row(label: str, answered: list[Pool], off_topic: list[Pool], mode: str, cut: float, floor: float | None) -> list:
    inside = [p for p in answered if p.answer >= 0]
    kept = sum(bool(keep_mask(p, mode, cut, floor)[p.answer]) for p in inside) / len(inside)
    sizes = [int(np.count_nonzero(keep_mask(p, mode, cut, floor))) for p in answered]
    stray = [int(np.count_nonzero(keep_mask(p, mode, cut, floor))) for p in off_topic]
    return [label, round(100 * kept, 1), statistics.median(sizes), round(statistics.mean(sizes), 1), sum(stray)]


def end_to_end(searcher: Searcher, dataset) -> tuple[float, float, float]:
    """With the shipped cutoff through Searcher.search (k=10, per-document cap, grouping, every page read with
    `offset`): the share of questions whose answering paragraph is among the relevant results (shown or
    grouped), and the median and mean total."""
    found, totals = 0, []
    for qid, query in dataset.queries.items():
        answer = next(iter(dataset.qrels[qid]))
        offset, total, hit = 0, 1, False
        while offset < total and not hit:
            result = searcher.search(query, k=10, options=SearchOptions(offset=offset))
            total = result.total
            hit = any(h.doc_id == answer or any(d.doc_id == answer for d in h.duplicates) for h in result.results)
            offset += 10
        totals.append(total)
        found += hit
    return found / len(dataset.queries), statistics.median(totals), statistics.mean(totals)


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
    if IndexDirectory(args.index_dir).current_path() is None:
        IndexWriter(args.index_dir, embedder, settings.chunking()).write(dataset.documents, progress=True)
    searcher = Searcher(open_snapshot(args.index_dir), embedder, cache=QueryVectorCache(4 * len(dataset.queries)))
    depth = min(searcher.snapshot.size, max(searcher.candidates, 4 * 10))  # the pool of a k=10 search
    shipped_floor = relevance.DENSE_FLOORS.get(embedder.spec)
    off_queries = {f"off{i}": q for i, q in enumerate(OFF_TOPIC)}
    table = []
    for mode in ("hybrid", "lexical", "dense"):
        answered = pools(searcher, dataset.queries, dataset.qrels, mode, depth)
        off_topic = pools(searcher, off_queries, {}, mode, depth)
        outside = sum(p.answer < 0 for p in answered)
        print(f"{mode}: answer outside the pool for {outside} questions", file=sys.stderr)
        cuts = MARGINS if mode == "dense" else RATIOS
        shipped_cut = relevance.DENSE_MARGIN if mode == "dense" else relevance.RELATIVE_CUTOFF
        for cut in cuts:
            for floor in FLOORS if mode != "lexical" else (None,):
                what = f"within {cut} of the best" if mode == "dense" else f">= {cut} x best"
                label = f"{mode}, {what}" + (f", sentence >= {floor}" if floor else "")
                if cut == shipped_cut and floor == (shipped_floor if mode != "lexical" else None):
                    label = f"**{label} (shipped)**"
                table.append(table_row(label, answered, off_topic, mode, cut, floor))
    share, median_total, mean_total = end_to_end(searcher, dataset)
    body = (
        f"PIAF dev: {len(dataset.queries)} questions, {len(dataset.documents)} paragraphs ({searcher.snapshot.size} passages); "
        f"candidate pool of a k=10 search ({depth} passages).\n\n"
        + markdown_table(["cutoff", "answer kept %", "relevant (median)", "relevant (mean)", f"relevant, {len(OFF_TOPIC)} off-topic"], table)
        + f"\n\nShipped cutoff through `Searcher.search` (k=100, per-document cap and grouping): the answering paragraph is "
        f"among the relevant results for {100 * share:.1f}% of the questions; `total` median {median_total}, mean {mean_total:.1f}."
    )
    publish("Relevance cutoff on PIAF dev", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
