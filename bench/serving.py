"""Serving speed against the model's own speed: `semsearch serve` under wrk, on the seeds.

    python bench/serving.py [--rounds 3] [--seconds 10] [--launches 3] [--max-load 1.5] [--write]
    python bench/serving.py --cpu-only [--rounds 3] [--seconds 10] [--profile server.svg]

The load generator is wrk (Debian: `apt-get install -y wrk`), a C program, so the client takes
little of the two cores from the server. Every request is GET /search?q=...&k=10 (hybrid,
collapse on) with one of 1,000 distinct English questions about the seeds (bench/_questions.py),
sent in turn by bench/serving.lua, against a server with its query cache off
(SEMSEARCH_QUERY_CACHE_SIZE=0): every request is a model call.

Measured, interleaved so that each ratio compares figures taken under the same load:

- per round: the model alone in this process (`embed_query`, one call after another, over 400 (--model-questions) of
  the same questions: its p50 and its single-stream rate), then wrk with 1 client (p50), the model
  again, then wrk with 8 clients (requests/s); the ratios p50 / model p50 and req/s / model rate
  are taken per round and reported as the median over the rounds;
- first search after ready: the server is launched --launches times; /readyz is polled every
  20 ms and the first search is sent as soon as it answers 200; its time against the steady p50;
- server CPU per request outside the model: a second server with the query cache on, every
  question sent once (cached), then wrk with 8 clients; CPU time of the server process per request.

Prints the tables; --write refreshes this script's rows of the current-figures table and its
section of BENCHMARKS.md (nothing else there changes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, markdown_table, refresh_rows, refresh_section  # noqa: E402
from _perf import ServerProcess, load_text, percentiles, wait_for_quiet  # noqa: E402
from _questions import english_questions  # noqa: E402

TARGET_P50_RATIO = 1.25  # p50 at 1 client / the model's own time for the same questions
TARGET_THROUGHPUT_RATIO = 0.85  # requests/s at 8 clients / the model's single-stream rate
TARGET_FIRST_RATIO = 2.0  # first search after /readyz 200 / steady p50
LUA = Path(__file__).resolve().parent / "serving.lua"
COMMAND = "python bench/serving.py --max-load 1.5 --write"


def ensure_seed_index(index_dir: Path, embedder) -> Path:
    """Index ./seeds into `index_dir` unless it already holds a commit."""
    from semsearch.index.writer import IndexWriter
    from semsearch.ingest.readers import read_paths
    from semsearch.settings import Settings
    from semsearch.store.layout import IndexDirectory

    if IndexDirectory(index_dir).is_empty():
        print(f"indexing the seeds into {index_dir} (once)", file=sys.stderr, flush=True)
        IndexWriter(index_dir, embedder, Settings().chunking()).write(read_paths([ROOT / "seeds"]).documents)
    return index_dir


def model_alone(embedder, questions: list[str], latent: bool = False) -> dict:
    """The model called one query after another in this process: p50 ms, calls/s, CPU ms a call. `latent`: a query's
    model work is its vector and its latent terms, as a search asks for both when its language is not the articles'
    (the English questions over the French seeds; search/fusion.py)."""
    latencies = []
    cpu0, started = time.process_time(), time.perf_counter()
    for question in questions:
        t0 = time.perf_counter()
        embedder.embed_query(question)
        if latent:
            embedder.latent_terms([question])
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    return {
        "p50": percentiles(latencies, (50,))[0],
        "rate": len(questions) / elapsed,
        "cpu_ms": 1000 * (time.process_time() - cpu0) / len(questions),
    }


def model_calls(client) -> float:
    """The server's query model calls so far (semsearch_embed_duration_seconds_count{kind="query"})."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('semsearch_embed_duration_seconds_count{kind="query"}'):
            return float(line.split()[-1])
    return 0.0


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(server: ServerProcess, paths_file: Path, clients: int, seconds: float) -> dict:
    """wrk over the questions in turn: requests/s, latency percentiles (ms), errors, server CPU ms a request."""
    cpu0 = process_cpu_seconds(server.proc.pid)
    done = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(LUA), server.base],
        env={**os.environ, "SERVING_PATHS": str(paths_file)},
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = process_cpu_seconds(server.proc.pid) - cpu0
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    n = stats["requests"]
    return {
        "requests": n,
        "rps": n / (stats["duration_us"] / 1e6),
        "p50": stats["p50"] / 1000,
        "p90": stats["p90"] / 1000,
        "p99": stats["p99"] / 1000,
        "errors": stats["errors"] + stats["non2xx"],
        "server_cpu_ms": 1000 * cpu / max(1, n),
    }


def outside_the_model(
    index_dir: Path, temp: Path, questions: list[str], paths_file: Path, seconds: float, max_load: float | None,
    runs: int = 1, profile: str | None = None,
) -> list[dict]:
    """Server CPU a request outside the model: a server with its query cache on, every question sent
    once (its vector cached), then `runs` wrk runs with 8 clients over them; the first under py-spy
    when `profile` names a file (py-spy: a flame graph for .svg, else collapsed stacks)."""
    import httpx

    out = []
    with ServerProcess(index_dir, temp / "cached.log", env={"SEMSEARCH_QUERY_CACHE_SIZE": "2048"}) as server:
        server.wait_ready()
        with httpx.Client(base_url=server.base, timeout=60, trust_env=False) as client:
            for question in questions:  # every question's vector cached
                client.get("/search", params={"q": question, "k": 10}).raise_for_status()
            run_wrk(server, paths_file, 8, 2)  # warm
            for i in range(runs):
                load = wait_for_quiet(max_load)
                calls_before = model_calls(client)
                spy = None
                if profile and i == 0:
                    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"  # pip install py-spy
                    spy = subprocess.Popen([py_spy, "record", "--pid", str(server.proc.pid), "--output", profile, "--rate", "200",
                                            "--nonblocking", "--duration", str(int(seconds)),
                                            "--format", "flamegraph" if profile.endswith(".svg") else "raw"])
                cached = run_wrk(server, paths_file, 8, seconds)
                if spy is not None:
                    spy.wait()
                cached["model_calls"] = model_calls(client) - calls_before
                cached["load"] = load
                cached["profiled"] = spy is not None
                print(json.dumps(cached), file=sys.stderr, flush=True)
                out.append(cached)
    return out


def engine_alone(index_dir: Path, embedder, questions: list[str], passes: int = 3) -> float:
    """CPU ms of one `Searcher.search` in this process, vectors cached, over the same questions as
    the server's run (the fastest of `passes`): what the server spends beyond it is the service's."""
    from semsearch.search.searcher import QueryVectorCache, build_searcher
    from semsearch.settings import Settings
    from semsearch.store.reader import open_index

    searcher = build_searcher(open_index(index_dir), embedder, Settings().search_config(), QueryVectorCache(4096))
    for question in questions:
        searcher.search(question, k=10)
    best = float("inf")
    for _ in range(passes):
        cpu0 = time.process_time()
        for question in questions:
            searcher.search(question, k=10)
        best = min(best, 1000 * (time.process_time() - cpu0) / len(questions))
    return best


def first_search_after_ready(index_dir: Path, temp: Path, question: str, launches: int, max_load: float | None) -> list[dict]:
    import httpx

    out = []
    for i in range(launches):
        wait_for_quiet(max_load)
        with ServerProcess(index_dir, temp / f"first-{i}.log", env={"SEMSEARCH_QUERY_CACHE_SIZE": "0"}) as server:
            ready_s = server.wait_ready()
            with httpx.Client(base_url=server.base, timeout=60, trust_env=False) as client:
                t0 = time.perf_counter()
                client.get("/search", params={"q": question, "k": 10}).raise_for_status()
                first_ms = (time.perf_counter() - t0) * 1000
                t0 = time.perf_counter()
                client.get("/search", params={"q": question + " ", "k": 10}).raise_for_status()
                second_ms = (time.perf_counter() - t0) * 1000
        out.append({"ready_s": ready_s, "first_ms": first_ms, "second_ms": second_ms, "load": load_text()})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of model / 1 client / model / 8 clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    parser.add_argument("--launches", type=int, default=3, help="server launches for the first search after ready")
    parser.add_argument("--model-questions", type=int, default=400, help="questions of each in-process model run")
    parser.add_argument("--cached-questions", type=int, default=1000, help="questions cached for the run outside the model")
    parser.add_argument("--index-dir", default=str(ROOT / "data" / "bench" / "seeds"))
    parser.add_argument("--max-load", type=float, default=None, help="wait (up to 10 min) for the 1-min load average to drop under this")
    parser.add_argument("--write", action="store_true", help="refresh this script's rows and section in BENCHMARKS.md")
    parser.add_argument("--cpu-only", action="store_true",
                        help="measure only the server's CPU a request outside the model, --rounds times (prints; never writes)")
    parser.add_argument("--profile", metavar="FILE",
                        help="with --cpu-only: py-spy's samples of the server during one more run (.svg: a flame graph; else collapsed stacks)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 1


    from semsearch.embedding import load_embedder

    questions = english_questions()
    embedder = load_embedder()
    index_dir = ensure_seed_index(Path(args.index_dir), embedder)
    from semsearch.store.reader import open_index

    latent = open_index(index_dir).has_latent_terms  # then every English question also asks for its latent terms
    for question in questions[-20:]:
        embedder.embed_query(question)

    rounds: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-serving-") as temp_name:
        temp = Path(temp_name)
        paths_file = temp / "paths.txt"
        paths_file.write_text("".join(f"/search?{urllib.parse.urlencode({'q': q, 'k': 10})}\n" for q in questions))
        cached_questions = questions[: args.cached_questions]
        cached_file = temp / "cached.txt"
        cached_file.write_text("".join(f"/search?{urllib.parse.urlencode({'q': q, 'k': 10})}\n" for q in cached_questions))

        if args.cpu_only:
            runs = outside_the_model(index_dir, temp, cached_questions, cached_file, args.seconds, args.max_load,
                                     args.rounds + bool(args.profile), args.profile)
            unprofiled = [r["server_cpu_ms"] for r in runs if not r["profiled"]]
            engine = engine_alone(index_dir, embedder, cached_questions)
            server = statistics.median(unprofiled)
            print(f"server CPU a request outside the model: median {server:.2f} ms "
                  f"(runs: {', '.join(f'{x:.2f}' for x in unprofiled)}), {args.seconds:g} s each, 8 clients, "
                  f"{len(cached_questions)} questions all cached; the search engine alone in process (Searcher.search): "
                  f"{engine:.2f} ms, so HTTP and the service {server - engine:.2f} ms; load {runs[0]['load']} -> {load_text()}")
            return 0

        first = first_search_after_ready(index_dir, temp, questions[0], args.launches, args.max_load)
        print(f"first search after ready: {first}", file=sys.stderr, flush=True)

        with ServerProcess(index_dir, temp / "serve.log", env={"SEMSEARCH_QUERY_CACHE_SIZE": "0"}) as server:
            server.wait_ready()
            run_wrk(server, paths_file, 1, 2)  # connections and pages warm, as in a server that has run a while
            for _ in range(args.rounds):
                row: dict = {"load": wait_for_quiet(args.max_load)}
                row["model_1"] = model_alone(embedder, questions[: args.model_questions], latent)
                row["c1"] = run_wrk(server, paths_file, 1, args.seconds)
                row["model_8"] = model_alone(embedder, questions[: args.model_questions], latent)
                row["c8"] = run_wrk(server, paths_file, 8, args.seconds)
                row["load_after"] = load_text()
                row["p50_ratio"] = row["c1"]["p50"] / row["model_1"]["p50"]
                row["rps_ratio"] = row["c8"]["rps"] / row["model_8"]["rate"]
                rounds.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)

        cached = outside_the_model(index_dir, temp, cached_questions, cached_file, args.seconds, args.max_load)[0]
        load_cached = cached["load"]

    p50_ratio = statistics.median(r["p50_ratio"] for r in rounds)
    rps_ratio = statistics.median(r["rps_ratio"] for r in rounds)
    steady_p50 = statistics.median(r["c1"]["p50"] for r in rounds)
    first_ms = statistics.median(f["first_ms"] for f in first)
    first_ratio = first_ms / steady_p50
    model_cpu = statistics.median(r["model_1"]["cpu_ms"] for r in rounds)
    loads = f"load {rounds[0]['load']} -> {rounds[-1]['load_after']}"

    def met(ok: bool) -> str:
        return "met" if ok else "**missed**"

    table_rounds = markdown_table(
        ["round", "load 1/5/15 at start", "model p50 ms", "1 client p50 / p90 / p99 ms", "p50 ratio", "model calls/s",
         "8 clients req/s", "8 clients p50 / p99 ms", "req/s ratio", "server CPU ms/req (1 / 8 clients)", "errors"],
        [
            [i + 1, r["load"], f"{r['model_1']['p50']:.2f}", f"{r['c1']['p50']:.1f} / {r['c1']['p90']:.1f} / {r['c1']['p99']:.1f}",
             f"{r['p50_ratio']:.2f}x", f"{r['model_8']['rate']:.1f}", f"{r['c8']['rps']:.1f}",
             f"{r['c8']['p50']:.1f} / {r['c8']['p99']:.1f}", f"{r['rps_ratio']:.2f}x",
             f"{r['c1']['server_cpu_ms']:.1f} / {r['c8']['server_cpu_ms']:.1f}", r["c1"]["errors"] + r["c8"]["errors"]]
            for i, r in enumerate(rounds)
        ],
    )
    table_first = markdown_table(
        ["launch", "launch -> /readyz 200 (s)", "first search ms", "second search ms", "load after"],
        [[i + 1, f"{f['ready_s']:.2f}", f"{f['first_ms']:.1f}", f"{f['second_ms']:.1f}", f["load"]] for i, f in enumerate(first)],
    )
    body = (
        f"Index: the 5 seed articles ({index_dir.name}); 1,000 distinct English questions (bench/_questions.py), "
        f"GET /search k=10 (hybrid, collapse), wrk 1 thread, {args.seconds:g} s a run; server `semsearch serve` with "
        "`SEMSEARCH_QUERY_CACHE_SIZE=0`. The model alone: `embed_query` in the bench process, one call after another, "
        + ("and each question's `latent_terms` (the search asks for both: English questions, French articles), " if latent else "")
        + f"over {args.model_questions} of the same questions, just before each wrk run.\n\n"
        f"Targets (median of {len(rounds)} rounds): p50 at 1 client / the model's p50: **{p50_ratio:.2f}x** "
        f"(target <= {TARGET_P50_RATIO}x: {met(p50_ratio <= TARGET_P50_RATIO)}); req/s at 8 clients / the model's "
        f"single-stream rate: **{rps_ratio:.2f}x** (target >= {TARGET_THROUGHPUT_RATIO}x: "
        f"{met(rps_ratio >= TARGET_THROUGHPUT_RATIO)}); first search after ready / steady p50: "
        f"**{first_ratio:.2f}x** ({first_ms:.1f} ms / {steady_p50:.1f} ms; target <= {TARGET_FIRST_RATIO}x: "
        f"{met(first_ratio <= TARGET_FIRST_RATIO)}).\n\n"
        + table_rounds + "\n\n" + table_first + "\n\n"
        f"CPU a request: the model {model_cpu:.1f} ms a query (both cores, in process); the server outside the model "
        f"{cached['server_cpu_ms']:.2f} ms (query cache on, {len(cached_questions)} questions all cached, 8 clients: {cached['rps']:.0f} req/s, "
        f"p50 {cached['p50']:.1f} ms, {cached['model_calls']:.0f} model calls during the run, load {load_cached} at the start). "
        f"With the cache off, the server's CPU a request is the model's plus that: 2 cores / "
        f"({model_cpu:.1f} + {cached['server_cpu_ms']:.1f}) ms = {2000 / (model_cpu + cached['server_cpu_ms']):.0f} req/s "
        "at most, wrk's own CPU aside."
    )
    print(body)
    if args.write:
        command = f"`{COMMAND}`"
        refresh_rows([
            ["Serving: p50 at 1 client / the model's own time",
             f"{p50_ratio:.2f}x ({steady_p50:.1f} ms; {loads}{'; the model: vector and latent terms' if latent else ''})",
             f"<= {TARGET_P50_RATIO}x", command],
            ["Serving: req/s at 8 clients / the model's single-stream rate",
             f"{rps_ratio:.2f}x ({statistics.median(r['c8']['rps'] for r in rounds):.0f} req/s; {loads})",
             f">= {TARGET_THROUGHPUT_RATIO}x", command],
            ["Serving: first search after /readyz 200 / steady p50", f"{first_ratio:.2f}x ({first_ms:.0f} ms; {first[-1]['load']})",
             f"<= {TARGET_FIRST_RATIO}x", command],
            ["Serving: server CPU a request outside the model", f"{cached['server_cpu_ms']:.2f} ms (load {load_cached})",
             "under about 3 ms (issue #14's estimate for 0.85x)", command],
        ])
        refresh_section("serving", "Serving speed: semsearch serve under wrk, against the model alone", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
