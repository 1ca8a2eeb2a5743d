"""Grouping passages that report the same fact in different articles.

A group is founded on strong evidence only: answering sentences with nearly the same meaning
(cosine >= `alone`), or very close (>= `with_number`) and sharing two salient numbers. Once two
articles agree on a number, that number is an established fact of the group, and a later
passage joins on weaker similarity (>= `corroborating`) if its answering sentence repeats it.
Paragraphs of one encyclopedia article often share a number and a topic, which is why a number
alone with a loose similarity never founds a group. Documents under one headline are parts or
copies of one article, not other outlets: they join only on a near-verbatim sentence
(`same_headline`). That rule matters because sentence vectors are embedded under their headline
(better ranking), which brings the sentences of one article closer together (up to 0.97 on PIAF,
where other outlets' reports of one fact in the seeds sit at 0.88-0.95). Thresholds are measured
in BENCHMARKS.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CollapseConfig:
    alone: float = 0.96
    with_number: float = 0.93
    corroborating: float = 0.86
    shared_numbers: int = 2  # numbers two sentences must share to found a group below `alone`
    same_headline: float = 0.99  # documents under one headline: a copy of the sentence, nothing less


@dataclass
class Group:
    leader: int  # position in the ranking
    doc: int
    headline: int  # the leader's headline number, -1 when untitled
    vectors: list[np.ndarray]
    positions: list[int]  # the leader's, then its duplicates'
    members: list[int] = field(default_factory=list)  # positions of the duplicates
    reach: np.ndarray | None = None  # with precomputed vectors: best similarity of every position to a member

    def facts(self, numbers_of: Callable[[int], set[str]]) -> set[str]:
        """Numbers reported by at least two members of the group."""
        counts = Counter(n for pos in self.positions for n in numbers_of(pos))
        return {n for n, c in counts.items() if c >= 2}


class Collapser:
    def __init__(self, config: CollapseConfig, numbers_of: Callable[[int], set[str]], vectors: np.ndarray | None = None) -> None:
        """`vectors`, when given, holds the answering-sentence vector of every ranking position (row =
        position): each group member's similarity to all positions is then one matrix-vector product,
        and a position no group comes close to is passed over without a comparison.
        `numbers_of` is only called for passages a group comes close to (it reads the passage text)."""
        self.config = config
        self.numbers_of = numbers_of  # position -> salient numbers of its answering sentence(s)
        self.groups: list[Group] = []
        self.vectors = vectors
        self._reach: np.ndarray | None = None  # best similarity of every position to any group member

    def _track(self, group: Group, vector: np.ndarray) -> None:
        if self.vectors is None:
            return
        similarities = self.vectors @ vector
        group.reach = similarities if group.reach is None else np.maximum(group.reach, similarities)
        self._reach = similarities if self._reach is None else np.maximum(self._reach, similarities)

    def add_leader(self, pos: int, doc: int, vector: np.ndarray, headline: int = -1) -> None:
        group = Group(pos, doc, headline, [vector], [pos])
        self.groups.append(group)
        self._track(group, vector)

    def place(self, pos: int, doc: int, vector: np.ndarray, headline: int = -1) -> Group | None:
        """The group this passage duplicates (it is then recorded there), or None."""
        cfg = self.config
        best: list[tuple[float, Group]] = []
        if self.vectors is not None:
            if self._reach is None or self._reach[pos] < cfg.corroborating:
                return None
            best = [(float(g.reach[pos]), g) for g in self.groups if g.doc != doc and g.reach[pos] >= cfg.corroborating]
        else:
            for group in self.groups:
                if group.doc != doc:
                    similarity = float(max(v @ vector for v in group.vectors))
                    if similarity >= cfg.corroborating:
                        best.append((similarity, group))
        for similarity, group in sorted(best, key=lambda item: -item[0]):
            if headline >= 0 and group.headline == headline:
                if similarity >= cfg.same_headline:
                    return self._join(group, pos, vector)
                continue
            if similarity >= cfg.alone:
                return self._join(group, pos, vector)
            numbers = self.numbers_of(pos)
            if not numbers:
                continue
            if similarity >= cfg.with_number and any(
                len(numbers & self.numbers_of(seen)) >= cfg.shared_numbers for seen in group.positions
            ):
                return self._join(group, pos, vector)
            if numbers & group.facts(self.numbers_of):
                return self._join(group, pos, vector)
        return None

    def _join(self, group: Group, pos: int, vector: np.ndarray) -> Group:
        group.members.append(pos)
        group.vectors.append(vector)
        group.positions.append(pos)
        self._track(group, vector)
        return group
