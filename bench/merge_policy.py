"""What the tiered merge policy costs over a long ingest, simulated: MergePolicy.find_merges applied to
commit points of one-article writes, each merge done at once (no files: the policy alone).

    python bench/merge_policy.py [--writes 2000 20000] [--passages 3] [--floors 10 100 1000]

Write amplification: passages written by merges per passage written by the writes (Lucene's measure of
a merge policy); segments: the most and the mean count after each write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _common import markdown_table, publish  # noqa: E402

from semsearch.index.merge_policy import MergePolicy, simulate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--passages", type=int, default=3, help="passages a write adds (one article)")
    parser.add_argument("--floors", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--start", type=int, default=1_000_000, help="passages of the index's one segment at the start")
    parser.add_argument("--title", default="The tiered merge policy over a long ingest (simulated)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of adding it to BENCHMARKS.md")
    args = parser.parse_args()
    rows = []
    for floor in args.floors:
        for writes in args.writes:
            r = simulate(MergePolicy(floor_passages=floor), writes, args.passages, args.start)
            rows.append([floor, f"{writes:,}", f"**{r.amplification:.1f}**", r.most, f"{r.mean:.1f}"])
    body = (
        f"One-article writes of {args.passages} passages each on top of one segment of {args.start:,} passages, "
        f"`MergePolicy(segments_per_tier={MergePolicy.segments_per_tier}, floor_passages=F)`; write amplification = passages "
        "written by merges / passages written by the writes.\n\n"
        + markdown_table(["floor F", "writes", "write amplification", "segments: most", "segments: mean"], rows)
        + "\n"
    )
    publish(args.title, body, args.no_write, part="## Index writes and segments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
