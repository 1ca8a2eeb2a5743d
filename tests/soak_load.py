"""The soak's load: many client threads search a real `semsearch serve` while one writer adds and deletes
documents; every answer is checked (status 200, no result deleted before the search was sent, every
acknowledged add found by the next search of its own token) and the server's RSS and open files sampled.

tests/test_reliability_soak.py runs it for 30 s in the suite; bench/soak.py for as long as asked.
"""

from __future__ import annotations

import os
import random
import statistics
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
    first_add_s: float = 0.0  # when the first add was acknowledged: it loads what writes use (the entity model)

    def percentile(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def memory(self) -> dict:
        """Medians of the first and last thirds of the samples after warm-up (and after the first write,
        which loads what writes use once; on a slow machine it comes after the warm-up)."""
        warm = max(WARMUP_FRACTION * self.duration_s, self.first_add_s)
        after = [s for s in self.samples if s[0] >= warm]
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


def run_soak(
    base_url: str, pid: int, api_key: str, duration_s: float, clients: int, seed_ids: set[str], seed: int = 0,
    min_adds: int = 0, max_extra_s: float = 120,
) -> SoakResult:
    """Search from `clients` threads while one writer adds and deletes; returns what was seen. The load
    goes on past `duration_s` until the writer has made `min_adds` adds (at most `max_extra_s` more), so
    that a slow machine still sees writes during searches instead of a writer that had no time."""
    result = SoakResult(duration_s=duration_s, clients=clients)
    auth = {"Authorization": f"Bearer {api_key}"}
    lock = threading.Lock()
    deleted_acked: dict[str, float] = {}
    added: set[str] = set()
    started = time.monotonic()
    deadline = started + duration_s
    stop = threading.Event()
    writing = threading.Event()  # set while the writer still owes adds past the deadline
    writing.set()

    def going() -> bool:
        return not stop.is_set() and (time.monotonic() < deadline or writing.is_set())

    def error(message: str) -> None:
        with lock:
            if len(result.errors) < 1000:
                result.errors.append(message)

    def searcher(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as client:
            while going():
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
        try:
            write()
        finally:
            writing.clear()

    def owes_writes() -> bool:
        now = time.monotonic()
        return now < deadline - 2 or (result.adds < min_adds and now < deadline + max_extra_s)

    def write() -> None:
        i = 0
        live: list[str] = []
        with httpx.Client(base_url=base_url, timeout=120, trust_env=False) as client:
            while owes_writes() and not stop.is_set():
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
                if result.adds == 1:
                    result.first_add_s = time.monotonic() - started
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
        while going():
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
        thread.join(duration_s + max_extra_s + 180)
        if thread.is_alive():
            error("a client thread did not finish")
    result.duration_s = time.monotonic() - started
    return result
