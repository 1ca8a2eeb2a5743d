"""Incremental story clustering, as news aggregators group articles while they arrive.

An article is its passages' mean vector (normalized). It joins the story whose centroid (the normalized
sum of its articles' vectors) is closest, when that cosine is at least `join_floor`; else it starts a
story. When the story it joined has come within `merge_floor` of another story's centroid, the two merge
(the smaller into the larger; the merged story's id points to the one that absorbed it). Both floors are
measured on data (bench/stories.py, BENCHMARKS.md "Stories"): on a shuffled PIAF slice, 0.89 / 0.92 keeps
two paragraphs of one Wikipedia article in one story 150 times as often as two of different articles (30%
against 0.2%; purity 0.98): a story mixes nothing, at the price of splitting some (completeness 0.49).
Lower floors mix fast (0.88: purity 0.80). Floors belong to the default model (multilingual-e5-small).

Cost: one product with the live story centroids per article (numpy, exact). A store holds the centroids
as sums, so adding an article is an addition and a replaced version is a subtraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StoryConfig:
    join_floor: float = 0.89  # BENCHMARKS.md "Stories": purity 0.98 on a shuffled PIAF slice
    merge_floor: float = 0.92


@dataclass
class Story:
    id: int
    total: np.ndarray  # sum of the member vectors
    size: int
    merged_into: int | None = None
    touched: bool = False


@dataclass
class StoryClusterer:
    """The live stories in memory while a batch of articles is placed; the store loads and saves it."""

    config: StoryConfig = field(default_factory=StoryConfig)
    stories: dict[int, Story] = field(default_factory=dict)
    next_id: int = 1
    merges: list[tuple[int, int]] = field(default_factory=list)  # (absorbed, into)

    def _live(self) -> tuple[list[int], np.ndarray | None]:
        ids = [s.id for s in self.stories.values() if s.merged_into is None and s.size > 0]
        if not ids:
            return ids, None
        matrix = np.stack([self.stories[i].total for i in ids]).astype(np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return ids, matrix

    def remove(self, story_id: int, vector: np.ndarray) -> None:
        """A member leaves (its document was replaced by a new version)."""
        story = self.stories.get(self.resolve(story_id))
        if story is not None:
            story.total = story.total - vector
            story.size = max(0, story.size - 1)
            story.touched = True

    def resolve(self, story_id: int) -> int:
        seen = set()
        while story_id in self.stories and self.stories[story_id].merged_into is not None and story_id not in seen:
            seen.add(story_id)
            story_id = self.stories[story_id].merged_into  # type: ignore[assignment]
        return story_id

    def place(self, vector: np.ndarray) -> int:
        """The story of a new article (its id after any merge this placement caused)."""
        vector = np.asarray(vector, np.float32)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        ids, matrix = self._live()
        chosen = None
        if matrix is not None:
            scores = matrix @ vector
            best = int(np.argmax(scores))
            if scores[best] >= self.config.join_floor:
                chosen = ids[best]
        if chosen is None:
            chosen = self.next_id
            self.next_id += 1
            self.stories[chosen] = Story(chosen, np.zeros_like(vector), 0)
        story = self.stories[chosen]
        story.total = story.total + vector
        story.size += 1
        story.touched = True
        return self._merge_from(chosen)

    def _merge_from(self, story_id: int) -> int:
        while True:
            ids, matrix = self._live()
            if matrix is None or len(ids) < 2:
                return story_id
            here = ids.index(story_id)
            scores = matrix @ matrix[here]
            scores[here] = -1.0
            other = int(np.argmax(scores))
            if scores[other] < self.config.merge_floor:
                return story_id
            a, b = self.stories[story_id], self.stories[ids[other]]
            keep, gone = (a, b) if (a.size, -a.id) >= (b.size, -b.id) else (b, a)
            keep.total = keep.total + gone.total
            keep.size += gone.size
            gone.merged_into, gone.size, gone.total = keep.id, 0, np.zeros_like(gone.total)
            keep.touched = gone.touched = True
            self.merges.append((gone.id, keep.id))
            story_id = keep.id
