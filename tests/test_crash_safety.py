"""SIGKILL during `semsearch index` and `semsearch optimize`: the index still loads and answers from a complete commit point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from semsearch.store.commit import CommitPoint
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
    before = layout.generation()
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
    assert layout.generation() == before  # the old commit is still the live one
    reader = open_index(seed_index)
    assert reader.summary.documents == 5
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
        reader = open_index(seed_index)
        assert reader.summary.documents in (5, 65)
        assert reader.size == reader.summary.passages == reader.commit.passages
        assert reader.size == sum(s.index.ntotal for s in reader.segments) - reader.commit.deleted


def _unnamed(layout: IndexDirectory) -> set[str]:
    """Segment folders no kept commit point names: what a crash between a segment's rename and its commit leaves."""
    named = {e.name for g in layout.generations() for e in CommitPoint.read(layout.commit_path(g)).segments}
    return {p.name for p in layout.segments.iterdir()} - named


def test_sigkill_between_a_segment_and_its_commit_point(seed_index, tmp_path):
    """SEMSEARCH_FAULT kills `semsearch index` after the new segment is renamed into segments/ and its
    tombstones written, but before the commit point that names them (every write point:
    tests/test_reliability_crash.py, through serve)."""
    point = "after_deletes"
    corpus = _corpus(tmp_path / "swap.jsonl", 3)
    run_cli("index", str(_corpus(tmp_path / "first.jsonl", 2)), "--index-dir", str(seed_index), "--quiet")  # depeche-0, 1
    records = [json.loads(line) for line in corpus.read_text().splitlines()]
    records[0]["text"] = records[0]["text"].replace("Dépêche 0.", "Dépêche zéro, revue.")  # depeche-0 changes
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    layout = IndexDirectory(seed_index)
    before = layout.generation()
    proc = run_cli("index", str(corpus), "--index-dir", str(seed_index), "--quiet", env={FAULT_ENV: point}, check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    assert layout.generation() == before and _unnamed(layout)  # the orphan: renamed into place, never named
    reader = open_index(seed_index)
    assert reader.summary.documents == 7 and "Dépêche 0." in reader.fetch_document("depeche-0")[0].text
    reader.close()
    # The next write removes what the crash left (a segment and tombstones no commit names) and completes.
    out = json.loads(run_cli("index", str(corpus), "--index-dir", str(seed_index), "--json").stdout)
    assert (out["added"], out["updated"], out["documents"]) == (1, 1, 8)
    assert not any(p.name.startswith(".tmp-") or p.name.endswith(".tmp") for p in seed_index.iterdir())
    assert not _unnamed(layout)
    kept = {(e.name, e.deletes) for g in layout.generations() for e in CommitPoint.read(layout.commit_path(g)).segments}
    assert {(p.parent.name, p.name) for p in layout.segments.glob("*/deletes_*.npy")} <= kept


def test_sigkill_inside_a_merge_loses_nothing(seed_index, tmp_path):
    """`semsearch optimize` killed after writing the merged segment (before its commit), then after the
    commit (before the merged-away segments are removed): the index answers with every document each time."""
    for i in range(3):
        run_cli("index", str(_corpus(tmp_path / f"c{i}.jsonl", i + 1)), "--index-dir", str(seed_index), "--quiet")
    layout = IndexDirectory(seed_index)
    segments = len(CommitPoint.read(layout.commit_path(layout.generation())).segments)
    assert segments == 4
    for point, expected in (("merge_written", segments), ("merge_committed", 1)):
        proc = run_cli("optimize", "--index-dir", str(seed_index), env={FAULT_ENV: point}, check=False)
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
        reader = open_index(seed_index)
        assert reader.summary.documents == 8 and len(reader.segments) == expected, point
        reader.close()
    out = json.loads(run_cli("optimize", "--index-dir", str(seed_index), "--json").stdout)
    assert (out["merges"], out["segments"], out["documents"]) == (0, 1, 8)
    assert not any(p.name.startswith(".tmp-") for p in seed_index.iterdir()) and not _unnamed(layout)
    results = search_json(seed_index, "Combien de soldats américains en Irak ?", "-k", "3")["results"]
    assert any(SOLDIERS.search(h["text"]) for h in results)
