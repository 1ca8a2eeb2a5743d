"""SIGKILL during `semsearch index`: the index still loads and answers from a complete snapshot."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from semsearch.store.layout import FAULT_ENV, FAULT_POINTS, IndexDirectory
from semsearch.store.snapshot import open_snapshot

from .conftest import run_cli, search_json


def _corpus(path: Path, n: int) -> Path:
    with path.open("w") as handle:
        for i in range(n):
            text = (
                f"Dépêche {i}. Le conseil municipal de la commune numéro {i} a voté un budget de {i * 1000} euros "
                f"pour rénover {i % 7 + 2} écoles et construire une médiathèque avant {2025 + i % 5}."
            )
            handle.write(json.dumps({"id": f"depeche-{i}", "text": text, "date": "2024-05"}) + "\n")
    return path


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_index_leaves_a_loadable_index_that_answers(seed_index, tmp_path):
    corpus = _corpus(tmp_path / "big.jsonl", 150)
    layout = IndexDirectory(seed_index)
    before = layout.current_name()
    proc = subprocess.Popen(
        [sys.executable, "-m", "semsearch.cli", "index", str(corpus), "--index-dir", str(seed_index), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert _wait_for(lambda: any(p.name.startswith(".tmp-") for p in seed_index.iterdir()), 60), "writer never started"
        time.sleep(1.0)  # well inside the embedding of 150 passages and their 300 sentences
        assert proc.poll() is None, "indexing finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert layout.current_name() == before  # the old snapshot is still the live one
    snapshot = open_snapshot(seed_index)
    assert snapshot.manifest.documents == 5
    top3 = search_json(seed_index, "Combien de soldats américains en Irak ?", "-k", "3")["results"]
    assert any(re.search(r"2[\s.]?500", h["text"]) for h in top3)

    # The next run cleans the leftover and completes.
    out = json.loads(run_cli("index", str(corpus), "--index-dir", str(seed_index), "--json").stdout)
    assert out["added"] == 150 and out["documents"] == 155
    assert not any(p.name.startswith(".tmp-") for p in seed_index.iterdir())


def test_sigkill_at_random_moments_never_breaks_the_index(seed_index, tmp_path):
    corpus = _corpus(tmp_path / "small.jsonl", 60)
    for delay in (0.2, 0.8, 1.6, 2.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "semsearch.cli", "index", str(corpus), "--index-dir", str(seed_index), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        snapshot = open_snapshot(seed_index)
        assert snapshot.manifest.documents in (5, 65)
        assert snapshot.size == snapshot.manifest.passages == snapshot.index.ntotal


def test_sigkill_at_each_point_of_the_snapshot_swap(seed_index, tmp_path):
    """SEMSEARCH_FAULT kills `semsearch index` inside publish: before the snapshot folder is renamed
    into place, between that rename and the CURRENT swap, and just after the swap."""
    corpus = _corpus(tmp_path / "swap.jsonl", 3)
    layout = IndexDirectory(seed_index)
    for point in FAULT_POINTS:
        before = layout.current_name()
        proc = run_cli("index", str(corpus), "--index-dir", str(seed_index), "--quiet", env={FAULT_ENV: point}, check=False)
        assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr)
        snapshot = open_snapshot(seed_index)
        assert snapshot.size == snapshot.manifest.passages == snapshot.index.ntotal
        if point == "after_pointer":
            assert layout.current_name() != before and snapshot.manifest.documents == 8
        else:
            assert layout.current_name() == before and snapshot.manifest.documents == 5
        snapshot.close()
    # The next write removes what the crashes left (a .tmp-* folder, a snapshot CURRENT never named).
    out = json.loads(run_cli("index", str(corpus), "--index-dir", str(seed_index), "--json").stdout)
    assert (out["unchanged"], out["documents"]) == (3, 8)
    assert not any(p.name.startswith(".tmp-") or p.name.endswith(".tmp") for p in seed_index.iterdir())
    assert all(p.name <= layout.current_name() for p in layout.snapshot_paths())
