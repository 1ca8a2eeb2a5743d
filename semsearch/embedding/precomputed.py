"""An Embedder that serves passage vectors computed elsewhere (on a cluster), by text.

`IndexWriter` embeds through the `Embedder` interface; handing it this wrapper, filled with the
vectors a cluster computed for exactly the texts it will ask for, makes the writer produce the
same index as a single-machine run without computing anything. Token counts (chunking) and
queries go to the real model it wraps; a passage text it was not given is embedded by the real
model too, counted in `fallbacks` and logged, so a gap costs time, never a wrong vector.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from .base import Embedder

log = logging.getLogger(__name__)


class PrecomputedEmbedder(Embedder):
    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.spec = model.spec
        self.dim = model.dim
        self.max_tokens = model.max_tokens
        self._vectors: dict[str, np.ndarray] = {}
        self.fallbacks = 0  # passage texts the real model had to embed here

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if len(texts) != len(vectors) or (len(vectors) and vectors.shape[1] != self.dim):
            raise ValueError(f"{len(texts)} texts for vectors of shape {vectors.shape} (model {self.spec}, {self.dim} dims)")
        self._vectors.update(zip(texts, np.asarray(vectors, dtype=np.float32)))

    def clear(self) -> None:
        """Drop the vectors served so far (once they are written), bounding memory to one batch."""
        self._vectors.clear()

    def __len__(self) -> int:
        return len(self._vectors)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing = []
        for i, text in enumerate(texts):
            vector = self._vectors.get(text)
            if vector is None:
                missing.append(i)
            else:
                out[i] = vector
        if missing:
            self.fallbacks += len(missing)
            log.warning("%d passage text(s) had no precomputed vector: embedded here with %s", len(missing), self.spec)
            out[missing] = self.model.embed_passages([texts[i] for i in missing])
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.embed_queries(texts)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)
