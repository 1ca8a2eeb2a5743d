"""`semsearch serve --ray auto --shards 2` on a real multi-node Ray cluster (tests/ray_cluster.py), against
`semsearch serve` over the same index: the same answers over HTTP, and a write with the key.

The cluster: a head and a worker node of 1 CPU each (the small cluster where a 1-CPU ingress once could
never be placed beside two 0.5-CPU shards), started with `ray start` in a network namespace that has only
its loopback. Both servers and the HTTP client (tests/loopback_http.py) run inside it.
The index: the seeds written one file per write with the real default model, so its segments are
split over the two shards. The module took about 100 s on the 2-core machine shared with other runs
(load about 12): the cluster's start and both servers' (about 65 s), the rest seconds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SEEDS, run_cli
from .ray_cluster import VENV_BIN, LoopbackCluster, unavailable
from .service_helpers import API_KEY, AUTH

CLIENT = Path(__file__).with_name("loopback_http.py")
SINGLE, SHARDED = "http://127.0.0.1:8101", "http://127.0.0.1:8102"
QUESTIONS = [
    "Combien de soldats américains sont en Irak ?",
    "How many US soldiers are in Iraq?",
    "Who won the election?",
    "Quel est le prix de l'électricité ?",
    "retrait des troupes",
]
SEARCHES = [{"q": q, "mode": m} for q in QUESTIONS for m in ("hybrid", "dense", "lexical")] + [
    {"q": QUESTIONS[0], "lang": "fr", "facets": "source,lang"},
    {"q": QUESTIONS[1], "k": 3, "collapse": "false", "per_doc": 1},
]

pytestmark = pytest.mark.timeout(600)
needs_cluster = pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "")


@pytest.fixture(scope="module")
def cluster():
    with LoopbackCluster(workers=1, cpus_per_node=1) as running:
        yield running


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, embedder) -> Path:
    from semsearch.index.writer import IndexWriter
    from semsearch.ingest.readers import read_paths

    root = tmp_path_factory.mktemp("serve") / "index"
    writer = IndexWriter(root, embedder)
    for path in sorted(SEEDS.glob("*.txt")):
        writer.write(read_paths([path]).documents)
    return root


def http(cluster: LoopbackCluster, spec: dict, timeout: float = 400) -> dict:
    proc = cluster.run(sys.executable, str(CLIENT), json.dumps(spec), timeout=timeout)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def servers(cluster, index_dir):
    env = {"SEMSEARCH_API_KEY": API_KEY}
    common = ("--index-dir", str(index_dir), "--host", "127.0.0.1")
    semsearch = str(VENV_BIN / "semsearch")
    started = [
        cluster.popen(semsearch, "serve", *common, "--port", "8101", env=env),
        cluster.popen(semsearch, "serve", *common, "--port", "8102", "--ray", "auto", "--shards", "2", env=env),
    ]
    try:
        ready = http(cluster, {"wait": [SINGLE, SHARDED], "wait_s": 400}, timeout=450)["ready"]
        yield ready
    finally:
        for proc in started:
            proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=30)


def ranked(answer: dict) -> list[tuple]:
    assert answer["status"] == 200, answer
    body = answer["body"]
    return [
        (h["doc_id"], h["passage_id"], h["highlight"], [d["passage_id"] for d in h["duplicates"]]) for h in body["results"]
    ] + [body["total"], body["total_relation"], body["query_lang"], body.get("facets")]


@needs_cluster
def test_serve_on_ray_with_two_shards_answers_like_semsearch_serve(cluster, servers):
    single_ready, sharded_ready = servers
    assert sharded_ready["documents"] == single_ready["documents"] == 5
    # Default CPUs on two 1-CPU nodes: deployed and ready; meanwhile /readyz answered (503 while it was
    # starting, or no connection before the proxy listened), never held a request until it timed out.
    assert "ReadTimeout" not in sharded_ready["seen"] and set(sharded_ready["seen"]) <= {200, 503, 404, "ConnectError"}
    requests = [{"url": f"{base}/search", "params": p} for p in SEARCHES for base in (SINGLE, SHARDED)]
    requests += [{"url": f"{base}{path}"} for path in ("/", "/stats") for base in (SINGLE, SHARDED)]
    answers = http(cluster, {"requests": requests})["answers"]
    searches, (page, page_ray, stats, stats_ray) = answers[: 2 * len(SEARCHES)], answers[2 * len(SEARCHES) :]
    found = 0
    for params, want, got in zip(SEARCHES, searches[::2], searches[1::2]):
        assert ranked(got) == ranked(want), params
        scores = [h["score"] for h in got["body"]["results"]]
        assert scores == pytest.approx([h["score"] for h in want["body"]["results"]], abs=1e-4), params
        found += len(scores)
    assert found >= len(SEARCHES)  # the questions find passages
    assert page_ray["status"] == 200 and "text/html" in page_ray["type"] and page_ray["body"] == page["body"]
    assert stats_ray["body"]["segments"] == stats["body"]["segments"] == 5
    same = ("documents", "passages", "model")
    assert {k: stats_ray["body"][k] for k in same} == {k: stats["body"][k] for k in same}


@needs_cluster
def test_serve_on_ray_takes_a_write_with_the_key_and_finds_it_at_once(cluster, servers):
    doc = {
        "id": "ray/tram",
        "text": "La métropole a inauguré samedi la nouvelle ligne de tramway qui relie la gare au campus universitaire.",
        "lang": "fr",
    }
    answers = http(cluster, {"requests": [
        {"method": "POST", "url": f"{SHARDED}/documents", "json": {"documents": [doc]}},
        {"method": "POST", "url": f"{SHARDED}/documents", "json": {"documents": [doc]}, "headers": AUTH},
        {"url": f"{SHARDED}/search", "params": {"q": "Quand la ligne de tramway vers le campus a-t-elle été inaugurée ?"}},
        {"url": f"{SHARDED}/documents/ray%2Ftram"},
        {"url": f"{SHARDED}/documents/ray%2Ftram/similar"},
        {"url": f"{SHARDED}/stats"},
    ]})["answers"]
    no_key, written, search, document, similar, stats = answers
    assert no_key["status"] == 401
    assert written["status"] == 200, written
    assert search["body"]["results"][0]["doc_id"] == "ray/tram"
    assert document["status"] == 200 and document["body"]["doc_id"] == "ray/tram"
    assert similar["status"] == 501 and "serve --ray" in similar["body"]["error"]["message"]
    assert stats["body"]["documents"] == 6  # (segments: a merge may already have run)


@needs_cluster
@pytest.mark.parametrize("args", [("--shards", "2", "--ray-ingress-cpus", "1"), ("--shards", "4")])
def test_serve_on_ray_refuses_at_once_a_layout_the_nodes_cannot_place(cluster, servers, index_dir, args):
    # The other application holds 1.5 of the 2 CPUs meanwhile: the check counts what is free on each node.
    proc = cluster.run(
        str(VENV_BIN / "semsearch"), "serve", "--index-dir", str(index_dir), "--port", "8103", "--ray", "auto", *args,
        check=False, timeout=120,
    )
    assert proc.returncode == 2 and "does not fit the Ray cluster" in proc.stderr, proc.stderr[-2000:]
    assert "CPU free" in proc.stderr and "--ray-ingress-cpus" in proc.stderr and "Traceback" not in proc.stderr


def test_the_fit_check_places_the_ingress_after_ray_spreads_the_shards():
    pytest.importorskip("ray", reason="the ray extra is not installed")
    from semsearch.distributed.serving import ServeOptions, fit_problem

    assert fit_problem([1, 1], ServeOptions(shards=2)) is None  # the defaults pack on two 1-CPU nodes
    spread = fit_problem([1, 1], ServeOptions(shards=2, ingress_cpus=1))
    assert spread is not None and "lower --ray-ingress-cpus to 0.5" in spread
    assert fit_problem([2, 1], ServeOptions(shards=2, ingress_cpus=1)) is None
    packed = fit_problem([1, 1], ServeOptions(shards=4))
    assert packed is not None and "cannot be packed on nodes with 1 + 1 CPU free" in packed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ray", "127.0.0.1:9", "--shards", "2"), "cannot reach the Ray cluster's head at 127.0.0.1:9"),
        (("--ray", "auto", "--shards", "0"), "--shards and --replicas: must be at least 1"),
        (("--shards", "2"), "--shards and --replicas need --ray ADDRESS"),
    ],
)
def test_serve_on_ray_refuses_clearly_without_a_cluster_or_with_bad_counts(tmp_path, args, message):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    proc = run_cli("serve", "--index-dir", str(tmp_path / "index"), *args, check=False, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
