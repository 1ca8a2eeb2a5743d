"""Helpers shared by the HTTP service tests: an app over an index, with the session's real model."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from semsearch.embedding.base import DEFAULT_MODEL
from semsearch.service.app import create_app
from semsearch.settings import Settings

from .conftest import SEEDS

API_KEY = "test-key-5f2b9c"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SOLDIERS = re.compile(r"2[\s\u00a0.]?500")
SEED_IDS = frozenset(p.name for p in SEEDS.iterdir() if p.suffix == ".txt")
READY_TIMEOUT_S = 120


def make_settings(index_dir: Path, **overrides) -> Settings:
    """Settings that ignore SEMSEARCH_* variables of the environment for the fields tests care about."""
    values = {"index_dir": index_dir, "api_key": API_KEY, "cors_origins": [], "corpus": None, "model": DEFAULT_MODEL}
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def client_for(index_dir: Path, embedder, wait: bool = True, **overrides) -> Iterator[TestClient]:
    app = create_app(make_settings(index_dir, **overrides), embedder=embedder)
    with TestClient(app) as client:
        if wait:
            assert app.state.service.wait_ready(120), app.state.service.phase
        yield client


def server_errors(client: TestClient) -> list[str]:
    """Requests this app answered with a 5xx other than 503 (not ready), from its own metrics."""
    found = []
    for metric in client.app.state.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "semsearch_http_requests_total" and sample.labels["status"].startswith("5") and sample.value:
                if sample.labels["status"] != "503":
                    found.append(f"{sample.labels} x{sample.value}")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`semsearch serve` in a subprocess; its log goes to a file so a full pipe never blocks it."""

    def __init__(self, index_dir: Path, workdir: Path, log_path: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("semsearch", path=str(Path(sys.executable).parent)) or shutil.which("semsearch")
        cmd = [exe] if exe else [sys.executable, "-m", "semsearch.cli"]
        cmd += ["serve", "--index-dir", str(index_dir), "--host", "127.0.0.1", "--port", str(self.port), *extra]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
        full_env["SEMSEARCH_API_KEY"] = API_KEY
        full_env.update(env or {})
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.base, timeout=60, trust_env=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self) -> list[int]:
        """Poll /readyz until 200; the statuses seen on the way."""
        seen: list[int] = []
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}\n{self.log()}"
            try:
                response = self.client.get("/readyz", timeout=5)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            seen.append(response.status_code)
            if response.status_code == 200:
                return seen
            assert response.status_code == 503, response.text
            assert response.json()["ready"] is False and response.json()["error"]["message"]
            time.sleep(0.2)
        pytest.fail(f"not ready after {READY_TIMEOUT_S} s\n{self.log()}")

    def search(self, query: str, k: int = 3) -> list[dict]:
        response = self.client.get("/search", params={"q": query, "k": k})
        assert response.status_code == 200, response.text
        return response.json()["results"]

    def kill(self) -> int:
        """SIGKILL, as a crash or the OOM killer would; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(30)
        self.client.close()
        self._log.close()
        return code

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
