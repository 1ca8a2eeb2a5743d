"""A real multi-node Ray cluster on this machine, inside a network namespace that has only its loopback.

Ray binds the machine's own address by default; tests may only talk to loopback or to hosts they
make. Inside a fresh namespace the only interface is `lo`, so every node (a head and workers started
with `ray start`, each with its own CPUs and a bounded object store) is 127.0.0.1, and so is the
driver that a test runs there with `LoopbackCluster.run`. Shared by tests/test_ray_index.py and
bench/ray_indexing.py. Every wait is bounded; `stop` always ends the nodes and deletes the namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
HEAD_PORT = 6379
OBJECT_STORE_BYTES = 100 * 2**20  # per node; Ray's floor is 75 MiB
START_TIMEOUT_S = 120


def unavailable() -> str | None:
    """Why a namespaced cluster cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "making a network namespace needs root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    if not (VENV_BIN / "ray").exists():
        return "Ray is not installed (scripts/install.sh ... st,test,ray installs the `ray` extra)"
    return None


@dataclass
class LoopbackCluster:
    """`ray start` nodes inside the namespace `ns`; `address` is what RAY_ADDRESS names."""

    workers: int = 1
    cpus_per_node: int = 1  # the head's, and each worker's unless worker_cpus is given
    worker_cpus: int | None = None
    ns: str = field(default_factory=lambda: f"semsearch-ray-{uuid.uuid4().hex[:8]}")
    address: str = f"127.0.0.1:{HEAD_PORT}"
    _root: Path | None = None

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEMSEARCH_", "RAY_"))}
        env.update(RAY_ADDRESS=self.address, RAY_USAGE_STATS_ENABLED="0", PATH=f"{VENV_BIN}:{env.get('PATH', '')}")
        env.update(extra or {})
        return env

    def run(self, *cmd: str, timeout: float = 300, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """A command inside the namespace (as a driver of the cluster when it is a Ray program)."""
        proc = subprocess.run(["ip", "netns", "exec", self.ns, *cmd], capture_output=True, text=True, env=self.env(env), timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def popen(self, *cmd: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env(env)
        )

    def start(self) -> LoopbackCluster:
        subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True, timeout=30)
        try:
            subprocess.run(["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"], check=True, capture_output=True, timeout=30)
            self._root = Path(tempfile.mkdtemp(prefix="rayns-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
            self._start_node(head=True)
            for _ in range(self.workers):
                self._start_node(head=False)
            self.wait_for_nodes(1 + self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self) -> None:
        """One more worker node (as an autoscaler brings one after a node is lost)."""
        alive = self.alive_nodes()
        self._start_node(head=False)
        self.wait_for_nodes(alive + 1)

    def _start_node(self, head: bool) -> None:
        cpus = self.cpus_per_node if head or self.worker_cpus is None else self.worker_cpus
        common = [
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
        ]
        if head:
            temp = self._root / "head"
            cmd = ["ray", "start", "--head", f"--port={HEAD_PORT}", "--include-dashboard=false", f"--temp-dir={temp}", *common]
        else:
            cmd = ["ray", "start", f"--address={self.address}", *common]
        self.run(str(VENV_BIN / cmd[0]), *cmd[1:], timeout=START_TIMEOUT_S)

    def alive_nodes(self) -> int:
        code = "import ray; ray.init(address='auto', logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
        proc = self.run(sys.executable, "-c", code, timeout=60, check=False)
        try:
            return int(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return 0

    def wait_for_nodes(self, count: int, timeout: float = START_TIMEOUT_S, exactly: bool = False) -> None:
        """Until `count` nodes are alive (at least, or `exactly`: a killed node is seen dead)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = self.alive_nodes()
            if alive == count or (alive > count and not exactly):
                return
            time.sleep(1)
        raise TimeoutError(f"the Ray cluster in namespace {self.ns} did not have {count} live nodes within {timeout:.0f} s")

    def raylet_pids(self) -> list[int]:
        """The raylet of each node, oldest first (the head's is the first)."""
        pids = []
        for pid in sorted(self._pids()):
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"/raylet"):
                    pids.append(pid)
            except OSError:
                continue
        return pids

    def stop(self) -> None:
        """End every process inside the namespace (the nodes and any driver), then delete it; bounded,
        safe to call twice. By process id, not `ray stop`: that one ends Ray processes by name, machine-wide."""
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            pids = self._pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while self._pids() and time.monotonic() < deadline:
                time.sleep(0.2)
        subprocess.run(["ip", "netns", "delete", self.ns], capture_output=True, timeout=30)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)

    def _pids(self) -> list[int]:
        try:
            out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True, timeout=30).stdout
        except (subprocess.TimeoutExpired, OSError):
            return []
        return [int(pid) for pid in out.split() if pid.isdigit()]

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
