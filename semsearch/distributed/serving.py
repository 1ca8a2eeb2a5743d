"""`semsearch serve --ray ADDRESS --shards N [--replicas M]`: the sharded service as a Ray Serve application.

- `Shard` (N deployments, `shard-0`... each with M replicas): a `ShardIndex` over its part of the
  segments of each commit (search/shard.py).
- `Ingress` (one replica, Serve's HTTP entry): the FastAPI app of `semsearch serve` (same routes, same
  page) over a `ShardedServiceState` (service/sharded_state.py) whose shards are the deployment handles.
  It embeds each query once, fans out, merges and runs the single-process Searcher on the candidates;
  it is also the one writer (IndexWriter on the shared index folder) and runs the merges.

Only the plumbing is here: what is searched and how lives in semsearch/service, tested without Ray.
Every node must see the index folder at the same path (one machine, or a shared file system).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.exceptions import RayError
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from ..errors import SemsearchError
from ..search.shard import Candidates, ShardIndex, ShardQuery, ShardSummary
from ..service.app import create_app
from ..service.sharded_state import ShardedServiceState
from ..settings import Settings
from ..store.database import DocumentRow, PassageRow
from ..store.lexical import LexicalStats
from .cluster import ClusterInfo, connect, disconnect

APP_NAME = "semsearch"
START_TIMEOUT_S = 300.0  # replicas placed and constructed (the model loads after, /readyz tells)
PLACEMENT_TIMEOUT_S = 60.0  # a replica Ray cannot place this long: the layout does not fit, say so and stop
SHARD_CALL_TIMEOUT_S = 120.0  # a shard's first call of a commit opens its segments
# CPUs reserved per replica. Halves pack on any node with whole CPUs: a small cluster (two 1-CPU nodes) places
# the ingress and two shards however Ray spreads them. On real nodes give the ingress a whole CPU or more
# (the query model's threads) and a shard what its share of the index costs (README, "Sizing").
INGRESS_CPUS = 0.5
SHARD_CPUS = 0.5


@dataclass(frozen=True)
class ServeOptions:
    address: str = "auto"
    shards: int = 1
    replicas: int = 1  # of each shard deployment
    ingress_cpus: float = INGRESS_CPUS  # Ray gives the replica as many threads, which the query model uses
    placement_timeout: float = PLACEMENT_TIMEOUT_S


class RayShards:
    """A ShardPool over the shard deployments' handles; a shard's failure is one clear SemsearchError."""

    def __init__(self, handles: Sequence[DeploymentHandle]) -> None:
        self.handles = list(handles)

    def __len__(self) -> int:
        return len(self.handles)

    def submit(self, shard: int, method: str, *args: Any) -> Callable[[], Any]:
        response = getattr(self.handles[shard], method).remote(*args)

        def wait() -> Any:
            try:
                return response.result(timeout_s=SHARD_CALL_TIMEOUT_S)
            except RayError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, SemsearchError):
                    raise cause from None  # the shard's own message (a damaged commit, a bad request)
                raise SemsearchError(f"shard {shard} of {len(self)} failed ({type(exc).__name__}); see the Ray logs") from None
            except TimeoutError:
                raise SemsearchError(f"shard {shard} of {len(self)} did not answer within {SHARD_CALL_TIMEOUT_S:.0f} s") from None

        return wait


@serve.deployment(ray_actor_options={"num_cpus": SHARD_CPUS})
class Shard:
    """One shard's replicas: ShardIndex's methods, called by the ingress."""

    def __init__(self, index_dir: str, shard: int, shards: int) -> None:
        self.index = ShardIndex(index_dir, shard, shards)

    def summary(self, generation: int) -> ShardSummary:
        return self.index.summary(generation)

    def stats(self, generation: int, terms: list[str]) -> LexicalStats:
        return self.index.stats(generation, terms)

    def candidates(self, generation: int, query: ShardQuery) -> Candidates:
        return self.index.candidates(generation, query)

    def fetch_passages(self, generation: int, vids: list[int]) -> dict[int, PassageRow]:
        return self.index.fetch_passages(generation, vids)

    def fetch_document(self, generation: int, doc_id: str) -> tuple[DocumentRow, list[PassageRow]] | None:
        return self.index.fetch_document(generation, doc_id)


@serve.deployment(ray_actor_options={"num_cpus": INGRESS_CPUS})
@serve.ingress()
class Ingress:
    """Serve's HTTP entry: the app of `semsearch serve`, built in the replica over the shards' handles."""

    def __init__(self, settings: Settings, *shards: DeploymentHandle) -> None:
        self.settings, self.pool = settings, RayShards(shards)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.settings, make_state=lambda s, m: ShardedServiceState(s, m, self.pool))


def build_app(settings: Settings, options: ServeOptions) -> Application:
    """The application: N shard deployments of M replicas each, and the ingress bound to their handles."""
    index_dir, n = str(settings.index_dir), options.shards
    bound = [Shard.options(name=f"shard-{i}", num_replicas=options.replicas).bind(index_dir, i, n) for i in range(n)]
    return Ingress.options(ray_actor_options={"num_cpus": options.ingress_cpus}).bind(settings, *bound)


def fit_problem(free: Sequence[float], options: ServeOptions) -> str | None:
    """Why the replicas may not all be placed on nodes with these free CPUs, or None. Two checks: a
    first-fit-decreasing packing must exist at all, and the ingress must still find a node when Ray spreads
    the shard replicas over the nodes first (its default for Serve replicas), as a 1-CPU ingress did not on
    two 1-CPU nodes each holding a 0.5-CPU shard."""
    shards = [SHARD_CPUS] * (options.shards * options.replicas)
    left = sorted(free, reverse=True)
    for item in sorted([options.ingress_cpus, *shards], reverse=True):
        node = next((i for i, cpus in enumerate(left) if cpus + 1e-9 >= item), None)
        if node is None:
            return (
                f"{options.shards} shard(s) x {options.replicas} replica(s) x {SHARD_CPUS:g} CPU and the ingress's "
                f"{options.ingress_cpus:g} CPU (--ray-ingress-cpus) cannot be packed on nodes with "
                f"{_cpus(free)} CPU free"
            )
        left[node] -= item
    spread = sorted(free, reverse=True)
    for _ in shards:
        fits = [i for i, cpus in enumerate(spread) if cpus + 1e-9 >= SHARD_CPUS]
        spread[max(fits, key=lambda i: spread[i])] -= SHARD_CPUS  # the node with the most CPU free
    if max(spread) + 1e-9 < options.ingress_cpus:
        return (
            f"once Ray has spread the {len(shards)} shard replica(s) ({SHARD_CPUS:g} CPU each) over nodes with "
            f"{_cpus(free)} CPU free, no node keeps the ingress's {options.ingress_cpus:g} CPU (at most "
            f"{max(spread):g}): lower --ray-ingress-cpus to {max(SHARD_CPUS, max(spread)):g}"
        )
    return None


def _cpus(free: Sequence[float]) -> str:
    return " + ".join(f"{cpus:g}" for cpus in sorted(free, reverse=True))


def free_cpus_per_node() -> list[float]:
    """CPUs free on each alive node now (Ray's per-node availability; its totals where that is unknown)."""
    import ray

    try:
        from ray._private.state import available_resources_per_node  # not public in every Ray release

        return [float(r.get("CPU", 0)) for r in available_resources_per_node().values()]
    except (ImportError, AttributeError):
        return [float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]


def _pending_replicas() -> list[str]:
    """Serve replicas Ray has not placed yet, with what each asks for (from Ray's state API)."""
    from ray.util.state import list_actors

    try:
        pending = list_actors(filters=[("state", "=", "PENDING_CREATION")], timeout=10, raise_on_missing_output=False)
    except Exception:  # noqa: BLE001 - the state API is diagnostics: its failure must not hide the real error
        return []
    return [
        f"{(a.class_name or '?').removeprefix('ServeReplica:')} needs {a.required_resources}"
        for a in pending if (a.class_name or "").startswith("ServeReplica:")
    ]


def _wait_running(stop: threading.Event, options: ServeOptions) -> bool:
    """Until the application runs (True), the user stops (False), or one clear error: Serve itself
    retries a replica that cannot be placed (not enough CPUs on any node) or fails to start, for ever."""
    started = time.monotonic()
    pending_since: float | None = None
    while not stop.wait(1.0):
        app = serve.status().applications.get(APP_NAME)
        if app is not None and app.status == "RUNNING":
            return True
        pending = _pending_replicas()
        pending_since = (pending_since or time.monotonic()) if pending else None
        stuck = pending_since is not None and time.monotonic() - pending_since > options.placement_timeout
        if stuck or (app is not None and app.status == "DEPLOY_FAILED") or time.monotonic() - started > START_TIMEOUT_S:
            waiting = "; ".join(
                f"{name}: {d.message or d.status}" for name, d in (app.deployments.items() if app else ()) if d.status != "HEALTHY"
            )
            raise SemsearchError(
                f"the Ray Serve application is not running after {time.monotonic() - started:.0f} s "
                f"({app.status if app else 'not deployed'}"
                + (f"; not placed: {', '.join(pending)}" if pending else "")
                + (f"; {waiting}" if waiting and not pending else "")
                + f"); nodes have {_cpus(free_cpus_per_node())} CPU free: lower --ray-ingress-cpus "
                f"({options.ingress_cpus:g}), --shards or --replicas ({SHARD_CPUS:g} CPU a shard replica), or add nodes"
            )
    return False


def serve_on_ray(settings: Settings, options: ServeOptions, on_ready: Callable[[ClusterInfo], None] | None = None) -> None:
    """Deploy the application on the cluster, serve until SIGINT or SIGTERM, then shut Serve down."""
    if options.shards < 1:
        raise SemsearchError(f"--shards {options.shards}: must be at least 1")
    if options.replicas < 1:
        raise SemsearchError(f"--replicas {options.replicas}: must be at least 1")
    if options.ingress_cpus <= 0:
        raise SemsearchError(f"--ray-ingress-cpus {options.ingress_cpus:g}: must be more than 0")
    info = connect(options.address)
    problem = fit_problem(free_cpus_per_node(), options)
    if problem is not None:
        disconnect()
        raise SemsearchError(f"the application does not fit the Ray cluster: {problem} (or add nodes)")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # One HTTP proxy, on the head node: the address the user gave is the head's.
        serve.start(proxy_location="HeadOnly", http_options={"host": settings.host, "port": settings.port})
        target = serve.RunTarget(build_app(settings, options), name=APP_NAME, route_prefix="/")
        try:
            serve.run_many([target], wait_for_ingress_deployment_creation=False, wait_for_applications_running=False)
        except (RayError, RuntimeError) as exc:
            raise SemsearchError(f"the Ray Serve application did not start ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        if _wait_running(stop, options) and on_ready is not None:
            on_ready(info)
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            serve.shutdown()
        finally:
            disconnect()

