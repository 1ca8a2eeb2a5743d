"""Soak: searches from many client threads while a writer adds and deletes documents, against a real
`semsearch serve` on a loopback port. Zero errors, results always consistent, memory flat.

    python bench/soak.py [--duration 300] [--clients 16] [--index-dir PATH] [--no-write]

Without --index-dir the seeds are indexed into a scratch folder first; with it, a copy of that index
is used (the original is never written). Prints a table and appends a section to BENCHMARKS.md.

Checks, for every answer:
- status 200 (searches and writes alike); any other status or transport error counts as an error;
- no result names a document whose deletion was acknowledged before the search was sent;
- every result names a seed or a document the writer added;
- after each acknowledged add, a search for the document's own token finds it (read-your-writes).
Memory: the server's RSS (VmRSS of /proc/<pid>/status) and its open file descriptors, sampled twice a
second; after warm-up (the first 20% of the run) the median of the last third must stay within 20% of
the median of the first third.

tests/test_reliability_soak.py runs the same `run_soak` for 35 s in the suite.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

QUERIES = [
    ("Combien de soldats américains sont en Irak ?", "hybrid"),
    ("How many US soldiers are in Iraq?", "dense"),
    ("retrait des forces de la coalition", "hybrid"),
    ("coalition internationale contre Daesh", "lexical"),
    ("Quel est le rôle de la coalition en Syrie ?", "hybrid"),
    ("frappes aériennes en représailles", "dense"),
    ("foire aux livres anciens", "hybrid"),
    ("What did the Pentagon say about the strikes?", "hybrid"),
]
WARMUP_FRACTION = 0.2
RSS_TOLERANCE = 0.20
KEEP_ADDED = 4  # the writer deletes its oldest document once it has added more than this


def token(i: int) -> str:
    """A word no seed contains, one per added document: a lexical search for it finds only that one."""
    letters = "bcdfghjklmnpqrstvz"
    word, n = "", i + 1
    while n:
        n, r = divmod(n, len(letters))
        word += letters[r]
    return f"soakword{word}q"  # ends in q: no French or English stemmer rule changes it


def soak_document(i: int) -> dict:
    return {
        "id": f"soak/{i:05d}.txt",
        "title": f"Foire aux livres numéro {i}",
        "date": "2024-05",
        "text": f"La foire aux livres anciens {token(i)} a réuni {100 + i} exposants sur la place du marché. "
        "Les bouquinistes ont vendu des cartes postales, des atlas et des romans du siècle dernier.",
    }


def proc_status(pid: int) -> tuple[float, int]:
    """RSS in MiB and the number of open file descriptors of a process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class SoakResult:
    duration_s: float
    clients: int
    searches: int = 0
    adds: int = 0
    deletes: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, rss MiB, open fds)

    def percentile(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def memory(self) -> dict:
        """Medians of the first and last thirds of the samples after warm-up."""
        after = [s for s in self.samples if s[0] >= WARMUP_FRACTION * self.duration_s]
        third = max(1, len(after) // 3)
        first, last = after[:third], after[-third:]
        rss_first = statistics.median(s[1] for s in first) if first else float("nan")
        rss_last = statistics.median(s[1] for s in last) if last else float("nan")
        fds_first = statistics.median(s[2] for s in first) if first else float("nan")
        fds_last = statistics.median(s[2] for s in last) if last else float("nan")
        return {
            "rss_first_mb": rss_first,
            "rss_last_mb": rss_last,
            "rss_growth": rss_last / rss_first - 1 if first else float("nan"),
            "rss_max_mb": max((s[1] for s in self.samples), default=float("nan")),
            "fds_first": fds_first,
            "fds_last": fds_last,
        }

    @property
    def memory_flat(self) -> bool:
        return self.memory()["rss_growth"] <= RSS_TOLERANCE

    def table(self) -> str:
        m = self.memory()
        rows = [
            ("duration", f"{self.duration_s:.0f} s"),
            ("search clients", str(self.clients)),
            ("searches", f"{self.searches} ({self.searches / self.duration_s:.1f}/s)"),
            ("search latency p50 / p95 / p99", " / ".join(f"{self.percentile(self.latencies_ms, q):.0f} ms" for q in (0.5, 0.95, 0.99))),
            ("writes: adds / deletes", f"{self.adds} / {self.deletes}"),
            ("write latency p50 / max", f"{self.percentile(self.write_ms, 0.5):.0f} ms / {max(self.write_ms, default=0):.0f} ms"),
            ("statuses", ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))),
            ("errors", str(len(self.errors))),
            ("server RSS after warm-up: first -> last third", f"{m['rss_first_mb']:.0f} -> {m['rss_last_mb']:.0f} MiB ({m['rss_growth']:+.1%})"),
            ("server RSS max", f"{m['rss_max_mb']:.0f} MiB"),
            ("server open fds: first third -> last third", f"{m['fds_first']:.0f} -> {m['fds_last']:.0f}"),
        ]
        lines = ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
        return "\n".join(lines)


def run_soak(base_url: str, pid: int, api_key: str, duration_s: float, clients: int, seed_ids: set[str], seed: int = 0) -> SoakResult:
    """Search from `clients` threads while one writer adds and deletes; returns what was seen."""
    result = SoakResult(duration_s=duration_s, clients=clients)
    auth = {"Authorization": f"Bearer {api_key}"}
    lock = threading.Lock()
    deleted_acked: dict[str, float] = {}
    added: set[str] = set()
    started = time.monotonic()
    deadline = started + duration_s
    stop = threading.Event()

    def error(message: str) -> None:
        with lock:
            if len(result.errors) < 1000:
                result.errors.append(message)

    def searcher(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as client:
            while time.monotonic() < deadline and not stop.is_set():
                query, mode = rng.choice(QUERIES)
                k = rng.choice((3, 5, 10))
                sent = time.monotonic()
                try:
                    if rng.random() < 0.5:
                        response = client.get("/search", params={"q": query, "mode": mode, "k": k})
                    else:
                        response = client.post("/search", json={"query": query, "mode": mode, "k": k, "collapse": rng.random() < 0.5})
                except httpx.HTTPError as exc:
                    error(f"search: {type(exc).__name__}: {exc}")
                    continue
                elapsed = (time.monotonic() - sent) * 1000
                with lock:
                    result.searches += 1
                    result.statuses[f"search {response.status_code}"] += 1
                    result.latencies_ms.append(elapsed)
                    gone = dict(deleted_acked)
                    known = seed_ids | added
                if response.status_code != 200:
                    error(f"search {query!r}: {response.status_code} {response.text[:200]}")
                    continue
                for hit in response.json()["results"]:
                    doc_id = hit["doc_id"]
                    if doc_id in gone and gone[doc_id] < sent:
                        error(f"{doc_id!r} returned by a search sent {sent - gone[doc_id]:.3f} s after its deletion was acknowledged")
                    elif doc_id not in known and doc_id not in gone:
                        error(f"unknown document {doc_id!r}")

    def writer() -> None:
        i = 0
        live: list[str] = []
        with httpx.Client(base_url=base_url, timeout=120, trust_env=False) as client:
            while time.monotonic() < deadline - 2 and not stop.is_set():
                doc = soak_document(seed * 100_000 + i)
                with lock:
                    added.add(doc["id"])
                t0 = time.monotonic()
                try:
                    response = client.post("/documents", json={"documents": [doc]}, headers=auth)
                except httpx.HTTPError as exc:
                    error(f"add: {type(exc).__name__}: {exc}")
                    return
                with lock:
                    result.statuses[f"add {response.status_code}"] += 1
                    result.write_ms.append((time.monotonic() - t0) * 1000)
                if response.status_code != 200 or response.json().get("added") != 1:
                    error(f"add {doc['id']}: {response.status_code} {response.text[:200]}")
                    return
                result.adds += 1
                live.append(doc["id"])
                found = client.get("/search", params={"q": token(seed * 100_000 + i), "mode": "lexical", "k": 3})
                if found.status_code != 200 or doc["id"] not in {h["doc_id"] for h in found.json()["results"]}:
                    error(f"{doc['id']} not found by a search sent after its add was acknowledged")
                i += 1
                if len(live) > KEEP_ADDED:
                    victim = live.pop(0)
                    t0 = time.monotonic()
                    try:
                        response = client.delete(f"/documents/{victim}", headers=auth)
                    except httpx.HTTPError as exc:
                        error(f"delete: {type(exc).__name__}: {exc}")
                        return
                    with lock:
                        result.statuses[f"delete {response.status_code}"] += 1
                        result.write_ms.append((time.monotonic() - t0) * 1000)
                    if response.status_code != 200 or response.json().get("deleted") != 1:
                        error(f"delete {victim}: {response.status_code} {response.text[:200]}")
                        return
                    with lock:
                        deleted_acked[victim] = time.monotonic()
                    result.deletes += 1
                time.sleep(0.2)

    def sampler() -> None:
        while time.monotonic() < deadline and not stop.is_set():
            try:
                rss, fds = proc_status(pid)
            except OSError as exc:
                error(f"server process gone: {exc}")
                stop.set()
                return
            result.samples.append((time.monotonic() - started, rss, fds))
            time.sleep(0.5)

    def guarded(target, *args) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except Exception as exc:  # a thread must not die silently
                error(f"{target.__name__} crashed: {exc!r}")
                stop.set()

        return threading.Thread(target=run, daemon=True)

    threads = [guarded(searcher, n) for n in range(clients)] + [guarded(writer), guarded(sampler)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + 180)
        if thread.is_alive():
            error("a client thread did not finish")
    result.duration_s = time.monotonic() - started
    return result


# -- the command --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _semsearch() -> list[str]:
    exe = shutil.which("semsearch", path=str(Path(sys.executable).parent)) or shutil.which("semsearch")
    return [exe] if exe else [sys.executable, "-m", "semsearch.cli"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--clients", type=int, default=16, help="search threads (default 16)")
    parser.add_argument("--index-dir", help="an index to copy (default: the seeds, indexed first)")
    parser.add_argument("--no-write", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import ROOT, publish

    with tempfile.TemporaryDirectory(prefix="semsearch-soak-") as scratch:
        index_dir = Path(scratch) / "index"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
        if args.index_dir:
            shutil.copytree(args.index_dir, index_dir)
        else:
            print("indexing the seeds...", file=sys.stderr)
            subprocess.run([*_semsearch(), "index", str(ROOT / "seeds"), "--index-dir", str(index_dir), "--quiet"], check=True, env=env)
        from semsearch.store.reader import open_index

        snapshot = open_index(index_dir)
        seed_ids = set(snapshot.rows.doc_ids)
        snapshot.close()
        api_key = secrets.token_hex(16)
        port = _free_port()
        env["SEMSEARCH_API_KEY"] = api_key
        log_path = Path(scratch) / "serve.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [*_semsearch(), "serve", "--index-dir", str(index_dir), "--host", "127.0.0.1", "--port", str(port)],
                cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 180
                while True:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print(log_path.read_text()[-3000:], file=sys.stderr)
                        return 1
                    try:
                        if httpx.get(f"{base}/readyz", timeout=5, trust_env=False).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.3)
                print(f"soaking {args.duration:.0f} s with {args.clients} search clients and one writer...", file=sys.stderr)
                result = run_soak(base, server.pid, api_key, args.duration, args.clients, seed_ids)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
        log_text = log_path.read_text(errors="replace")
    if api_key in log_text:
        result.errors.append("the API key appears in the server log")
    if "Traceback" in log_text:
        result.errors.append("a traceback in the server log")
    verdict = "PASS" if not result.errors and result.memory_flat else "FAIL"
    body = result.table() + f"\n\nVerdict: **{verdict}** (zero errors, RSS growth within {RSS_TOLERANCE:.0%} after warm-up)."
    if result.errors:
        body += "\n\nFirst errors:\n\n" + "\n".join(f"- {e}" for e in result.errors[:10])
    publish(f"Soak: {args.clients} search clients and a writer for {args.duration:.0f} s", body, args.no_write)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
