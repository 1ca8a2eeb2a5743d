"""Acceptance: a real `semsearch serve` process on a loopback port, indexing the seeds on start,
taking writes over HTTP, and keeping them across a restart."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import SEEDS
from .service_helpers import API_KEY, AUTH, SEED_IDS, SOLDIERS

READY_TIMEOUT_S = 120
DOC = {
    "id": "desk/2024/tombouctou.txt",
    "title": "Festival au désert",
    "date": "2024-02",
    "text": "Le festival des musiques du désert de Tombouctou a réuni 12 000 spectateurs malgré la tempête de sable. "
    "Les organisateurs annoncent une édition plus longue l'an prochain, avec des concerts sur les dunes.",
}
DOC_QUESTION = "Combien de spectateurs au festival de Tombouctou ?"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`semsearch serve` in a subprocess; its log goes to a file so a full pipe never blocks it."""

    def __init__(self, index_dir: Path, workdir: Path, log_path: Path, *extra: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("semsearch", path=str(Path(sys.executable).parent)) or shutil.which("semsearch")
        cmd = [exe] if exe else [sys.executable, "-m", "semsearch.cli"]
        cmd += ["serve", "--index-dir", str(index_dir), "--host", "127.0.0.1", "--port", str(self.port), *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
        env["SEMSEARCH_API_KEY"] = API_KEY
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT)
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


def test_serve_indexes_the_seeds_answers_and_keeps_writes_across_a_restart(tmp_path):
    index_dir = tmp_path / "index"
    workdir = tmp_path / "cwd"  # no ./seeds here: only --corpus may be indexed
    workdir.mkdir()
    log_path = tmp_path / "serve.log"

    server = Server(index_dir, workdir, log_path, "--corpus", str(SEEDS))
    try:
        seen = server.wait_ready()
        # The model loads and the seeds are indexed after the port opens: /readyz said 503 meanwhile.
        assert seen[-1] == 200 and set(seen) <= {200, 503}
        assert server.client.get("/stats").json()["documents"] == len(SEED_IDS)

        fr = server.search("Combien de soldats américains sont en Irak ?")
        assert any(SOLDIERS.search(hit["text"]) for hit in fr), fr
        en = server.search("How many US soldiers are in Iraq?")
        assert any(SOLDIERS.search(hit["text"]) for hit in en), en

        assert server.client.post("/documents", json={"documents": [DOC]}).status_code == 401
        added = server.client.post("/documents", json={"documents": [DOC]}, headers=AUTH)
        assert added.status_code == 200 and added.json()["added"] == 1, added.text
        assert server.search(DOC_QUESTION)[0]["doc_id"] == DOC["id"]  # the very next request sees it
    finally:
        server.stop()
    # A clean shutdown: uvicorn finishes, then exits by the signal it was sent (or 0).
    assert server.proc.returncode in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()

    server = Server(index_dir, workdir, log_path, "--corpus", str(SEEDS))
    try:
        assert server.wait_ready()[-1] == 200
        assert server.client.get("/stats").json()["documents"] == len(SEED_IDS) + 1  # seeds not indexed twice
        assert server.search(DOC_QUESTION)[0]["doc_id"] == DOC["id"]
        assert server.client.get(f"/documents/{DOC['id']}").json()["title"] == DOC["title"]

        deleted = server.client.delete(f"/documents/{DOC['id']}", headers=AUTH)
        assert deleted.status_code == 200 and deleted.json()["deleted"] == 1, deleted.text
        assert server.client.get(f"/documents/{DOC['id']}").status_code == 404
        assert all(hit["doc_id"] in SEED_IDS for hit in server.search(DOC_QUESTION, k=10))
        metrics = server.client.get("/metrics").text
        assert 'route="/search",status="200"' in metrics
    finally:
        server.stop()
    log = log_path.read_text()
    assert API_KEY not in log
    assert '"event": "request"' in log and "Traceback" not in log
