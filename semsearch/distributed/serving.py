"""`semsearch serve --ray ADDRESS --shards N [--replicas M]`: the sharded service as a Ray Serve application.

- `Shard` (N deployments, `shard-0`... each with M replicas): a `ShardIndex` over its part of the
  segments of each commit (search/shard.py).
- `Ingress` (one replica, Serve's HTTP entry): the FastAPI app of `semsearch serve` (same routes, same
  page) over a `ShardedServiceState` (service/sharded_state.py) whose shards are the deployment handles.
  It embeds each query once, fans out, merges and runs the single-process Searcher on the candidates;
  it is also the one writer (IndexWriter on the shared index folder) and runs the merges.

Only the plumbing is here: what is searched and how lives in semsearch/service, tested without Ray.
Every node must see the index folder at the same path (one machine, or a shared file system).

Placement: Serve retries a replica that no node has the CPUs for, for ever, and its HTTP proxy holds every
request to an ingress that has no replica. So the layout is checked against each node's free CPUs before
anything is deployed (`fit_problem`), the wait for the application is bounded (`--ray-start-timeout`), and
until the index is loaded the ingress answers 503 naming the deployments still pending.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
from ..service.state import Phase
from ..settings import Settings
from ..store.database import DocumentRow, PassageRow
from ..store.lexical import LexicalStats
from .cluster import ClusterInfo, connect, disconnect

APP_NAME = "semsearch"
START_TIMEOUT_S = 120.0  # replicas placed and constructed (the model loads after, /readyz tells); --ray-start-timeout
SHARD_CALL_TIMEOUT_S = 120.0  # a shard's first call of a commit opens its segments
# Equal halves pack in any order on nodes of whole CPUs. The ingress's query model runs on max(1, floor(CPUs))
# OpenMP threads (Ray's rule), so 0.5 runs it like 1; more CPUs, more threads (README, "Sizing").
INGRESS_CPUS = 0.5
SHARD_CPUS = 0.5
EPS = 1e-6  # Ray counts CPUs in 1/10000ths


@dataclass(frozen=True)
class ServeOptions:
    address: str = "auto"
    shards: int = 1
    replicas: int = 1  # of each shard deployment
    ingress_cpus: float = INGRESS_CPUS  # Ray gives the replica as many threads, which the query model uses
    start_timeout: float = START_TIMEOUT_S


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


class RayServiceState(ShardedServiceState):
    """ShardedServiceState whose not-ready message also names the Serve deployments that are not running
    (a shard waiting for CPUs): /readyz says so at once, not when a shard call times out. A thread polls
    Serve until the index is loaded; requests only read what it found."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending = ""
        super().__init__(*args, **kwargs)
        threading.Thread(target=self._poll_serve, name="semsearch-serve-status", daemon=True).start()

    @property
    def phase(self) -> Phase:
        phase = self._phase
        return replace(phase, message=f"{phase.message}; {self._pending}") if self._pending and phase.name != "ready" else phase

    @phase.setter
    def phase(self, value: Phase) -> None:
        self._phase = value

    def _poll_serve(self) -> None:
        while self._phase.name != "ready":
            try:
                # The ingress answers, whatever Serve says of it yet: the shards are what it waits for.
                self._pending = deployment_problems(serve.status().applications.get(APP_NAME), but=Ingress.name)
            except Exception:  # noqa: BLE001 - a diagnostic: the controller may be busy or going away
                self._pending = ""
            time.sleep(2.0)
        self._pending = ""


@serve.deployment(ray_actor_options={"num_cpus": INGRESS_CPUS})
@serve.ingress()
class Ingress:
    """Serve's HTTP entry: the app of `semsearch serve`, built in the replica over the shards' handles."""

    def __init__(self, settings: Settings, *shards: DeploymentHandle) -> None:
        self.settings, self.pool = settings, RayShards(shards)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.settings, make_state=lambda s, m: RayServiceState(s, m, self.pool))


def build_app(settings: Settings, options: ServeOptions) -> Application:
    """The application: N shard deployments of M replicas each, and the ingress bound to their handles."""
    index_dir, n = str(settings.index_dir), options.shards
    bound = [Shard.options(name=f"shard-{i}", num_replicas=options.replicas).bind(index_dir, i, n) for i in range(n)]
    return Ingress.options(ray_actor_options={"num_cpus": options.ingress_cpus}).bind(settings, *bound)


def fit_problem(free: Sequence[float], options: ServeOptions) -> str | None:
    """Why the replicas may not all be placed on nodes with these CPUs free, or None. Serve starts them in no
    fixed order and spreads them, so a packing that exists is not enough: the ingress must still find a node
    whatever nodes the shard replicas took first (a 1-CPU ingress after two 0.5-CPU shards on two 1-CPU nodes
    never did), and the shards must fit whatever node the ingress took."""
    ingress, count = options.ingress_cpus, options.shards * options.replicas
    shards = f"{count} shard replica(s) of {SHARD_CPUS:g} CPU (--shards {options.shards} x --replicas {options.replicas})"
    nodes = f"nodes with {' + '.join(f'{f:g}' for f in sorted(free, reverse=True)) or 'no'} CPU free"
    hosts = [i for i, f in enumerate(free) if f + EPS >= ingress]
    if not hosts:
        return f"no node has the {ingress:g} CPU the ingress reserves (--ray-ingress-cpus) free: {nodes}"
    slots = [math.floor((f + EPS) / SHARD_CPUS) for f in free]
    beside = min(sum(slots) - slots[i] + math.floor((free[i] - ingress + EPS) / SHARD_CPUS) for i in hosts)
    if beside < count:
        return f"{shards} and the ingress's {ingress:g} CPU do not fit on {nodes}: at most {beside} shard replica(s) fit"
    # Shard replicas placed to leave no node with the ingress's CPUs: floor(...) + 1 on each node that has them.
    needed = [math.floor((free[i] - ingress + EPS) / SHARD_CPUS) + 1 for i in hosts]
    if all(n * SHARD_CPUS <= free[i] + EPS for n, i in zip(needed, hosts)) and sum(needed) <= count:
        return (
            f"{shards}, spread by Ray Serve, can leave no node with the {ingress:g} CPU the ingress reserves on {nodes}: "
            f"lower --ray-ingress-cpus to {SHARD_CPUS:g} (the shards' size packs in any order)"
        )
    return None


def free_cpus() -> tuple[list[float], list[str]]:
    """Each live node's free CPUs, and the resource demands Ray cannot place yet (what `ray status` shows
    as pending), from the autoscaler's view of the cluster. Without it: the cluster's free CPUs as one node."""
    import ray

    try:
        from ray.autoscaler.v2.sdk import get_cluster_status

        status = get_cluster_status(ray.get_runtime_context().gcs_address)
    except Exception:  # noqa: BLE001 - not in every Ray release; the total still makes a coarser check
        return [float(ray.available_resources().get("CPU", 0.0))], []
    free = [
        sum(u.total - u.used for u in node.resource_usage.usage if u.resource_name == "CPU")
        for node in [*status.active_nodes, *status.idle_nodes]
    ]
    demands = [
        f"{r.bundle} x {r.count}" for demand in status.resource_demands.ray_task_actor_demand for r in demand.bundles_by_count
    ]
    return free, demands


def deployment_problems(app: Any, but: str = "") -> str:
    """The deployments of the application that are not healthy (but `but`), with Serve's message (it names a
    replica that waits to be scheduled, and the resources it asks for)."""
    if app is None:
        return "the application is not deployed yet"
    parts = []
    for name, d in app.deployments.items():
        status = getattr(d.status, "value", d.status)
        if status == "HEALTHY" or name == but:
            continue
        replicas = ", ".join(f"{n} {state}" for state, n in (d.replica_states or {}).items())
        message = d.message or ""
        parts.append(f"{name} {status}" + (f" ({replicas})" if replicas else "") + (f": {message}" if message else ""))
    return "Ray Serve: " + "; ".join(parts) if parts else ""


def _wait_running(stop: threading.Event, options: ServeOptions) -> bool:
    """Until the application runs (True), the user stops (False), or one clear error within
    --ray-start-timeout: Serve itself retries, for ever, a replica that cannot be placed or fails to start."""
    started = time.monotonic()
    while not stop.wait(1.0):
        app = serve.status().applications.get(APP_NAME)
        status = getattr(app.status, "value", app.status) if app is not None else None
        if status == "RUNNING":
            return True
        waited = time.monotonic() - started
        if status == "DEPLOY_FAILED" or waited > options.start_timeout:
            free, demands = free_cpus()
            raise SemsearchError(
                f"the Ray Serve application is {'not running' if status != 'DEPLOY_FAILED' else 'failed'} after "
                f"{waited:.0f} s (--ray-start-timeout {options.start_timeout:g}): {deployment_problems(app) or status}; "
                f"pending resource demands: {', '.join(demands) or 'none'}; nodes have "
                f"{' + '.join(f'{f:g}' for f in sorted(free, reverse=True))} CPU free. The replicas reserve: ingress "
                f"{options.ingress_cpus:g} CPU (--ray-ingress-cpus), {options.shards} shard(s) x {options.replicas} "
                f"replica(s) x {SHARD_CPUS:g} CPU (--shards, --replicas); add nodes, lower those, or wait longer"
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
    if options.start_timeout <= 0:
        raise SemsearchError(f"--ray-start-timeout {options.start_timeout:g}: must be more than 0")
    info = connect(options.address)
    problem = fit_problem(free_cpus()[0], options)
    if problem is not None:
        disconnect()  # before Serve starts: nothing to undo
        raise SemsearchError(f"the application does not fit the Ray cluster's free CPUs: {problem}; or add nodes")
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

