"""Vector index scale: recall@10, single-query latency, memory and build time of FAISS index types.

Synthetic, clustered 384-dimension unit vectors stand in for passage embeddings (see `make_data`):
a Gaussian mixture of a few thousand centers grouped under topics, anisotropic noise (a decaying
spectrum, randomly rotated) so that neighbourhoods have a low intrinsic dimension, uneven cluster
sizes. Queries are drawn the same way and are not in the base set. Exact search (Flat) is the truth.

Every index is built by `semsearch.store.vectors.build_index` (passage ids as FAISS ids: in the IVF
lists, or an IDMap2 wrapper for other types; IVF trained on a sample, HNSW efConstruction 40) and
searched with `search_parameters`, one query at a time with one FAISS thread, as the service does.

    python bench/vector_scale.py                      # 100k and 1M, ~15 min on 2 cores
    python bench/vector_scale.py --sizes 100000 --queries 300
    python bench/vector_scale.py --append BENCHMARKS.md --plot artifacts/vector_scale.png --json artifacts/vector_scale.json
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from semsearch.store import vectors as V

DIM = 384
ROOT = Path(__file__).resolve().parent.parent


# -- data ----------------------------------------------------------------------------------------


def _normalize(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class Mixture:
    """Topics -> centers -> points: center = normalize(topic + noise of norm center_spread), point =
    normalize(center + noise of norm point_spread). With the defaults a point's cosine to its center is
    ~0.6, and to points of unrelated topics ~0. The noise of points has a decaying spectrum (std ~ i^-1/2
    along principal axis i, randomly rotated), so its effective dimension is ~25, not 384."""

    def __init__(self, dim: int = DIM, topics: int = 64, centers: int = 3000, seed: int = 0,
                 center_spread: float = 1.5, point_spread: float = 1.25) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        topic_vecs = _normalize(rng.standard_normal((topics, dim)).astype(np.float32))
        noise = rng.standard_normal((centers, dim)).astype(np.float32) * (center_spread / math.sqrt(dim))
        self.centers = _normalize(topic_vecs[rng.integers(topics, size=centers)] + noise)
        weights = rng.lognormal(0.0, 1.0, centers)  # uneven cluster sizes (big stories, small ones)
        self.weights = weights / weights.sum()
        spectrum = 1.0 / np.sqrt(np.arange(1, dim + 1))  # std of noise along principal axis i ~ i^-1/2
        self.spectrum = (spectrum * (point_spread / np.sqrt((spectrum**2).sum()))).astype(np.float32)
        self.rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)

    def draw(self, n: int, seed: int, chunk: int = 100_000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            which = rng.choice(len(self.centers), size=m, p=self.weights)
            noise = (rng.standard_normal((m, self.dim)).astype(np.float32) * self.spectrum) @ self.rotation
            out[lo:lo + m] = _normalize(self.centers[which] + noise)
        return out


# -- measuring -----------------------------------------------------------------------------------


def trim() -> None:
    """Collect garbage and give freed heap back to the OS, so that RSS deltas mean something."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem / 1024**2, 1),
        "python": platform.python_version(),
        "faiss": faiss.__version__,
        "numpy": np.__version__,
        "faiss_simd": faiss.get_compile_options().strip(),
    }


def exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    _, ids = index.search(queries, k)
    return ids


def timed_search(index, queries: np.ndarray, k: int, params, max_seconds: float, min_queries: int = 100):
    """One query at a time; stops early (after at least min_queries) when it runs past max_seconds.
    Returns wall-clock and CPU milliseconds of each query (CPU time of this thread, where a one-thread FAISS
    search runs: unlike wall-clock time it hardly moves when other jobs share the cores), and the ids."""
    lat, cpu, found = [], [], np.full((len(queries), k), -1, dtype=np.int64)
    started = time.perf_counter()
    for i, q in enumerate(queries):
        c0, t0 = time.thread_time(), time.perf_counter()
        _, ids = index.search(q[None, :], k, params=params)
        lat.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        found[i] = ids[0]
        if i + 1 >= min_queries and time.perf_counter() - started > max_seconds:
            break
    return np.array(lat) * 1000, np.array(cpu) * 1000, found[:len(lat)]


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def reranked(found: np.ndarray, base: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Candidates re-scored with the exact vectors (what hybrid mode does with the memory-mapped vectors.npy)."""
    out = np.full((len(found), k), -1, dtype=np.int64)
    for i, (cand, q) in enumerate(zip(found, queries)):
        cand = cand[cand >= 0]
        order = np.argsort(-(base[cand] @ q), kind="stable")[:k]
        out[i, :len(order)] = cand[order]
    return out


def file_size(index: faiss.Index, folder: Path, name: str) -> tuple[int, Path]:
    path = folder / name
    faiss.write_index(index, str(path))
    return path.stat().st_size, path


# -- the sweep -----------------------------------------------------------------------------------


def configs(n: int, quick: bool) -> list[tuple[str, str | None, list]]:
    """(factory string, search knob, values); None is the value search_parameters() picks by default."""
    chosen = V.choose_index_type(n)
    nlist = V.ivf_nlist(n)
    out = [
        ("Flat", None, [None]),
        ("HNSW32", "efSearch", [32, 64, 128, 256]),
        ("HNSW32,SQ8", "efSearch", [64, 128, 256]),
        (f"IVF{nlist},SQ8", "nprobe", [8, 16, 32, 64, 128, 256, None]),
        (f"IVF{nlist},PQ48,RFlat", "nprobe", [32, 64, 128, 256]),  # also measured without the refine step
        (f"IVF{2 * nlist},SQ8", "nprobe", [16, 32, 64, 128, 256, 512]),  # the usual 4 * sqrt(n) lists
    ]
    if chosen not in {c[0] for c in out}:
        out.append((chosen, "nprobe" if "IVF" in chosen else "efSearch" if "HNSW" in chosen else None, [None]))
    if quick:
        out = [c for c in out if c[0] in ("Flat", chosen)]
    return out


def run_size(n: int, args, mixture: Mixture, workdir: Path) -> dict:
    print(f"\n=== {n:,} vectors ===", flush=True)
    faiss.omp_set_num_threads(args.build_threads)
    t0 = time.perf_counter()
    base = mixture.draw(n, seed=1000 + n)
    queries = mixture.draw(args.queries, seed=7)
    truth = exact_top(base, queries, 100)
    print(f"data + exact top-100 of {args.queries} queries: {time.perf_counter() - t0:.1f} s", flush=True)
    top1 = np.einsum("ij,ij->i", base[truth[:, 0]], queries)
    top10 = np.einsum("ij,ij->i", base[truth[:, 9]], queries)
    stats = {"cos_top1_median": float(np.median(top1)), "cos_top10_median": float(np.median(top10))}
    vids = np.arange(n, dtype=np.int64)
    chosen = V.choose_index_type(n)
    keep = {"Flat", chosen, "HNSW32"} if args.startup and n == max(args.sizes) else set()
    if args.filters:
        keep.add(chosen)
    saved: dict[str, Path] = {}
    kmeans: dict[int, tuple[np.ndarray, float, float]] = {}  # nlist -> centroids, seconds, CPU seconds: shared
    rows = []
    for spec, knob, values in configs(n, args.quick):
        trim()
        faiss.omp_set_num_threads(args.build_threads)
        rss0 = rss_mib()
        extra_s, extra_cpu_s, centroids = 0.0, 0.0, None
        if spec.startswith("IVF"):
            nlist = int(spec[3:].split(",")[0])
            if nlist not in kmeans:
                c0, t0 = time.process_time(), time.perf_counter()
                c = V.train_centroids(base, nlist)
                kmeans[nlist] = (c, time.perf_counter() - t0, time.process_time() - c0)
                print(f"k-means, {nlist} lists: {kmeans[nlist][1]:.1f} s ({kmeans[nlist][2]:.1f} s CPU)", flush=True)
            centroids, extra_s, extra_cpu_s = kmeans[nlist]
        c0, t0 = time.process_time(), time.perf_counter()
        index = V.build_index(base, vids, spec, centroids=centroids)
        build_s = time.perf_counter() - t0 + extra_s
        build_cpu_s = time.process_time() - c0 + extra_cpu_s
        trim()
        rss_delta = rss_mib() - rss0
        size, path = file_size(index, workdir, f"{spec}.faiss")
        if spec in keep:
            saved[spec] = path
        else:
            path.unlink()
        print(f"{spec}: built in {build_s:.1f} s, {build_cpu_s:.1f} s CPU (k-means {extra_s:.1f} s), {size / 2**20:.0f} MiB serialized, "
              f"RSS +{rss_delta:.0f} MiB", flush=True)
        variants = [(spec, index, size)]
        inner = V._inner(index)
        if isinstance(inner, faiss.IndexRefine):  # the same PQ codes without the refine step (ids are rows here)
            pq = faiss.downcast_index(inner.base_index)
            pq_size, pq_path = file_size(pq, workdir, "pq.faiss")
            pq_path.unlink()
            variants.append((spec.rsplit(",", 1)[0], pq, pq_size))
        faiss.omp_set_num_threads(args.search_threads)
        for name, idx, nbytes in variants:
            for value in values:
                kw = {"nprobe": value} if knob == "nprobe" else {"ef_search": value} if knob == "efSearch" else {}
                params = V.search_parameters(idx, **kw)
                label = ""
                if knob:
                    codes = V._base(idx)
                    default = codes.nprobe if knob == "nprobe" else faiss.downcast_index(codes).hnsw.efSearch
                    label = f"{knob}={value}" if value is not None else f"{knob}={default} (default)"
                budget = args.seconds_per_point
                lat10, cpu10, found10 = timed_search(idx, queries, 10, params, budget)
                lat100, _, found100 = timed_search(idx, queries, 100, params, budget)
                m = len(found100)
                row = {
                    "n": n, "index": name, "param": label,
                    "recall10": recall_at(found10, truth[:len(found10)]),
                    "recall10_rerank100": recall_at(reranked(found100, base, queries[:m]), truth[:m]),
                    "p50_ms": float(np.percentile(lat10, 50)), "p95_ms": float(np.percentile(lat10, 95)),
                    "p50_k100_ms": float(np.percentile(lat100, 50)),
                    "cpu_p50_ms": float(np.percentile(cpu10, 50)), "cpu_p95_ms": float(np.percentile(cpu10, 95)),
                    "queries": len(found10), "index_mib": nbytes / 2**20,
                    "rss_delta_mib": rss_delta if idx is index else float("nan"),
                    "build_s": build_s, "kmeans_s": extra_s, "build_cpu_s": build_cpu_s,
                }
                rows.append(row)
                print(fmt_row(row), flush=True)
        del variants, inner, index
        gc.collect()
    result = {"n": n, "rows": rows, "data": stats}
    if args.filters:
        result["filters"] = filtered(n, base, queries, args, chosen, saved[chosen])
    if keep and args.startup and n == max(args.sizes):
        result["startup"] = startup(saved, args, workdir, queries)
    for path in saved.values():
        path.unlink()
    del base
    gc.collect()
    return result


def filtered(n: int, base: np.ndarray, queries: np.ndarray, args, chosen: str, path: Path) -> list[dict]:
    """The automatic index type under filters (random allowed subsets, like a date range): recall@10 against
    exact search over the allowed vectors, latency including building the selector, as the searcher does."""
    index = faiss.read_index(str(path))
    rng = np.random.default_rng(3)
    nq = min(len(queries), 200)
    out = []
    for fraction in (0.5, 0.1, 0.01, 0.001):
        allowed = np.sort(rng.choice(n, max(1, int(n * fraction)), replace=False))
        faiss.omp_set_num_threads(args.build_threads)
        truth = allowed[exact_top(np.ascontiguousarray(base[allowed]), queries[:nq], 10)]
        faiss.omp_set_num_threads(args.search_threads)
        lat, cpu, found = [], [], []
        for q in queries[:nq]:
            c0, t0 = time.thread_time(), time.perf_counter()
            params = V.search_parameters(index, allowed)
            _, ids = index.search(q[None, :], 100, params=params)
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            found.append(ids[0])
        found = np.array(found)
        row = {
            "n": n, "index": chosen, "allowed_fraction": fraction, "allowed": len(allowed),
            "recall10": recall_at(found, truth), "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)), "cpu_p50_ms": float(np.percentile(cpu, 50)),
            "short_results": int(np.sum((found >= 0).sum(axis=1) < min(100, len(allowed)))),
            "all_allowed": bool(np.isin(found[found >= 0], allowed).all()),
        }
        out.append(row)
        print(f"filter {fraction:>6}: recall@10 {row['recall10']:.3f}  p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms"
              f"  CPU p50 {row['cpu_p50_ms']:.2f} ms"
              f"  short {row['short_results']}  only-allowed {row['all_allowed']}", flush=True)
    del index
    gc.collect()
    return out


STARTUP_CHILD = r"""
import json, sys, time, faiss, numpy as np
path, flag, qpath = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rss():
    return next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:"))
faiss.omp_set_num_threads(1)
from semsearch.store import vectors as V
q = np.load(qpath)
r0 = rss(); c0 = time.process_time(); t0 = time.perf_counter()
index = faiss.read_index(path, flag)
load_s = time.perf_counter() - t0; load_cpu_s = time.process_time() - c0; r1 = rss()
params = V.search_parameters(index)
t0 = time.perf_counter(); index.search(q[:1], 10, params=params); first_ms = (time.perf_counter() - t0) * 1000
lat = []
for x in q[1:]:
    t0 = time.perf_counter(); index.search(x[None, :], 10, params=params); lat.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"load_s": load_s, "load_cpu_s": load_cpu_s, "rss_after_load_mib": r1 - r0, "first_query_ms": first_ms,
                  "p50_ms": float(np.median(lat)), "rss_after_queries_mib": rss() - r0}))
"""


def startup(saved: dict[str, Path], args, workdir: Path, queries: np.ndarray) -> list[dict]:
    """Time to open a snapshot-like index file (as build_index makes it), with and without memory mapping, in a fresh
    process. The file was just written, so it is in the page cache: these are warm-cache figures."""
    qpath = workdir / "q.npy"
    np.save(qpath, queries[:101])
    out = []
    for spec, path in saved.items():
        size = path.stat().st_size
        for label, flag in (("read_index", 0), ("IO_FLAG_MMAP", faiss.IO_FLAG_MMAP), ("IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP_IFC)):
            proc = subprocess.run([sys.executable, "-c", STARTUP_CHILD, str(path), str(flag), str(qpath)],
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                row = {"index": spec, "mode": label, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
            else:
                row = {"index": spec, "mode": label, "file_mib": size / 2**20, **json.loads(proc.stdout)}
            out.append(row)
            print("startup", row, flush=True)
    qpath.unlink()
    return out


# -- reporting -----------------------------------------------------------------------------------

HEADER = ("| n | index | search param | recall@10 | recall@10, top-100 re-ranked | CPU p50 ms | CPU p95 ms | p50 ms "
          "| p95 ms | p50 ms k=100 | index MiB | RSS delta MiB | build s | build CPU s | queries |")
RULE = "|" + "---|" * 15


def fmt_row(r: dict) -> str:
    rss = "" if math.isnan(r["rss_delta_mib"]) else f"{r['rss_delta_mib']:.0f}"
    return (f"| {r['n']:,} | {r['index']} | {r['param']} | {r['recall10']:.3f} | {r['recall10_rerank100']:.3f} "
            f"| {r['cpu_p50_ms']:.2f} | {r['cpu_p95_ms']:.2f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p50_k100_ms']:.2f} "
            f"| {r['index_mib']:.0f} | {rss} | {r['build_s']:.1f} | {r['build_cpu_s']:.1f} | {r['queries']} |")


def markdown(results: list[dict], meta: dict, plot: Path | None) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']['nproc']} cores ({meta['machine']['cpu']}), "
        f"{meta['machine']['ram_gib']} GiB RAM; faiss {meta['machine']['faiss']} ({meta['machine']['faiss_simd']}), "
        f"numpy {meta['machine']['numpy']}, Python {meta['machine']['python']}. Total {meta['seconds'] / 60:.1f} min, "
        f"peak RSS {meta['peak_rss_mib'] / 1024:.1f} GiB. Load average (1 min) {meta['loadavg_start'][0]:.1f} at the start, "
        f"{meta['loadavg_end'][0]:.1f} at the end: the machine is shared, so timings are noisy.",
        "",
        "```bash",
        meta["command"],
        "```",
        "",
        HEADER,
        RULE,
    ]
    lines += [fmt_row(r) for res in results for r in res["rows"]]
    lines.append("")
    for res in results:
        d = res["data"]
        lines.append(f"- {res['n']:,} vectors: median cosine of a query to its 1st / 10th exact neighbour "
                     f"{d['cos_top1_median']:.3f} / {d['cos_top10_median']:.3f}.")
    filt = [f for res in results for f in res.get("filters", [])]
    if filt:
        lines += ["", "Filtered search with the automatic index type (random allowed subset, k=100 as the searcher asks, "
                  "selector built per query):", "",
                  "| n | index | allowed | recall@10 | CPU p50 ms | p50 ms | p95 ms | queries with < 100 results | only allowed ids |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {f['n']:,} | {f['index']} | {f['allowed']:,} ({f['allowed_fraction']:.1%}) | {f['recall10']:.3f} "
                  f"| {f['cpu_p50_ms']:.2f} | {f['p50_ms']:.2f} | {f['p95_ms']:.2f} | {f['short_results']} | {f['all_allowed']} |"
                  for f in filt]
    start = [s for res in results for s in res.get("startup", [])]
    if start:
        lines += ["", "Opening the index file (as build_index writes it) in a fresh process, warm page cache:", "",
                  "| index | read mode | file MiB | load s | load CPU s | RSS after load MiB | first query ms "
                  "| p50 ms (100 queries) | RSS after queries MiB |", "|---|---|---|---|---|---|---|---|---|"]
        for s in start:
            if "error" in s:
                lines.append(f"| {s['index']} | {s['mode']} | | error: {s['error']} | | | | | |")
            else:
                lines.append(f"| {s['index']} | {s['mode']} | {s['file_mib']:.0f} | {s['load_s']:.2f} | {s['load_cpu_s']:.2f} "
                             f"| {s['rss_after_load_mib']:.0f} | {s['first_query_ms']:.1f} | {s['p50_ms']:.2f} "
                             f"| {s['rss_after_queries_mib']:.0f} |")
    if plot is not None:
        lines += ["", f"![recall@10 against p50 latency]({os.path.relpath(plot, ROOT)})"]
    return "\n".join(lines) + "\n"


def draw(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 5), squeeze=False)
    for ax, res in zip(axes[0], results):
        families: dict[str, list[dict]] = {}
        for r in res["rows"]:
            families.setdefault(r["index"], []).append(r)
        for name, rs in families.items():
            rs = sorted(rs, key=lambda r: r["cpu_p50_ms"])
            xs, ys = [r["cpu_p50_ms"] for r in rs], [r["recall10"] for r in rs]
            ax.plot(xs, ys, marker="o", label=f"{name} ({rs[0]['index_mib']:.0f} MiB)")
            for r in rs:
                if r["param"]:
                    ax.annotate(r["param"].split("=")[1].replace(" (default)", "*"), (r["cpu_p50_ms"], r["recall10"]), fontsize=7,
                                xytext=(3, -8), textcoords="offset points")
        ax.axhline(0.95, color="grey", lw=0.8, ls="--")
        ax.axvline(20, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("p50 CPU time of one query, 1 thread (ms, log); * = default nprobe")
        ax.set_ylabel("recall@10 vs exact")
        ax.set_title(f"{res['n']:,} clustered 384-d vectors")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--centers", type=int, default=3000)
    ap.add_argument("--center-spread", type=float, default=1.5, help="noise norm of centers around their topic")
    ap.add_argument("--point-spread", type=float, default=1.25, help="noise norm of points around their center")
    ap.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--search-threads", type=int, default=1, help="FAISS threads while timing single queries")
    ap.add_argument("--seconds-per-point", type=float, default=20.0, help="stop a latency pass after this (>=100 queries)")
    ap.add_argument("--quick", action="store_true", help="only Flat and IVF,SQ8")
    ap.add_argument("--no-filters", dest="filters", action="store_false")
    ap.add_argument("--no-startup", dest="startup", action="store_false")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--append", type=Path, help="append the tables to this markdown file")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    meta = {"date": dt.datetime.now().astimezone().isoformat(timespec="minutes"), "machine": machine(),
            "loadavg_start": os.getloadavg(),
            "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *(argv or sys.argv[1:])])}
    print(meta, flush=True)
    mixture = Mixture(centers=args.centers, center_spread=args.center_spread, point_spread=args.point_spread)
    results = []
    with tempfile.TemporaryDirectory(prefix="vector-scale-") as tmp:
        for n in sorted(args.sizes):
            results.append(run_size(n, args, mixture, Path(tmp)))
    meta["seconds"] = time.perf_counter() - started
    meta["loadavg_end"] = os.getloadavg()
    meta["peak_rss_mib"] = peak_rss_mib()
    if args.plot:
        draw(results, args.plot)
    text = markdown(results, meta, args.plot)
    print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    if args.append:
        with open(args.append, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
