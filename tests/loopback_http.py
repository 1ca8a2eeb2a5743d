"""An HTTP client run inside a cluster's network namespace (tests/ray_cluster.py), where the servers
listen: `python tests/loopback_http.py JSON` waits for each server's /readyz, sends the requests and
prints their answers as JSON. Shared by tests/test_ray_serve.py and bench/ray_serving.py.

JSON: {"wait": [base URLs], "wait_s": 300, "probe_s": 10, "requests": [{"method", "url", "params", "json", "headers"}],
       "repeat": {"url", "params", "seconds", "clients"}}   (repeat: a load run, for the benchmark)
"""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx


def wait_ready(client: httpx.Client, base: str, timeout: float, probe_timeout: float = 10) -> dict:
    """/readyz's answer once it is 200, with `seen`: each probe's status (or error's name, a ReadTimeout being
    a request held past probe_timeout), seconds to its answer, and a 503's message."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    seen: list[list] = []
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            answer = client.get(f"{base}/readyz", timeout=probe_timeout)
            seen.append([answer.status_code, round(time.monotonic() - started, 1), answer.text[:300]])
            if answer.status_code == 200:
                return {**answer.json(), "seen": seen}
            last = answer.text[:300]
        except httpx.HTTPError as exc:
            seen.append([type(exc).__name__, round(time.monotonic() - started, 1), ""])
            last = repr(exc)
        time.sleep(1)
    raise SystemExit(f"{base} not ready within {timeout:.0f} s: {last}")


def send(client: httpx.Client, request: dict) -> dict:
    answer = client.request(
        request.get("method", "GET"), request["url"], params=request.get("params"), json=request.get("json"),
        headers=request.get("headers"), timeout=120,
    )
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    return {"status": answer.status_code, "body": body, "type": answer.headers.get("content-type", "")}


def load(spec: dict) -> dict:
    """`clients` threads repeat one GET for `seconds`: latencies (ms) and requests per second."""
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + spec["seconds"]

    def worker() -> None:
        with httpx.Client() as client:
            while time.monotonic() < stop:
                started = time.perf_counter()
                answer = client.get(spec["url"], params=spec.get("params"), timeout=120)
                latencies.append((time.perf_counter() - started) * 1000)
                errors[0] += answer.status_code != 200

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(spec["clients"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies_ms": latencies, "seconds": time.perf_counter() - started, "errors": errors[0]}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    out: dict = {}
    with httpx.Client() as client:
        out["ready"] = [wait_ready(client, base, spec.get("wait_s", 300), spec.get("probe_s", 10)) for base in spec.get("wait", [])]
        out["answers"] = [send(client, r) for r in spec.get("requests", [])]
    if "repeat" in spec:
        out["load"] = load(spec["repeat"])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
