"""Joining a Ray cluster: one clear error when Ray is missing or the cluster cannot be reached."""

from __future__ import annotations

import logging
import os
import socket
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


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A head that does not answer is one clear error within seconds (Ray itself retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise SemsearchError(f"--ray {address!r}: expected HOST:PORT of the cluster's head (e.g. 10.0.0.5:6379), or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise SemsearchError(
            f"cannot reach the Ray cluster's head at {address}: {exc.strerror or exc} "
            "(is `ray start --head` running there, and the port open?)"
        ) from None


def connect(address: str) -> ClusterInfo:
    """Join the cluster at `address` (`auto`: the one RAY_ADDRESS or a local `ray start` names) as its driver."""
    ray = import_ray()
    named = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    if named and "://" not in named:
        _check_reachable(named)
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
