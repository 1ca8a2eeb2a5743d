"""`semsearch serve --ray auto --shards 2` on a real multi-node Ray cluster (tests/ray_cluster.py), against
`semsearch serve` over the same index: the same answers over HTTP, and a write with the key; layouts the
nodes cannot place refused at once, and a start that runs out of time stopped with what was pending.

The cluster: a head and a worker node of 1 CPU each (where a 1-CPU ingress was once never placed beside two
0.5-CPU shards, and the default start hung), started with `ray start` in a network namespace that has only
its loopback. Both servers and the HTTP client (tests/loopback_http.py) run inside it.
The index: the seeds written one file per write with the real default model, so its segments are
split over the two shards. The module took about 180 s on the 2-core machine shared with other runs
(load about 10; 290 s at 20): the cluster's start and both servers' (about 65 s), the start that runs out of
time and the two refused layouts (about 45 s), the rest seconds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
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


def serve_on_ray(cluster: LoopbackCluster, index_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = cluster.run(
        str(VENV_BIN / "semsearch"), "serve", "--index-dir", str(index_dir), "--port", "8103", "--ray", "auto", *args,
        check=False, timeout=240,
    )
    return proc, time.monotonic() - started


FREE_CPUS = "import ray; ray.init(address='auto', logging_level='ERROR'); print(ray.available_resources().get('CPU', 0))"


@pytest.fixture(scope="module")
def start_out_of_time(cluster, index_dir):
    """The default layout given 1 s to start (its replicas take longer): run first, on the idle cluster (the
    servers' start after it shows it left the port and the CPUs free). Its exit, seconds, and the cluster's
    free CPUs after it."""
    proc, seconds = serve_on_ray(cluster, index_dir, "--shards", "2", "--ray-start-timeout", "1")
    free, deadline = "", time.monotonic() + 60
    while time.monotonic() < deadline and free != "2.0":  # the replicas' CPUs are released as their actors end
        free = cluster.run(sys.executable, "-c", FREE_CPUS, timeout=60, check=False).stdout.strip()
    return proc, seconds, free


@pytest.fixture(scope="module")
def servers(cluster, index_dir, start_out_of_time):
    env = {"SEMSEARCH_API_KEY": API_KEY}
    common = ("--index-dir", str(index_dir), "--host", "127.0.0.1")
    semsearch = str(VENV_BIN / "semsearch")
    started = [
        cluster.popen(semsearch, "serve", *common, "--port", "8101", env=env),
        cluster.popen(semsearch, "serve", *common, "--port", "8102", "--ray", "auto", "--shards", "2", env=env),
    ]
    try:
        # The sharded server first, probed from its start; a probe answers within 60 s or counts as a hang.
        sharded, single = http(cluster, {"wait": [SHARDED, SINGLE], "wait_s": 400, "probe_s": 60}, timeout=450)["ready"]
        yield single, sharded
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
    # The default layout on two 1-CPU nodes is placed. Meanwhile /readyz refused connections (no proxy yet),
    # or answered: 503 (with what the service is doing) until the index was loaded, then 200. A request
    # reaching the proxy before the ingress's replica runs waits for it (seconds), never for ever.
    seen = sharded_ready["seen"]
    assert {status for status, _, _ in seen} <= {"ConnectError", 503, 200}, seen
    assert all("not ready: " in text for status, _, text in seen if status == 503), seen
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
def test_serve_on_ray_stops_with_what_was_pending_when_the_start_runs_out_of_time(start_out_of_time):
    proc, seconds, free = start_out_of_time
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    error = proc.stderr[proc.stderr.index("semsearch: "):]
    assert "not running after" in error and "--ray-start-timeout 1" in error, error
    assert "Ray Serve: " in error and "pending resource demands: " in error and "CPU free" in error, error
    assert "--ray-ingress-cpus" in error and "--shards" in error, error
    assert seconds < 120, seconds  # connecting, deploying, 1 s, shutting Serve down
    assert free == "2.0"  # the application's replicas are gone


@needs_cluster
@pytest.mark.parametrize("args", [("--shards", "4", "--ray-ingress-cpus", "1"), ("--shards", "2", "--ray-ingress-cpus", "1")])
def test_serve_on_ray_refuses_at_once_a_layout_the_nodes_cannot_place(cluster, index_dir, args):
    # Also while the servers' application holds CPUs: the check counts what is free on each node now.
    proc, seconds = serve_on_ray(cluster, index_dir, *args)
    assert proc.returncode == 2 and "does not fit the Ray cluster's free CPUs" in proc.stderr, proc.stderr[-2000:]
    assert "--ray-ingress-cpus" in proc.stderr and "CPU free" in proc.stderr and "Traceback" not in proc.stderr
    assert seconds < 60, seconds  # no deployment was tried


def test_the_fit_check_packs_whatever_order_serve_places_the_replicas_in():
    pytest.importorskip("ray", reason="the ray extra is not installed")
    from semsearch.distributed.serving import ServeOptions, fit_problem

    assert fit_problem([1, 1], ServeOptions(shards=2)) is None  # the defaults on two 1-CPU nodes
    assert fit_problem([1, 1], ServeOptions(shards=3)) is None  # 2 CPUs used, in any order
    # The issue: an ingress of 1 CPU fits only if both shards land on one node; Serve spreads them.
    spread = fit_problem([1, 1], ServeOptions(shards=2, ingress_cpus=1))
    assert spread is not None and "lower --ray-ingress-cpus to 0.5" in spread and "1 + 1 CPU free" in spread
    assert fit_problem([2, 1], ServeOptions(shards=2, ingress_cpus=1)) is None  # some node keeps 1 CPU
    packed = fit_problem([1, 1], ServeOptions(shards=4, ingress_cpus=1))
    assert packed is not None and "4 shard replica(s)" in packed and "at most 2 shard replica(s) fit" in packed
    assert "--replicas 1" in packed
    busy = fit_problem([0.5, 0.25], ServeOptions(shards=1, ingress_cpus=1))
    assert busy is not None and "no node has the 1 CPU the ingress reserves" in busy and "0.5 + 0.25 CPU free" in busy
    assert fit_problem([0.5, 0.5], ServeOptions(shards=1, replicas=1)) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ray", "127.0.0.1:9", "--shards", "2"), "cannot reach the Ray cluster's head at 127.0.0.1:9"),
        (("--ray", "auto", "--shards", "0"), "--shards and --replicas: must be at least 1"),
        (("--shards", "2"), "--shards and --replicas need --ray ADDRESS"),
        (("--ray", "auto", "--ray-start-timeout", "0"), "--ray-start-timeout: must be more than 0"),
    ],
)
def test_serve_on_ray_refuses_clearly_without_a_cluster_or_with_bad_counts(tmp_path, args, message):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    proc = run_cli("serve", "--index-dir", str(tmp_path / "index"), *args, check=False, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
