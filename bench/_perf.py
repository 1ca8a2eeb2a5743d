"""Measurement helpers for the performance bench scripts: load average, peak RSS, sizes, percentiles.

The bench machine is shared, so every figure is reported with the load average it was taken under.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def load_text() -> str:
    one, five, fifteen = loadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def wait_for_quiet(max_load: float | None, timeout: float = 600.0, poll: float = 10.0) -> str:
    """Wait until the 1-minute load average is under `max_load` (at most `timeout` seconds).

    Returns the load average at the end, as text; prints a note when it gave up waiting."""
    if max_load is None:
        return load_text()
    deadline = time.monotonic() + timeout
    while loadavg()[0] > max_load and time.monotonic() < deadline:
        print(f"load {load_text()} is over {max_load}: waiting", file=sys.stderr, flush=True)
        time.sleep(poll)
    if loadavg()[0] > max_load:
        print(f"load still {load_text()} after {timeout:.0f} s: measuring anyway", file=sys.stderr, flush=True)
    return load_text()


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) so the next reading covers only what follows (Linux)."""
    try:
        Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of a process, in MiB; falls back to getrusage for this process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def disk_usage(path: Path) -> dict[str, int]:
    """Bytes on disk (allocated blocks, as du counts) of each top-level entry of a folder."""
    out: dict[str, int] = {}
    for entry in sorted(Path(path).iterdir()):
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        out[entry.name] = sum(p.stat().st_blocks * 512 for p in files)
    return out


def add_timer(owner: object, name: str, spent: dict[str, float], label: str | None = None) -> None:
    """Replace `owner.name` by a wrapper that adds the seconds of each call to spent[label or name]."""
    inner = getattr(owner, name)
    key = label or name

    def call(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - started

    setattr(owner, name, call)


def percentiles(values_ms: list[float], qs=(50, 95, 99)) -> list[float]:
    if not values_ms:
        return [float("nan")] * len(qs)
    return [float(np.percentile(values_ms, q)) for q in qs]


# -- the PIAF index and a real `semsearch serve` process -------------------------------------------


def ensure_piaf_index(index_dir: Path, piaf: Path, embedder=None) -> tuple[Path, float | None]:
    """Index every PIAF paragraph into `index_dir` unless it already holds them; returns the
    folder and the seconds spent indexing (None when the index was already there)."""
    from semsearch.embedding import load_embedder
    from semsearch.evaluation.datasets import load_eval_set
    from semsearch.index.writer import IndexWriter
    from semsearch.settings import Settings
    from semsearch.store.commit import CommitPoint
    from semsearch.store.layout import IndexDirectory

    dataset = load_eval_set(piaf)
    layout = IndexDirectory(index_dir)
    generation = layout.generation()
    if generation and CommitPoint.read(layout.commit_path(generation)).documents == len(dataset.documents):
        return Path(index_dir), None
    settings = Settings()
    embedder = embedder or load_embedder(settings.model)
    print(f"indexing {len(dataset.documents)} PIAF paragraphs into {index_dir} (once)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    IndexWriter(index_dir, embedder, settings.chunking()).write(dataset.documents)
    return Path(index_dir), time.perf_counter() - started


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`semsearch serve` over an existing index in a subprocess, its log in a file."""

    def __init__(self, index_dir: Path, log_path: Path, env: dict[str, str] | None = None, workdir: Path | None = None) -> None:
        import shutil
        import subprocess

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("semsearch", path=str(Path(sys.executable).parent))
        cmd = [exe] if exe else [sys.executable, "-m", "semsearch.cli"]
        cmd += ["serve", "--index-dir", str(index_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
        # this checkout's code, not the one the console script's editable install points at
        checkout = str(Path(__file__).resolve().parent.parent)
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, full_env.get("PYTHONPATH", "")) if p)
        full_env.update(env or {})
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "ab")
        self.launched = time.perf_counter()
        # cwd without a seeds/ folder, so an empty index is never filled from ./seeds
        self.proc = subprocess.Popen(cmd, cwd=workdir or Path(log_path).parent, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 300.0, poll: float = 0.02) -> float:
        """Seconds from launch to the first /readyz 200."""
        import httpx

        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base, timeout=5, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"semsearch serve exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return time.perf_counter() - self.launched
                except httpx.TransportError:
                    pass
                time.sleep(poll)
        raise RuntimeError(f"semsearch serve not ready after {timeout:.0f} s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
