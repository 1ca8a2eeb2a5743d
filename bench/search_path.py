"""Where one search spends its time in process: the model call against the rest of `Searcher.search`.

    python bench/search_path.py [--queries 300] [--rounds 3] [--index-dir data/bench/piaf] [--label TEXT] [--no-write]

Over the PIAF index (built once into --index-dir), the same questions are searched (k=10, hybrid,
collapse on) with their query vectors already cached, so the timings exclude the model; the model
call is timed separately (`embed_query` on the same questions). The steps are timed by wrapping
the Searcher's methods. To compare two versions of the code under the same load, run this script
alternately with PYTHONPATH pointing at each (see BENCHMARKS.md) and pass --label.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import add_timer, ensure_piaf_index, load_text, percentiles, wait_for_quiet  # noqa: E402

STEPS = ("rank", "_dense_top", "_sentence_scores", "_select", "_answer_numbers", "fetch_passages")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions; the median pass is reported")
    parser.add_argument("--index-dir", default=str(ROOT / "data" / "bench" / "piaf"))
    parser.add_argument("--max-load", type=float, default=None, help="wait (up to 10 min) for the 1-min load average to drop under this")
    parser.add_argument("--label", default="", help="what code this is (e.g. a commit), for the section title")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0

    import semsearch
    from semsearch.embedding import load_embedder
    from semsearch.evaluation.datasets import load_eval_set
    from semsearch.search.searcher import build_searcher
    from semsearch.settings import Settings
    from semsearch.store.reader import open_index

    dataset = load_eval_set(PIAF)
    questions = list(dataset.queries.values())
    random.Random(11).shuffle(questions)
    questions = questions[: args.queries]
    embedder = load_embedder()
    index_dir, _ = ensure_piaf_index(Path(args.index_dir), PIAF, embedder)
    searcher = build_searcher(open_index(index_dir), embedder, Settings(query_cache_size=len(questions) + 10).search_config())

    spent: dict[str, float] = {}

    for name in STEPS:
        add_timer(searcher.reader if name == "fetch_passages" else searcher, name, spent)
    for question in questions:  # fills the query-vector cache: the passes below make no model call
        searcher.search(question, k=10)
    loads = [wait_for_quiet(args.max_load)]
    model = []
    for question in questions:
        t0 = time.perf_counter()
        embedder.embed_query(question)
        model.append((time.perf_counter() - t0) * 1000)
    passes = []
    for _ in range(args.rounds):
        spent.clear()
        latencies = []
        for question in questions:
            t0 = time.perf_counter()
            searcher.search(question, k=10)
            latencies.append((time.perf_counter() - t0) * 1000)
        passes.append((statistics.mean(latencies), latencies, dict(spent)))
    loads.append(load_text())
    mean_ms, latencies, steps = sorted(passes, key=lambda p: p[0])[len(passes) // 2]
    n = len(questions)
    p = percentiles(latencies)
    m = percentiles(model)
    rows = [
        ["`embed_query` (the model, timed apart)", f"{statistics.mean(model):.2f}", f"{m[0]:.2f}", f"{m[1]:.2f}"],
        ["`Searcher.search` without the model", f"{mean_ms:.2f}", f"{p[0]:.2f}", f"{p[1]:.2f}"],
    ]
    rows += [[f"  of which `{name}`", f"{1000 * steps.get(name, 0.0) / n:.2f}", "", ""] for name in STEPS]
    body = (
        f"Code: `{Path(semsearch.__file__).parent}`{' (' + args.label + ')' if args.label else ''}. {n} PIAF questions, "
        f"k=10, hybrid, collapse on; median of {args.rounds} passes. Load average (1/5/15 min): {' -> '.join(loads)}.\n\n"
        + markdown_table(["per query", "mean ms", "p50 ms", "p95 ms"], rows)
        + "\n\n(`rank` includes `_dense_top` and `_sentence_scores`; `_select` includes `_answer_numbers`, which includes "
        "the `fetch_passages` calls it makes.)"
    )
    publish(f"Search path in process{': ' + args.label if args.label else ''}", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
