"""The relevance cutoff: how often an answering passage stays relevant, and what off-topic questions
let through, for several cutoffs and the shipped one.

    python bench/relevance_cutoff.py [--index-dir data/bench/piaf] [--no-write]

PIAF dev (French questions over French Wikipedia paragraphs, each paragraph one document: the
answering paragraph is the relevant one) measures same-language questions; the seeds' 16
hand-written questions in English and in French (bench/data/seeds_questions.json, judged per
passage) measure cross-lingual ones. "Kept" counts the questions whose answer (PIAF: the answering
paragraph; seeds: any judged passage) is in the candidate pool of a k=10 search and passes the
cutoff, over the questions whose answer is in the pool at all. Five off-topic questions per language
(cooking, football, fuel prices...) show what passes when nothing in the collection answers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import ensure_piaf_index  # noqa: E402

from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.evaluation.datasets import load_eval_set  # noqa: E402
from semsearch.index.writer import IndexWriter  # noqa: E402
from semsearch.ingest.readers import read_paths  # noqa: E402
from semsearch.search.relevance import DenseFloor  # noqa: E402
from semsearch.search.results import Ranking  # noqa: E402
from semsearch.search.search_options import SearchOptions  # noqa: E402
from semsearch.search.searcher import QueryVectorCache, Searcher  # noqa: E402
from semsearch.service import relevance  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402

RATIOS = (0.4, 0.5, 0.6)
MARGINS = (0.03, 0.05, 0.08)
FLOORS = (DenseFloor(0.80, 0.76), DenseFloor(0.82, 0.77), DenseFloor(0.83, 0.78), DenseFloor(0.84, 0.79), DenseFloor(0.85, 0.80))
OFF_TOPIC = {
    "fr": [
        "recette de la tarte aux pommes",
        "résultats du match de football d'hier soir",
        "meilleur smartphone pas cher",
        "prix de l'essence à Lyon cette semaine",
        "Comment faire du pain au levain ?",
    ],
    "en": [
        "apple pie recipe",
        "Who won the football match last night?",
        "best cheap smartphone",
        "petrol prices in Lyon this week",
        "How to bake sourdough bread?",
    ],
}


@dataclass
class Pool:
    closeness: np.ndarray  # score / best (best - score for dense), per candidate
    sentence: np.ndarray  # best sentence cosine per candidate
    same_language: np.ndarray
    answers: np.ndarray  # positions of the relevant candidates


def pool_of(searcher: Searcher, query: str, mode: str, depth: int, relevant: Callable[[Ranking], np.ndarray]) -> Pool:
    ranking = searcher.rank(query, depth, mode)
    rows = searcher.reader.rows
    if len(ranking.scores) == 0:
        return Pool(np.zeros(0), np.zeros(0), np.zeros(0, bool), np.zeros(0, np.int64))
    best = float(ranking.scores[0])
    closeness = best - ranking.scores if mode == "dense" else ranking.scores / best
    sentence = np.array([float(x.max()) if len(x) else -1.0 for x in ranking.sentence_scores])
    code = rows.langs.index(ranking.query_lang) if ranking.query_lang in rows.langs else -1
    return Pool(closeness, sentence, rows.lang[ranking.rows] == code, relevant(ranking))


def keep_mask(pool: Pool, mode: str, cut: float | None, floor: DenseFloor | None) -> np.ndarray:
    """The floors alone when given (as shipped), else the cut relative to the best candidate."""
    if floor is not None:
        return pool.sentence >= np.where(pool.same_language, floor.same_language, floor.other_language)
    return pool.closeness <= cut if mode == "dense" else pool.closeness >= cut


def kept_share(pools: list[Pool], mode: str, cut: float | None, floor: DenseFloor | None) -> float:
    inside = [p for p in pools if len(p.answers)]
    return 100 * sum(bool(keep_mask(p, mode, cut, floor)[p.answers].any()) for p in inside) / max(1, len(inside))


def relevant_count(pools: list[Pool], mode: str, cut: float | None, floor: DenseFloor | None) -> list[int]:
    return [int(np.count_nonzero(keep_mask(p, mode, cut, floor))) for p in pools]


def seeds_index(embedder, settings: Settings, folder: Path) -> Searcher:
    documents = read_paths([ROOT / "seeds"]).documents
    IndexWriter(folder, embedder, settings.chunking()).write(documents)
    return Searcher(open_index(folder), embedder)


def passage_names(searcher: Searcher, ranking: Ranking) -> list[str]:
    """`000#2` names (seed file prefix, passage ordinal), as bench/data/seeds_questions.json judges them."""
    vids = [int(searcher.reader.rows.vids[row]) for row in ranking.rows]
    fetched = searcher.reader.fetch_passages(vids)
    return [f"{fetched[v].doc_id[:3]}#{fetched[v].ordinal}" for v in vids]


def judged(searcher: Searcher, ranking: Ranking, relevant: list[str]) -> np.ndarray:
    return np.flatnonzero([name in relevant for name in passage_names(searcher, ranking)])


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
    index_dir, _ = ensure_piaf_index(Path(args.index_dir), PIAF, embedder)
    piaf = Searcher(open_index(index_dir), embedder, cache=QueryVectorCache(4 * len(dataset.queries)))
    questions = json.loads((ROOT / "bench" / "data" / "seeds_questions.json").read_text())
    shipped_floor = relevance.DENSE_FLOORS.get(embedder.spec)
    table = []
    with tempfile.TemporaryDirectory() as scratch:
        seeds = seeds_index(embedder, settings, Path(scratch) / "seeds")
        depth_piaf = min(piaf.reader.size, max(piaf.candidates, 40))  # the pool of a k=10 search
        depth_seeds = min(seeds.reader.size, max(seeds.candidates, 40))
        rows = piaf.reader.rows
        doc_position = {doc_id: i for i, doc_id in enumerate(rows.doc_ids)}
        for mode in ("hybrid", "dense", "lexical"):
            piaf_pools = []
            for qid, query in dataset.queries.items():
                wanted = doc_position.get(next(iter(dataset.qrels[qid])))
                answer = lambda r, w=wanted: np.flatnonzero(rows.doc_index[r.rows] == w)[:1]  # noqa: E731
                piaf_pools.append(pool_of(piaf, query, mode, depth_piaf, answer))
            seed_pools = {
                lang: [pool_of(seeds, q[lang], mode, depth_seeds, lambda r, q=q: judged(seeds, r, q["relevant"])) for q in questions]
                for lang in ("en", "fr")
            }
            none = lambda r: np.zeros(0, np.int64)  # noqa: E731
            off = [pool_of(piaf, q, mode, depth_piaf, none) for q in OFF_TOPIC["fr"]]
            off += [pool_of(seeds, q, mode, depth_seeds, none) for lang in ("en", "fr") for q in OFF_TOPIC[lang]]
            variants: list[tuple[str, float | None, DenseFloor | None]] = []
            for cut in MARGINS if mode == "dense" else RATIOS:
                variants.append((f"within {cut} of the best" if mode == "dense" else f">= {cut} x the best", cut, None))
            if mode != "lexical":
                variants += [(f"best sentence >= {f.same_language} / {f.other_language}", None, f) for f in FLOORS if f]
            for what, cut, floor in variants:
                shipped = floor == shipped_floor if mode != "lexical" else cut == relevance.RELATIVE_CUTOFF
                label = f"**{mode}, {what} (shipped)**" if shipped else f"{mode}, {what}"
                sizes = relevant_count(piaf_pools, mode, cut, floor)
                stray = relevant_count(off, mode, cut, floor)
                table.append(
                    [
                        label,
                        round(kept_share(piaf_pools, mode, cut, floor), 1),
                        round(kept_share(seed_pools["fr"], mode, cut, floor), 1),
                        round(kept_share(seed_pools["en"], mode, cut, floor), 1),
                        statistics.median(sizes),
                        sum(n > 0 for n in stray),
                    ]
                )
                print(table[-1], file=sys.stderr, flush=True)
    share, median_total, mean_total = end_to_end(piaf, dataset)
    header = ["cutoff", "PIAF kept %", "seeds FR kept %", "seeds EN kept %", "PIAF relevant (median)", "off-topic with a hit (of 15)"]
    body = (
        f"PIAF dev: {len(dataset.queries)} questions, {len(dataset.documents)} paragraphs ({piaf.reader.size} passages); "
        f"seeds: {len(questions)} questions in French and in English; candidate pool of a k=10 search. Floors are the "
        "best-sentence cosine for a passage in the question's language / in another one.\n\n"
        + markdown_table(header, table)
        + f"\n\nShipped cutoff through `Searcher.search` on PIAF (k=10, per-document cap and grouping, pages read with "
        f"`offset`): the answering paragraph is among the relevant results for {100 * share:.1f}% of the questions; "
        f"`total` median {median_total}, mean {mean_total:.1f} (of {len(dataset.documents)} paragraphs)."
    )
    publish("Relevance cutoff (total, facets, paging)", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
