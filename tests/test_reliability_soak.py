"""A bounded soak in the suite: 16 client threads search a real `semsearch serve` on loopback while a
writer adds and deletes documents. Zero errors, no result whose deletion was acknowledged before the
search was sent, every acknowledged add visible to the next search, and the server's RSS flat after
warm-up. The same load runs for longer from bench/soak.py (not in the suite)."""

from __future__ import annotations

import os
from pathlib import Path

from semsearch.store.commit_writer import live_commit
from semsearch.store.layout import IndexDirectory
from semsearch.text.analyzer import analyze

from . import soak_load as soak
from .service_helpers import API_KEY, AUTH, SEED_IDS, Server

DURATION_S = 30
CLIENTS = 16


def open_files(pid: int) -> list[str]:
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            pass
    return targets


def test_soak_searches_while_writing_zero_errors_consistent_results_flat_memory(seed_index, tmp_path):
    tokens = [soak.token(i) for i in range(2000)]  # read-your-writes searches one token: no stemmer may change it
    assert len(set(tokens)) == len(tokens) and all(analyze(t, "fr") == analyze(t, "en") == [t] for t in tokens)
    server = Server(seed_index, tmp_path, tmp_path / "serve.log")
    try:
        server.wait_ready()
        # the writer deletes once it has added more than KEEP_ADDED: a loaded machine gets the time for it
        result = soak.run_soak(
            server.base, server.proc.pid, API_KEY, DURATION_S, CLIENTS, set(SEED_IDS), min_adds=soak.KEEP_ADDED + 1,
        )
        assert server.proc.poll() is None
        # Each write adds a segment, whose files stay open while it is live; once merged away and no
        # reader uses it, they are let go: after a force-merge the server holds what it held at start.
        optimized = server.client.post("/admin/optimize", headers=AUTH, timeout=120)
        assert optimized.status_code == 200 and optimized.json()["segments"] == 1, optimized.text
        fds_end = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
        held = {Path(target).parent.name for target in open_files(server.proc.pid) if "/segments/" in target}
        live = {entry.name for entry in live_commit(IndexDirectory(seed_index)).segments}
    finally:
        server.stop()
    print("\n" + result.table())
    assert result.errors == []
    assert result.searches > 20 * DURATION_S / 10 and result.adds > soak.KEEP_ADDED and result.deletes >= 1
    assert set(result.statuses) <= {"search 200", "add 200", "delete 200"}
    memory = result.memory()
    assert memory["rss_growth"] <= soak.RSS_TOLERANCE, memory
    assert held <= live, f"files of merged-away segments still open: {sorted(held - live)}"
    assert fds_end <= memory["fds_first"] + 8, (fds_end, memory)
    log = server.log_path.read_text()
    assert "Traceback" not in log and API_KEY not in log
