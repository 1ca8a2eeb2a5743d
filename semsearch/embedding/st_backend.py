"""sentence-transformers backend: any local path or installed model, on CPU or GPU.

Optional (`pip install semsearch[st]`). Models are loaded offline: nothing is downloaded at
run time, so a name must resolve to a local folder or an already cached model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import SemsearchError
from .base import Embedder


def _resolve(name: str) -> str:
    """A local folder for `name`: a path, or an installed package that carries the model (gt-*)."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser().resolve())
    package = name.split("/")[-1].lower().replace("_", "-")
    try:
        from importlib import import_module

        module = import_module(("gt-" + package if not package.startswith("gt-") else package).replace("-", "_"))
        folder = Path(module.__file__).parent
        for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
            if (candidate / "config.json").exists() or (candidate / "modules.json").exists():
                return str(candidate)
    except (ImportError, AttributeError, TypeError, OSError):
        pass
    return name


class SentenceTransformerEmbedder(Embedder):
    batch_size = 32

    def __init__(self, name: str, query_prompt: str | None = None, passage_prompt: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise SemsearchError(
                "the sentence-transformers backend is not installed: pip install 'semsearch[st]' "
                "(install torch==2.13.0 first for the CPU build)"
            ) from None
        path = _resolve(name)
        try:
            self._model = SentenceTransformer(path, device=os.environ.get("SEMSEARCH_DEVICE") or None)
        except Exception as exc:  # the library raises many types for a missing model
            raise SemsearchError(f"cannot load sentence-transformers model {name!r} offline: {exc}") from None
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.query_prompt = query_prompt or ""
        self.passage_prompt = passage_prompt or ""
        self.spec = f"sentence-transformers:{name}"
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        texts = [prompt + t for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prompt)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])
