"""Search cost against collection size: one index per run, in its own process (its RSS is the index's).

    python bench/bulk_index.py --passages 1000000 --index-dir data/bench/bulk-1m
    python bench/scale_search.py --index-dir data/bench/bulk-1m --json data/bench/scale.json
    python bench/scale_search.py --json data/bench/scale.json --plot artifacts/scale_search.png   # -> BENCHMARKS.md
    python bench/scale_search.py --compare data/bench/bulk-1m data/bench/bulk-1m-10seg-shared data/bench/bulk-1m-10seg

Per index (built by bench/bulk_index.py): the lexical part alone (the reader's sparse BM25+ over the query
terms' postings, then Searcher.top_rows), the dense part alone (FAISS per segment, recall@10 against exact
search over the stored passage vectors), and the whole hybrid search beyond the model (`Searcher.search`,
k=10, six-word queries; the query vectors are the mixture's, in the query cache before timing, so no model
is loaded or timed). Wall ms and the process's CPU ms per query; each query's postings (the sum of its
terms' document frequencies) next to the lexical cost. RSS of the process after the searches (VmRSS: the
anonymous memory and the touched pages of the memory-mapped files, by kind: FAISS lists, vector files, others)
and its peak; the serving figure is anonymous + FAISS pages (the exact search of the recall figure touches
every vector page, which a serving process does not).

Without --index-dir the table of every row in --json is written to BENCHMARKS.md (`_common.publish`, at the end
of the part "## Scale: 10M passages on one machine (issue #20)", in place of the previous one), or printed
with --no-write; with --index-dir the run measures and prints only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _common import markdown_table, publish  # noqa: E402
from _perf import disk_usage, load_text, peak_rss_mib, percentiles  # noqa: E402
from bulk_index import DIM, Vocabulary  # noqa: E402
from vector_scale import Mixture  # noqa: E402

from semsearch.embedding.base import DEFAULT_MODEL, Embedder  # noqa: E402
from semsearch.search.searcher import QueryVectorCache, Searcher  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402
from semsearch.text.analyzer import analyze  # noqa: E402


class CachedQueries(Embedder):
    """The mixture's query vectors under the default model's name: the searches find them in the cache."""

    spec = DEFAULT_MODEL
    dim = DIM
    max_tokens = 512

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed_queries(self, texts):
        return np.stack([self.vectors[t] for t in texts])

    embed_passages = embed_queries

    def count_tokens(self, text: str) -> int:
        return len(text) // 4


def anon_mib() -> float:
    """Anonymous resident memory: the process's own arrays and objects. The rest of its RSS is pages of the
    memory-mapped segment files it touched (the kernel maps up to 64 KB of cached pages around each
    fault), which are the page cache's, shared and reclaimable."""
    for line in Path(f"/proc/{os.getpid()}/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def mapped_rss_mib() -> dict[str, float]:
    """Resident MiB of the memory-mapped files by kind (/proc/self/smaps): "faiss" (the IVF lists a search
    reads), "vectors" (the int8 passage and sentence vector files: touched by the exact search of the recall
    figure, and in a serving process only at its candidates' rows), "other" (SQLite, postings, libraries)."""
    out = {"faiss": 0.0, "vectors": 0.0, "other": 0.0}
    kind = None
    for line in Path(f"/proc/{os.getpid()}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):  # a mapping's header line
            name = head[5] if len(head) > 5 else ""
            kind = None if not name.startswith("/") else (
                "faiss" if name.endswith(".faiss") else "vectors" if name.endswith("_q8.npy") else "other")
        elif kind and line.startswith("Rss:"):
            out[kind] += int(head[1]) / 1024
    return out


def rss_mib() -> float:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn) -> tuple[float, float, object]:
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000, out


def exact_top10(reader, queries: np.ndarray) -> list[set[int]]:
    """The 10 nearest passages of each query among the stored vectors, 200k vectors at a time."""
    best_scores = np.full((len(queries), 10), -np.inf, np.float32)
    best_rows = np.zeros((len(queries), 10), np.int64)
    for lo in range(0, reader.size, 200_000):
        hi = min(reader.size, lo + 200_000)
        scores = np.asarray(reader.vectors[np.arange(lo, hi)], np.float32) @ queries.T  # rows x queries
        top = np.argpartition(-scores, 9, axis=0)[:10].T  # queries x 10
        cand_scores = np.concatenate([best_scores, np.take_along_axis(scores.T, top, axis=1)], axis=1)
        cand_rows = np.concatenate([best_rows, top + lo], axis=1)
        keep = np.argsort(-cand_scores, axis=1)[:, :10]
        best_scores = np.take_along_axis(cand_scores, keep, axis=1)
        best_rows = np.take_along_axis(cand_rows, keep, axis=1)
    return [set(reader.rows.vids[r].tolist()) for r in best_rows]


def measure(index_dir: Path, n_queries: int) -> dict:
    started = time.perf_counter()
    reader = open_index(index_dir)
    open_s = time.perf_counter() - started
    rss_open = rss_mib()
    vocab = Vocabulary()
    rng = np.random.default_rng(99)
    texts = [" ".join(vocab.words[rng.choice(len(vocab.words), 6, p=vocab.p)]) for _ in range(n_queries)]
    texts = list(dict.fromkeys(texts))
    qvecs = Mixture(DIM).draw(len(texts), seed=10_000)
    exact = exact_top10(reader, qvecs)
    rss_exact = rss_mib()
    embedder = CachedQueries(dict(zip(texts, qvecs)))
    searcher = Searcher(reader, embedder, cache=QueryVectorCache(4 * len(texts)))
    for text in texts:  # warm-up: query cache, the lists and postings the queries touch, identity order
        searcher.search(text)
    out = {k: [] for k in ("lex", "lex_cpu", "postings", "dense", "dense_cpu", "recall", "search", "search_cpu")}
    for text, q, truth in zip(texts, qvecs, exact):
        terms = analyze(text, "fr")
        wall, cpu, scores = timed(lambda t=terms: searcher.top_rows(reader.lexical_scores(t), searcher.candidates, None, positive=True))
        out["lex"].append(wall)
        out["lex_cpu"].append(cpu)
        out["postings"].append(sum(reader.lexical_stats(terms).df.get(t, 0) for t in terms))
        wall, cpu, rows = timed(lambda v=q: reader.dense_search(v, 10))
        out["dense"].append(wall)
        out["dense_cpu"].append(cpu)
        out["recall"].append(len({int(reader.rows.vids[r]) for r in rows} & truth) / 10)
        wall, cpu, _ = timed(lambda t=text: searcher.search(t))
        out["search"].append(wall)
        out["search_cpu"].append(cpu)
    disk = sum(sum(disk_usage(s.path).values()) for s in reader.segments)
    postings = np.array(out["postings"], np.float64)
    lex_cpu = np.array(out["lex_cpu"])
    return {
        "index": str(index_dir), "passages": reader.size, "segments": len(reader.segments),
        "index_types": " + ".join(dict.fromkeys(s.info.index_type for s in reader.segments)),
        "vector_formats": " + ".join(dict.fromkeys(s.info.vector_format for s in reader.segments)),
        "queries": len(texts), "open_s": open_s, "rss_open_mib": rss_open, "rss_after_exact_mib": rss_exact,
        "rss_mib": rss_mib(), "anon_mib": anon_mib(), **{f"{k}_rss_mib": v for k, v in mapped_rss_mib().items()},
        "peak_rss_mib": peak_rss_mib(), "disk_bytes_per_passage": disk / reader.size,
        "recall10": float(np.mean(out["recall"])), "postings_p50": float(np.median(postings)),
        "lex_us_per_1k_postings": float(np.median(lex_cpu * 1000 / np.maximum(postings / 1000, 1e-9))),
        "load": load_text(),
        **{k: percentiles(v) for k, v in out.items() if k not in ("recall", "postings")},
    }


def compare(index_dirs: list[Path], n_queries: int) -> str:
    """Whole hybrid searches on several indexes of the same passages (one merged, one of many segments), each
    query on every index in turn, so that a change of load hits all alike; wall and CPU p50/p99 and the ratio
    of each to the first."""
    readers = [open_index(d) for d in index_dirs]
    vocab = Vocabulary()
    rng = np.random.default_rng(99)
    texts = list(dict.fromkeys(" ".join(vocab.words[rng.choice(len(vocab.words), 6, p=vocab.p)]) for _ in range(n_queries)))
    embedder = CachedQueries(dict(zip(texts, Mixture(DIM).draw(len(texts), seed=10_000))))
    searchers = [Searcher(r, embedder, cache=QueryVectorCache(4 * len(texts))) for r in readers]
    for searcher in searchers:
        for text in texts:
            searcher.search(text)
    wall: list[list[float]] = [[] for _ in readers]
    cpu: list[list[float]] = [[] for _ in readers]
    load_before = load_text()
    for text in texts:
        for i, searcher in enumerate(searchers):
            w, c, _ = timed(lambda s=searcher, t=text: s.search(t))
            wall[i].append(w)
            cpu[i].append(c)
    rows = []
    for d, r, w, c in zip(index_dirs, readers, wall, cpu):
        rows.append([str(d), len(r.segments), f"{np.median(w):.1f}", f"{np.percentile(w, 99):.1f}", f"{np.median(c):.1f}",
                     f"{np.median(w) / np.median(wall[0]):.2f}x", f"{np.median(c) / np.median(cpu[0]):.2f}x"])
    return f"{len(texts)} queries, each on every index in turn; load {load_before} -> {load_text()}.\n\n" + markdown_table(
        ["index", "segments", "search p50 ms", "search p99 ms", "search CPU p50 ms", "p50 / first", "CPU p50 / first"], rows)


PART = "## Scale: 10M passages on one machine (issue #20)"
TARGETS = {"search_cpu_p50": 30.0, "search_cpu_p99": 100.0, "recall10": 0.95, "serving_gib": 8.0, "disk": 4096.0}


def serving_mib(r: dict) -> float:
    """The serving process's memory: its own (anonymous) and the FAISS lists' pages it maps."""
    return r.get("anon_mib", float("nan")) + r.get("faiss_rss_mib", float("nan"))


def report(rows: list[dict]) -> str:
    rows = sorted(rows, key=lambda r: (r["passages"], -r["segments"]))
    table = markdown_table(
        ["passages", "segments", "FAISS", "search p50 ms", "search p99 ms", "search CPU p50 ms", "search CPU p99 ms",
         "lexical p50 ms", "lexical CPU p50 ms", "postings a query (p50)", "lexical CPU us / 1k postings", "dense p50 ms",
         "dense CPU p50 ms", "recall@10", "RSS MiB after (anonymous + FAISS pages)", "peak RSS MiB", "disk B/passage", "load"],
        [[f"{r['passages']:,}", r["segments"], r["index_types"], f"{r['search'][0]:.1f}", f"{r['search'][2]:.1f}",
          f"{r['search_cpu'][0]:.1f}", f"{r['search_cpu'][2]:.1f}", f"{r['lex'][0]:.1f}", f"{r['lex_cpu'][0]:.1f}",
          f"{r['postings_p50']:,.0f}", f"{r['lex_us_per_1k_postings']:.0f}", f"{r['dense'][0]:.1f}", f"{r['dense_cpu'][0]:.1f}",
          f"{r['recall10']:.3f}",
          f"{r['rss_mib']:.0f} ({r.get('anon_mib', float('nan')):.0f} + {r.get('faiss_rss_mib', float('nan')):.0f})",
          f"{r['peak_rss_mib']:.0f}", f"{r['disk_bytes_per_passage']:.0f}", r["load"]] for r in rows],
    )
    return table


def section(rows: list[dict]) -> str:
    """The BENCHMARKS.md section: how the rows were measured, their table, and the largest index against the targets."""
    top = max(rows, key=lambda r: (r["passages"], -r["segments"]))

    serving = serving_mib(top) / 1024

    def verdict(ok: bool, value: float = 0.0) -> str:
        return "not recorded (an older row)" if value != value else "met" if ok else "**missed**"
    checks = [
        f"whole search CPU p50 {top['search_cpu'][0]:.1f} ms (target <= {TARGETS['search_cpu_p50']:.0f}): "
        f"{verdict(top['search_cpu'][0] <= TARGETS['search_cpu_p50'])}; of which lexical {top['lex_cpu'][0]:.1f} ms "
        f"({top['postings_p50']:,.0f} postings a query, p50, at {top['lex_us_per_1k_postings']:.0f} us of CPU per 1,000, the p50 "
        f"of each query's ratio) and dense {top['dense_cpu'][0]:.1f} ms",
        f"whole search CPU p99 {top['search_cpu'][2]:.1f} ms (target <= {TARGETS['search_cpu_p99']:.0f}): "
        f"{verdict(top['search_cpu'][2] <= TARGETS['search_cpu_p99'])}; wall p50 {top['search'][0]:.1f} ms, p99 "
        f"{top['search'][2]:.1f} ms at load {top['load']} (2 cores shared)",
        f"dense recall@10 {top['recall10']:.3f} (target >= {TARGETS['recall10']}): {verdict(top['recall10'] >= TARGETS['recall10'])}",
        f"serving memory {serving:.2f} GiB: anonymous {top.get('anon_mib', float('nan')) / 1024:.2f} GiB + FAISS pages "
        f"{top.get('faiss_rss_mib', float('nan')) / 1024:.2f} GiB (target <= {TARGETS['serving_gib']:.0f} GiB): "
        f"{verdict(serving <= TARGETS['serving_gib'], serving)}; peak RSS {top['peak_rss_mib'] / 1024:.2f} GiB, of which the vector "
        f"files' pages that the exact search for recall touched ({top.get('vectors_rss_mib', float('nan')) / 1024:.2f} GiB "
        "after the searches) are page cache a serving process does not fault in",
        f"disk {top['disk_bytes_per_passage']:,.0f} B a passage (target <= {TARGETS['disk']:,.0f}): "
        f"{verdict(top['disk_bytes_per_passage'] <= TARGETS['disk'])}",
    ]
    intro = (
        "One process per index (`python bench/scale_search.py --index-dir DIR --queries 200 --json data/bench/scale.json`;"
        " its memory is the index's), then this table of every row. Whole hybrid searches beyond the model"
        " (`Searcher.search`, k=10, 6-word queries drawn like the passages' words; the query vectors are the mixture's,"
        " cached before timing), the lexical part alone (the reader's scores and `Searcher.top_rows` for 100"
        " candidates), the dense part alone (recall@10 against exact search over the stored vectors). Wall ms and the"
        " process's CPU ms a query: on this shared 2-core machine the CPU figures are the comparable ones. RSS after"
        " the searches: the process's anonymous memory and the FAISS lists' pages it maps (the other mapped pages"
        " are the vector files the exact search read, SQLite and the libraries)."
    )
    return (textwrap.fill(intro, 110) + "\n\n" + report(rows) + "\n\nPlot: `artifacts/scale_search.png` (CPU p50 of each part and RSS against"
            f" collection size). Largest index, {top['passages']:,} passages in {top['segments']} segments ({top['index_types']}):\n\n"
            + "\n".join(f"- {c}" for c in checks))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best: dict[int, dict] = {}  # per size, the index of fewest segments (one quantizer for all of them)
    for r in rows:
        if r["passages"] not in best or r["segments"] < best[r["passages"]]["segments"]:
            best[r["passages"]] = r
    merged = [best[k] for k in sorted(best)]
    if not merged:
        return
    n = [r["passages"] / 1e6 for r in merged]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("search_cpu", "whole search"), ("lex_cpu", "lexical"), ("dense_cpu", "dense")):
        a.plot(n, [r[key][0] for r in merged], "o-", label=f"{label}, CPU p50")
    a.plot(n, [r["search"][0] for r in merged], "o--", label="whole search, wall p50 (load!)")
    a.set_xlabel("passages (millions); one coarse quantizer")
    a.set_ylabel("ms a query beyond the model")
    a.set_yscale("log")
    a.legend(fontsize=8)
    b.plot(n, [r["rss_mib"] / 1024 for r in merged], "o-", label="RSS after the searches")
    b.plot(n, [serving_mib(r) / 1024 for r in merged], "o-", label="serving: anonymous + FAISS pages")
    b.plot(n, [r.get("anon_mib", float("nan")) / 1024 for r in merged], "o-", label="anonymous")
    b.set_xlabel("passages (millions)")
    b.set_ylabel("GiB")
    b.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", help="measure this index and add its row to --json")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json")
    parser.add_argument("--compare", nargs="+", help="indexes of the same passages: whole searches interleaved (prints only)")
    parser.add_argument("--plot")
    parser.add_argument("--no-write", action="store_true", help="print the BENCHMARKS.md section instead of writing it")
    args = parser.parse_args()
    if args.compare:
        print(compare([Path(d) for d in args.compare], args.queries))
        return 0
    if not args.json:
        parser.error("--json is required (unless --compare)")
    path = Path(args.json)
    rows = json.loads(path.read_text()) if path.is_file() else []
    if args.index_dir:
        row = measure(Path(args.index_dir), args.queries)
        rows = [r for r in rows if r["index"] != row["index"]] + [row]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, Path(args.plot))
    if args.index_dir:
        print(report(rows))
    else:
        publish("Search cost against collection size (bench/scale_search.py)", section(rows), args.no_write, part=PART)
    return 0


if __name__ == "__main__":
    sys.exit(main())
