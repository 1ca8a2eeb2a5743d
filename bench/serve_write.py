"""A one-article write through a serving process, against collection size: what a write over HTTP costs
the server beyond IndexWriter (bench/write_cost.py measures the writer alone).

    python bench/serve_write.py --index-dir data/bench/synthetic-10k data/bench/synthetic-100k data/bench/synthetic-1m

For each index, the service's state (`ServiceState`, as `semsearch serve` holds it, with the real default
model; no background merges) loads the index, then `--writes` times adds one article (about 4 passages)
and deletes it again, each through `ServiceState.write`: IndexWriter's commit, the reader of the new
commit (reusing the open segments and their live rows), and the warm-up search before it is served.
CPU time of the process per write, split into the writer (its embedding apart), the reopen and the
warm-up; medians over the writes. The index ends as it began, a few segments and tombstones later.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _common import markdown_table, publish  # noqa: E402
from _perf import load_text  # noqa: E402
from write_cost import ARTICLE  # noqa: E402

from semsearch.documents import Document  # noqa: E402
from semsearch.service import state as state_module  # noqa: E402
from semsearch.service.metrics import Metrics  # noqa: E402
from semsearch.settings import Settings  # noqa: E402


class Clock:
    """CPU seconds spent inside wrapped calls, per name, since the last reset."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.process_time() - started

        return timed


def measure(index_dir: Path, writes: int) -> dict:
    clock = Clock()
    service = state_module.ServiceState(Settings(index_dir=index_dir), Metrics())
    started = time.perf_counter()
    service.bootstrap()
    if service.phase.name != "ready":
        raise SystemExit(f"{index_dir}: {service.phase.message}")
    load_s = time.perf_counter() - started
    embedder = service.embedder
    embedder.embed_passages = clock.wrap("embed", embedder.embed_passages)
    service._open_generation = clock.wrap("reopen", service._open_generation)
    state_module.warm_up = clock.wrap("warm_up", state_module.warm_up)
    rows: list[dict] = []
    for i in range(writes):
        for delete in (False, True):
            clock.spent.clear()
            doc_id = f"bench/serve-write-{i}.txt"
            cpu, wall = time.process_time(), time.perf_counter()
            if delete:
                service.write(delete_ids=[doc_id])
            else:
                service.write([Document(doc_id, ARTICLE.format(city=f"Ville{i}", n=10 + i), title=f"Budget {i}", lang="fr")])
            rows.append(
                {
                    "kind": "delete" if delete else "add",
                    "cpu": time.process_time() - cpu,
                    "wall": time.perf_counter() - wall,
                    **clock.spent,
                }
            )
    reader = service.searcher.reader
    return {"index": str(index_dir), "passages": reader.size, "segments": len(reader.segments), "load_s": load_s, "rows": rows}


def _median(rows: list[dict], kind: str, key: str) -> float:
    return statistics.median(r.get(key, 0.0) for r in rows if r["kind"] == kind)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", nargs="+", required=True)
    parser.add_argument("--writes", type=int, default=5)
    parser.add_argument("--title", default="A one-article write through the serving process, against collection size")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of appending it to BENCHMARKS.md")
    args = parser.parse_args()
    load_start = load_text()
    results = [measure(Path(d), args.writes) for d in args.index_dir]
    load_end = load_text()
    table = []
    for r in results:
        rows = r["rows"]
        beyond = [x["cpu"] - x.get("embed", 0.0) for x in rows if x["kind"] == "add"]
        table.append(
            [
                f"{r['passages']:,}",
                r["segments"],
                f"{_median(rows, 'add', 'cpu'):.3f}",
                f"{_median(rows, 'add', 'embed'):.3f}",
                f"**{statistics.median(beyond):.3f}**",
                f"{_median(rows, 'add', 'reopen'):.3f}",
                f"{_median(rows, 'add', 'warm_up'):.3f}",
                f"{_median(rows, 'delete', 'cpu'):.3f}",
                f"{_median(rows, 'add', 'wall'):.2f}",
            ]
        )
    body = (
        f"Command: `python bench/serve_write.py --index-dir {' '.join(args.index_dir)} --writes {args.writes}`\n\n"
        "`ServiceState.write` (what POST /documents and DELETE /documents/{id} call) on the index as `semsearch serve` "
        "holds it, default model, no background merges; CPU seconds of the process, medians of "
        f"{args.writes} adds and {args.writes} deletes of one article (about 4 passages). Load average {load_start} -> {load_end}.\n\n"
        + markdown_table(
            [
                "passages", "segments", "add: CPU s", "its embedding", "add beyond embedding", "reopen (new reader)",
                "warm-up search", "delete: CPU s", "add: wall s",
            ],
            table,
        )
        + "\n"
    )
    publish(args.title, body, args.no_write, part="## Index writes and segments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
