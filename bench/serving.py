"""Search latency and throughput over HTTP against a real `semsearch serve`, by concurrency.

    python bench/serving.py [--levels 1,4,8,16] [--seconds 20] [--index-dir data/bench/piaf]
                            [--max-load 2.5] [--plot bench/serving.png] [--no-write]

The server runs as a subprocess on loopback over an index of the PIAF dev paragraphs (built once
into --index-dir), with its query-vector cache off (SEMSEARCH_QUERY_CACHE_SIZE=0), and every
request is a distinct PIAF question (GET /search?q=...&k=10, hybrid, collapse on). Each level runs
for --seconds (or until the questions run out) with that many clients in flight (httpx + asyncio).
A paired run at 1 client embeds each question in process and then sends it, so the two timings of a
question see the same load (the p50 target). For comparison, the same questions also go through
the embedder alone (`embed_query`, one at a time,
in this process) and through `Searcher.search` in process (no HTTP), before the server starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import ServerProcess, ensure_piaf_index, load_text, percentiles, wait_for_quiet  # noqa: E402

TARGET_P50_RATIO = 1.5  # p50 at concurrency 1 / the embedder's own time for the same query
TARGET_THROUGHPUT_RATIO = 0.8  # throughput at concurrency 8 / the embedder's single-stream rate
TARGET_TAIL_RATIO = 10.0  # p99 at concurrency 8 / p50 at concurrency 1


def time_calls(fn, questions: list[str], seconds: float) -> tuple[list[float], float]:
    """Call fn(q) on each question in turn for `seconds` (or all of them): per-call ms and the rate."""
    latencies: list[float] = []
    started = time.perf_counter()
    for question in questions:
        t0 = time.perf_counter()
        fn(question)
        latencies.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - started > seconds:
            break
    return latencies, len(latencies) / (time.perf_counter() - started)


def paired_run(base: str, embedder, questions: list[str], seconds: float, k: int) -> tuple[list[float], list[float]]:
    """One client: each question first through the embedder in this process, then over HTTP, so both
    timings of a question see the same machine load. Per-question ms of each."""
    import httpx

    model, http = [], []
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=120, trust_env=False) as client:
        for question in questions:
            t0 = time.perf_counter()
            embedder.embed_query(question)
            t1 = time.perf_counter()
            client.get("/search", params={"q": question, "k": k}).raise_for_status()
            t2 = time.perf_counter()
            model.append((t1 - t0) * 1000)
            http.append((t2 - t1) * 1000)
            if t2 - started > seconds:
                break
    return model, http


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def embed_metrics(client, base: str) -> tuple[float, float]:
    """Sum and count of the server's query model calls (semsearch_embed_duration_seconds{kind="query"})."""
    text = client.get(f"{base}/metrics").text
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith('semsearch_embed_duration_seconds_sum{kind="query"}'):
            total = float(line.split()[-1])
        elif line.startswith('semsearch_embed_duration_seconds_count{kind="query"}'):
            count = float(line.split()[-1])
    return total, count


async def run_level(base: str, concurrency: int, questions: list[str], seconds: float, k: int) -> dict:
    import httpx

    pending = iter(questions)
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120, trust_env=False) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                question = next(pending, None)
                if question is None:
                    return
                t0 = time.perf_counter()
                response = await client.get("/search", params={"q": question, "k": k})
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code == 200:
                    latencies.append(elapsed)
                else:
                    errors.append(response.status_code)

        cpu0 = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - cpu0
    return {"latencies": latencies, "errors": errors, "seconds": elapsed, "client_cpu": client_cpu}


def plot(path: Path, rows: list[dict], embed_ms: float, embed_rate: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [r["c"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label in (("p50", "p50"), ("p95", "p95"), ("p99", "p99")):
        left.plot(levels, [r[key] for r in rows], marker="o", label=label)
    left.axhline(embed_ms, color="grey", linestyle="--", label="embedder alone (median)")
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xticks(levels, [str(c) for c in levels])
    left.set_xlabel("concurrent clients")
    left.set_ylabel("latency (ms)")
    left.set_title("GET /search latency")
    left.legend()
    right.plot(levels, [r["rps"] for r in rows], marker="o", label="semsearch serve")
    right.axhline(embed_rate, color="grey", linestyle="--", label="embedder alone, single stream")
    right.set_xscale("log", base=2)
    right.set_xticks(levels, [str(c) for c in levels])
    right.set_xlabel("concurrent clients")
    right.set_ylabel("requests / s")
    right.set_ylim(bottom=0)
    right.set_title("throughput")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,8,16", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each level")
    parser.add_argument("--embed-seconds", type=float, default=10.0, help="duration of the in-process embedder and Searcher runs")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--index-dir", default=str(ROOT / "data" / "bench" / "piaf"))
    parser.add_argument("--max-load", type=float, default=None, help="wait (up to 10 min) for the 1-min load average to drop under this")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the server")
    parser.add_argument("--plot", default=None, help="write a PNG of latency and throughput by concurrency")
    parser.add_argument("--title", default="Serving: GET /search over HTTP by concurrency (PIAF index)")
    parser.add_argument("--note", default="", help="a line added under the tables (what changed since the last run)")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    paired_ratio = float("nan")

    import httpx

    from semsearch.embedding import load_embedder
    from semsearch.evaluation.datasets import load_eval_set
    from semsearch.service.searcher import build_searcher
    from semsearch.settings import Settings
    from semsearch.store.reader import open_index

    dataset = load_eval_set(PIAF)
    questions = list(dataset.queries.values())
    random.Random(7).shuffle(questions)
    settings = Settings(query_cache_size=0)
    embedder = load_embedder(settings.model)
    index_dir, built = ensure_piaf_index(Path(args.index_dir), PIAF, embedder)

    # -- in process: the embedder alone, then the whole search path without HTTP ---------------
    embedder.embed_query("échauffement")
    load_embed = wait_for_quiet(args.max_load)
    embed_lat, embed_rate = time_calls(embedder.embed_query, questions, args.embed_seconds)
    snapshot = open_index(index_dir)
    searcher = build_searcher(snapshot, embedder, settings)
    for question in questions[-20:]:
        searcher.search(question, k=args.k)
    search_lat, search_rate = time_calls(lambda q: searcher.search(q, k=args.k), questions, args.embed_seconds)
    snapshot.close()
    embed_p = percentiles(embed_lat)
    search_p = percentiles(search_lat)
    print(f"embedder alone: median {embed_p[0]:.2f} ms, {embed_rate:.1f}/s; Searcher.search: median {search_p[0]:.2f} ms", file=sys.stderr)

    # -- over HTTP -------------------------------------------------------------------------------
    env = {"SEMSEARCH_QUERY_CACHE_SIZE": "0"}
    for item in args.server_env:
        name, _, value = item.partition("=")
        env[name] = value
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-serving-") as temp:
        server = ServerProcess(index_dir, Path(temp) / "serve.log", env=env)
        with server, httpx.Client(timeout=60, trust_env=False) as probe:
            ready_s = server.wait_ready()
            for question in questions[-20:]:  # warm-up: first-call costs (language model, BM25 pages)
                probe.get(f"{server.base}/search", params={"q": question, "k": args.k}).raise_for_status()
            load_paired = wait_for_quiet(args.max_load)
            paired_model, paired_http = paired_run(server.base, embedder, questions[1000:], args.seconds, args.k)
            paired_ratio = percentiles([h / m for h, m in zip(paired_http, paired_model)], (50,))[0]
            offset = 0
            embed_rates = []
            for c in levels:
                load_before = wait_for_quiet(args.max_load)
                embed_rates.append(time_calls(embedder.embed_query, questions[-400:], 3.0)[1])  # the model's rate just before
                embed_sum0, embed_n0 = embed_metrics(probe, server.base)
                cpu0 = process_cpu_seconds(server.proc.pid)
                batch = questions[offset:] + questions[:offset]  # each level starts elsewhere in the list
                result = asyncio.run(run_level(server.base, c, batch, args.seconds, args.k))
                server_cpu = process_cpu_seconds(server.proc.pid) - cpu0
                embed_sum1, embed_n1 = embed_metrics(probe, server.base)
                n = len(result["latencies"])
                offset = (offset + n + len(result["errors"])) % len(questions)
                p50, p95, p99 = percentiles(result["latencies"])
                rows.append(
                    {
                        "c": c,
                        "n": n,
                        "errors": len(result["errors"]),
                        "rps": n / result["seconds"],
                        "p50": p50,
                        "p95": p95,
                        "p99": p99,
                        "mean": sum(result["latencies"]) / n if n else float("nan"),
                        "model_ms": 1000 * (embed_sum1 - embed_sum0) / max(1.0, embed_n1 - embed_n0),
                        "embed_rate": embed_rates[-1],
                        "server_cpu_ms": 1000 * server_cpu / max(1, n),
                        "client_cpu_ms": 1000 * result["client_cpu"] / max(1, n),
                        "load": f"{load_before} -> {load_text()}",
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)

    by_c = {r["c"]: r for r in rows}
    table = markdown_table(
        ["clients", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean ms", "model call ms (server, lock wait incl.)",
         "server CPU ms/req", "client CPU ms/req", "embedder alone just before (calls/s)", "load 1/5/15 (before -> after)"],
        [
            [r["c"], r["n"], r["errors"], f"{r['rps']:.1f}", f"{r['p50']:.1f}", f"{r['p95']:.1f}", f"{r['p99']:.1f}",
             f"{r['mean']:.1f}", f"{r['model_ms']:.1f}", f"{r['server_cpu_ms']:.1f}", f"{r['client_cpu_ms']:.1f}",
             f"{r['embed_rate']:.1f}", r["load"]]
            for r in rows
        ],
    )
    inproc = markdown_table(
        ["in process (no HTTP)", "calls", "p50 ms", "p95 ms", "p99 ms", "calls/s"],
        [
            ["`embed_query` alone", len(embed_lat), f"{embed_p[0]:.2f}", f"{embed_p[1]:.2f}", f"{embed_p[2]:.2f}", f"{embed_rate:.1f}"],
            ["`Searcher.search` (k=10, hybrid)", len(search_lat), f"{search_p[0]:.2f}", f"{search_p[1]:.2f}", f"{search_p[2]:.2f}",
             f"{search_rate:.1f}"],
        ],
    )
    pm, ph = percentiles(paired_model, (50,))[0], percentiles(paired_http, (50,))[0]
    paired = (
        f"Paired run, 1 client, {len(paired_http)} questions, each embedded in process and then searched over HTTP (same load "
        f"for both, {load_paired} at the start): embedder p50 {pm:.1f} ms, HTTP p50 {ph:.1f} ms, per-question ratio p50 "
        f"{paired_ratio:.2f}x."
    )
    targets = [
        f"p50 at 1 client / the embedder's own time for the same question (paired run): {paired_ratio:.2f}x "
        f"(target <= {TARGET_P50_RATIO}x: {'met' if paired_ratio <= TARGET_P50_RATIO else 'MISSED'})"
    ]
    if 8 in by_c:
        ratio = by_c[8]["rps"] / by_c[8]["embed_rate"]
        targets.append(f"throughput at 8 clients / embedder single-stream rate measured just before: {ratio:.2f}x "
                       f"(target >= {TARGET_THROUGHPUT_RATIO}x: {'met' if ratio >= TARGET_THROUGHPUT_RATIO else 'MISSED'})")
    if 1 in by_c and 8 in by_c:
        ratio = by_c[8]["p99"] / by_c[1]["p50"]
        targets.append(f"p99 at 8 clients / p50 at 1 client: {ratio:.1f}x (target < {TARGET_TAIL_RATIO:.0f}x: "
                       f"{'met' if ratio < TARGET_TAIL_RATIO else 'MISSED'})")
    extra_env = ", ".join(f"`{k}={v}`" for k, v in env.items())
    body = (
        f"Index: {len(dataset.documents)} PIAF paragraphs ({index_dir.name}{', built for this run' if built else ''}); "
        f"server `semsearch serve` with {extra_env}, ready {ready_s:.2f} s after launch; distinct PIAF questions, "
        f"GET /search k={args.k} (hybrid, collapse), {args.seconds:.0f} s per level; client httpx.AsyncClient in the "
        f"bench process on the same 2 cores. In-process runs under load {load_embed}.\n\n"
        + inproc + "\n\n" + paired + "\n\n" + table + "\n\n" + "Targets: " + "; ".join(targets) + "."
    )
    if args.plot:
        plot(Path(args.plot), rows, embed_p[0], embed_rate)
        body += f"\n\n![latency and throughput by concurrency]({Path(args.plot).resolve().relative_to(ROOT)})"
    if args.note:
        body += f"\n\n{args.note}"
    publish(args.title, body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
