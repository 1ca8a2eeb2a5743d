"""Search over many segments against one merged segment: dense latency and recall@10, BM25 latency, disk.

    python bench/segments_search.py --passages 100000 --segments 10

Builds a synthetic index (stand-ins of bench/synthetic_index.py: clustered vectors, Zipf texts) in
`--segments` writes, then a copy force-merged into one segment, and times the reader's dense search
(FAISS per segment, merged top-k) and BM25+ over held-out queries on both. Recall@10 is measured
against exact search over all vectors. Each segment's FAISS type is chosen by its own size, so 10
segments of 100k passages at 1M are IVF each, and the merged 1M one is IVF too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _common import markdown_table, publish  # noqa: E402
from _perf import disk_usage, load_text, percentiles  # noqa: E402
from synthetic_index import MixtureEmbedder, one_sentence, synthetic_documents  # noqa: E402

from semsearch.index import chunking, writer  # noqa: E402
from semsearch.index.merge import Merger  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402
from semsearch.text.analyzer import analyze  # noqa: E402


def build(index_dir: Path, passages: int, segments: int) -> float:
    writer.sentence_spans = one_sentence
    chunking.sentence_spans = one_sentence
    documents = synthetic_documents(passages)
    w = writer.IndexWriter(index_dir, MixtureEmbedder())
    started = time.perf_counter()
    for part in np.array_split(np.arange(len(documents)), segments):
        w.write([documents[i] for i in part])
    return time.perf_counter() - started


def measure(readers: dict, queries: np.ndarray, texts: list[str], exact: list[set[int]]) -> dict[str, dict]:
    """Each query on every index in turn (so a change of load hits both alike), after one warm-up pass
    that brings the lists the queries touch into the page cache."""
    for reader in readers.values():
        for q, text in zip(queries, texts):
            reader.dense_search(q, 10)
            reader.lexical_scores(analyze(text, "fr")).top_candidates(100)
    found = {name: {"dense": [], "dense_cpu": [], "lexical": [], "lexical_cpu": [], "recall": []} for name in readers}
    for q, text, truth in zip(queries, texts, exact):
        terms = analyze(text, "fr")
        for name, reader in readers.items():
            out = found[name]
            started, cpu = time.perf_counter(), time.process_time()
            rows = reader.dense_search(q, 10)
            out["dense"].append((time.perf_counter() - started) * 1000)
            out["dense_cpu"].append((time.process_time() - cpu) * 1000)
            out["recall"].append(len({int(reader.rows.vids[r]) for r in rows} & truth) / 10)
            started, cpu = time.perf_counter(), time.process_time()
            reader.lexical_scores(terms).top_candidates(100)  # the searcher's lexical candidates (MaxScore top 100)
            out["lexical"].append((time.perf_counter() - started) * 1000)
            out["lexical_cpu"].append((time.process_time() - cpu) * 1000)
    return {
        name: {key: float(np.mean(values)) if key == "recall" else percentiles(values) for key, values in out.items()}
        for name, out in found.items()
    }


def measure_searches(readers: dict, texts: list[str]) -> dict[str, dict]:
    """The whole hybrid search (`Searcher.search`, k=10: BM25+, dense, sentences, fusion, grouping, rows),
    each query on every index in turn. A warm-up pass embeds every query once with the real default model;
    the timed searches read the vectors from the query cache, so the model's time is in neither figure."""
    from semsearch.embedding import load_embedder
    from semsearch.search.searcher import QueryVectorCache, build_searcher
    from semsearch.settings import Settings

    settings = Settings()
    embedder = load_embedder(settings.model)
    cache = QueryVectorCache(4 * len(texts))
    searchers = {name: build_searcher(reader, embedder, settings.search_config(), cache) for name, reader in readers.items()}
    for searcher in searchers.values():
        for text in texts:
            searcher.search(text)
    found = {name: {"wall": [], "cpu": []} for name in readers}
    for text in texts:
        for name, searcher in searchers.items():
            started, cpu = time.perf_counter(), time.process_time()
            searcher.search(text)
            found[name]["wall"].append((time.perf_counter() - started) * 1000)
            found[name]["cpu"].append((time.process_time() - cpu) * 1000)
    return {name: {key: percentiles(values) for key, values in out.items()} for name, out in found.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--work-dir", default=str(ROOT / "data" / "bench" / "segments-search"))
    parser.add_argument("--title", default=None)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--searches", action="store_true", help="also time whole hybrid searches (loads the default model)")
    parser.add_argument("--reuse", action="store_true", help="measure the indexes a previous run left in --work-dir")
    args = parser.parse_args()
    work = Path(args.work_dir)
    grown, merged = work / "grown", work / "merged"
    if args.reuse and merged.is_dir():
        build_s = merge_s = float("nan")
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        build_s = build(grown, args.passages, args.segments)
        print(f"built {args.segments} segments in {build_s:.0f} s", file=sys.stderr, flush=True)
        shutil.copytree(grown, merged)
        started = time.perf_counter()
        Merger(merged).force_merge()
        merge_s = time.perf_counter() - started
        print(f"merged in {merge_s:.0f} s", file=sys.stderr, flush=True)

    readers = {"segments": open_index(grown), "merged": open_index(merged)}
    base = readers["merged"]
    vectors = np.asarray(base.vectors, dtype=np.float32)
    queries = MixtureEmbedder().mixture.draw(args.queries, seed=10_000)
    exact = [set(base.rows.vids[np.argsort(-(vectors @ q))[:10]].tolist()) for q in queries]
    texts = [d.text for d in synthetic_documents(args.queries, seed=1)]
    rows = []
    measured = measure(readers, queries, texts, exact)
    searches = measure_searches(readers, [" ".join(t.split()[:6]) for t in texts]) if args.searches else {}
    for name, reader in readers.items():
        found = measured[name]
        disk = sum(sum(disk_usage(segment.path).values()) for segment in reader.segments)  # the live segments only
        rows.append([
            name, len(reader.segments), " + ".join(dict.fromkeys(s.info.index_type for s in reader.segments)),
            f"{found['dense'][0]:.2f}", f"{found['dense'][2]:.2f}", f"{found['dense_cpu'][0]:.2f}", f"{found['recall']:.3f}",
            f"{found['lexical'][0]:.1f}", f"{found['lexical_cpu'][0]:.1f}", f"{disk / reader.size:.0f}",
        ])
    body = (
        f"{args.passages:,} synthetic passages written in {args.segments} writes ({build_s:.0f} s), a copy force-merged into one"
        f" segment ({merge_s:.0f} s). {args.queries} held-out queries; the reader's own dense search and BM25+ (no model),"
        " each query on both indexes in turn after a warm-up pass;"
        " CPU ms is the process's CPU time a query, which a loaded machine does not inflate the way it inflates wall time."
        f" Load average: {load_text()}.\n\n"
        + markdown_table(
            ["index", "segments", "FAISS types", "dense p50 ms", "dense p99 ms", "dense CPU p50 ms", "recall@10",
             "BM25+ p50 ms", "BM25+ CPU p50 ms", "disk bytes/passage"],
            rows,
        )
    )
    if searches:
        body += (
            "\n\nWhole hybrid searches (`Searcher.search`, k=10, six-word queries, the model's time excluded: see"
            " measure_searches):\n\n"
            + markdown_table(
                ["index", "search p50 ms", "search p99 ms", "search CPU p50 ms"],
                [[name, f"{f['wall'][0]:.1f}", f"{f['wall'][2]:.1f}", f"{f['cpu'][0]:.1f}"] for name, f in searches.items()],
            )
        )
    publish(args.title or f"Search over {args.segments} segments against one merged, {args.passages:,} passages", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
