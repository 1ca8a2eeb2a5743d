"""The tiered merge policy (Lucene's TieredMergePolicy, simplified): which segments to merge, and when.

Segments fall into tiers by their live size (a tier is `segments_per_tier` times larger than the one
below, the lowest holds everything under `floor_passages`); when a tier holds `segments_per_tier`
segments, its smallest ones are merged into one, which belongs to a higher tier. A segment whose
tombstones reach `max_deleted_ratio` is rewritten to purge them. The number of segments stays about
segments_per_tier x log(collection size). Files are not its business: `merge.Merger` does the merges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..store.commit import SegmentEntry


@dataclass
class MergePolicy:
    segments_per_tier: int = 10
    # Tier 0 holds everything under segments_per_tier x floor, and a merged segment there is merged again with
    # the next writes' segments until it outgrows it: a low floor keeps one-article writes from rewriting a
    # large merged segment again and again (write amplification against segment count: bench/merge_policy.py).
    floor_passages: int = 10
    max_deleted_ratio: float = 0.3

    def tier(self, live: int) -> int:
        return int(math.log(max(live, self.floor_passages) / self.floor_passages, self.segments_per_tier) + 1e-9)

    def find_merges(self, segments: Sequence[SegmentEntry]) -> list[list[str]]:
        """Groups of segment names to merge, each into one segment (disjoint groups)."""
        tiers: dict[int, list[SegmentEntry]] = {}
        for entry in sorted(segments, key=lambda e: (e.live, e.name)):
            tiers.setdefault(self.tier(entry.live), []).append(entry)
        merges: list[list[str]] = []
        for _, members in sorted(tiers.items()):
            if len(members) >= self.segments_per_tier:
                merges.append([e.name for e in members[: self.segments_per_tier]])
        taken = {name for group in merges for name in group}
        for entry in segments:
            if entry.name not in taken and entry.passages and entry.deleted / entry.passages >= self.max_deleted_ratio:
                merges.append([entry.name])
        return merges

    @staticmethod
    def force(segments: Sequence[SegmentEntry], max_segments: int = 1) -> list[list[str]]:
        """Everything into at most `max_segments` segments (the smallest merged first), tombstones purged."""
        entries = sorted(segments, key=lambda e: (e.live, e.name))
        if len(entries) > max_segments:
            return [[e.name for e in entries[: len(entries) - max_segments + 1]]]
        return [[e.name] for e in entries if e.deleted]



@dataclass
class Simulation:
    """What the policy costs over a run of writes (no files: the policy alone)."""

    amplification: float  # passages written by merges per passage written by the writes (Lucene's measure)
    most: int  # the most segments after a write
    mean: float  # segments after a write, on average


def simulate(policy: MergePolicy, writes: int, passages: int, start: int = 0) -> Simulation:
    """One segment of `passages` per write on top of one of `start` (0: none); merges done at once, as the
    policy asks for them."""
    segments = [SegmentEntry("base", start, start)] if start else []
    merged = counts = most = 0
    for i in range(writes):
        segments.append(SegmentEntry(f"w{i}", passages, 1))
        while groups := policy.find_merges(segments):
            for n, group in enumerate(groups):
                members = [s for s in segments if s.name in group]
                size = sum(s.live for s in members)
                merged += size
                segments = [s for s in segments if s.name not in group] + [SegmentEntry(f"m{i}-{n}-{len(segments)}", size, size)]
        counts += len(segments)
        most = max(most, len(segments))
    return Simulation(merged / (writes * passages), most, counts / writes)
