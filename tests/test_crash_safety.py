"""SIGKILL during `semsearch index`: the index still loads and answers from a complete snapshot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from semsearch.store.layout import FAULT_ENV, IndexDirectory
from semsearch.store.reader import open_index

from .conftest import run_cli, search_json
from .service_helpers import SOLDIERS


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
    corpus = _corpus(tmp_path / "big.jsonl", 400)
    layout = IndexDirectory(seed_index)
    before = layout.current_name()
    proc = subprocess.Popen(
        [sys.executable, "-m", "semsearch.cli", "index", str(corpus), "--index-dir", str(seed_index), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert _wait_for(lambda: any(p.name.startswith(".tmp-") for p in seed_index.iterdir()), 60), "writer never started"
        time.sleep(1.0)  # well inside the embedding of 400 passages
        assert proc.poll() is None, "indexing finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert layout.current_name() == before  # the old snapshot is still the live one
    snapshot = open_index(seed_index)
    assert snapshot.manifest.documents == 5
    results = search_json(seed_index, "Combien de soldats américains en Irak ?", "-k", "3")["results"]
    assert any(SOLDIERS.search(h["text"]) for h in results)  # "2 500" or "2.500": collapsing picks which one leads

    # The next run cleans the leftover and completes (on a part of the corpus: the whole takes minutes).
    part = tmp_path / "part.jsonl"
    part.write_text("".join(corpus.read_text().splitlines(keepends=True)[:20]))
    out = json.loads(run_cli("index", str(part), "--index-dir", str(seed_index), "--json").stdout)
    assert out["added"] == 20 and out["documents"] == 25
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
        snapshot = open_index(seed_index)
        assert snapshot.manifest.documents in (5, 65)
        assert snapshot.size == snapshot.manifest.passages == snapshot.index.ntotal


def test_sigkill_inside_the_snapshot_swap(seed_index, tmp_path):
    """SEMSEARCH_FAULT kills `semsearch index` inside publish: between the rename of the snapshot folder
    into place and the CURRENT swap (the other points: tests/test_reliability_crash.py, through serve)."""
    corpus = _corpus(tmp_path / "swap.jsonl", 3)
    layout = IndexDirectory(seed_index)
    before = layout.current_name()
    proc = run_cli("index", str(corpus), "--index-dir", str(seed_index), "--quiet", env={FAULT_ENV: "after_rename"}, check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    snapshot = open_index(seed_index)
    assert snapshot.size == snapshot.manifest.passages == snapshot.index.ntotal
    assert layout.current_name() == before and snapshot.manifest.documents == 5
    snapshot.close()
    assert any(p.name > before for p in layout.snapshot_paths())  # the orphan: renamed into place, never named
    # The next write removes what the crash left (a snapshot CURRENT never named) and completes.
    out = json.loads(run_cli("index", str(corpus), "--index-dir", str(seed_index), "--json").stdout)
    assert (out["added"], out["documents"]) == (3, 8)
    assert not any(p.name.startswith(".tmp-") or p.name.endswith(".tmp") for p in seed_index.iterdir())
    assert all(p.name <= layout.current_name() for p in layout.snapshot_paths())
