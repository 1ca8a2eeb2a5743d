"""Joining a Ray cluster: one clear error when Ray is missing or the cluster cannot be reached."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

from ..errors import SemsearchError

RAY_EXTRA_HINT = "install the extra on the driver and on every node: pip install 'semsearch[ray]'"


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise SemsearchError(f"--ray needs Ray, which is not installed: {RAY_EXTRA_HINT}") from None
    return ray


@dataclass(frozen=True)
class ClusterInfo:
    address: str
    nodes: int  # alive
    cpus: float
    gpus: float


def connect(address: str) -> ClusterInfo:
    """Join the cluster at `address` (`auto`: the one RAY_ADDRESS or a local `ray start` names) as its driver."""
    ray = import_ray()
    try:
        # Workers' output stays in the session's log folder: on the driver's stdout it would break --json.
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SemsearchError(
            f"cannot join the Ray cluster at {address!r}: {exc} "
            "(start one with `ray start --head`, or name a running head as HOST:PORT; `auto` reads RAY_ADDRESS)"
        ) from None
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return ClusterInfo(address, nodes, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)))


def disconnect() -> None:
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()
