"""Memory and time of a force-merge, as `semsearch optimize` runs it on a copy of an index.

    python bench/merge_memory.py --index-dir data/bench/segments-1m/grown

The index is copied into --work-dir (never written itself), then `semsearch optimize` runs on the copy in
its own process while this one samples /proc/PID/status every --every seconds: peak anonymous memory
(the process's own arrays: what a merge holds), peak resident file pages (memory-mapped segment files,
which the kernel can drop and reread), and the wall time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _common import markdown_table, publish  # noqa: E402
from _perf import load_text  # noqa: E402


def memory(pid: int) -> tuple[float, float]:
    """RssAnon and RssFile of a process, MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("RssAnon", 0.0), values.get("RssFile", 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", required=True, help="the index to copy (never written)")
    parser.add_argument("--work-dir", default=str(ROOT / "data" / "bench" / "merge-memory"))
    parser.add_argument("--every", type=float, default=0.2)
    parser.add_argument("--semsearch", default=str(Path(sys.executable).parent / "semsearch"))
    parser.add_argument("--title", default="Memory of a force-merge (semsearch optimize)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of adding it to BENCHMARKS.md")
    args = parser.parse_args()
    source, work = Path(args.index_dir).resolve(), Path(args.work_dir).resolve() / "index"
    shutil.rmtree(work.parent, ignore_errors=True)
    shutil.copytree(source, work, ignore=shutil.ignore_patterns(".tmp-*", ".lock"))
    load_start = load_text()
    started = time.perf_counter()
    child = subprocess.Popen([args.semsearch, "optimize", "--index-dir", str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    anon = files = 0.0
    while child.poll() is None:
        try:
            a, f = memory(child.pid)
        except (OSError, ValueError):  # exiting
            break
        anon, files = max(anon, a), max(files, f)
        time.sleep(args.every)
    output = child.communicate()[0]
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        print(output, file=sys.stderr)
        return 1
    rows = [[f"`{source.relative_to(ROOT) if source.is_relative_to(ROOT) else source}`", f"{seconds:.0f}", f"**{anon:,.0f}**", f"{files:,.0f}"]]
    body = (
        f"`semsearch optimize` on a copy of the index, sampled every {args.every:g} s; load average {load_start} -> {load_text()}.\n\n"
        + markdown_table(["index", "wall s", "peak anonymous MiB", "peak resident file pages MiB"], rows)
        + "\n\n```\n" + output.strip()[-600:] + "\n```\n"
    )
    publish(args.title, body, args.no_write, part="## Index writes and segments")
    shutil.rmtree(work.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
