"""Soak: searches from many client threads while a writer adds and deletes documents, against a real
`semsearch serve` on a loopback port. Zero errors, results always consistent, memory flat.

    python bench/soak.py [--duration 300] [--clients 16] [--index-dir PATH] [--no-write]

Without --index-dir the seeds are indexed into a scratch folder first; with it, a copy of that index
is used (the original is never written). Prints a table and appends a section to BENCHMARKS.md.

Checks, for every answer:
- status 200 (searches and writes alike); any other status or transport error counts as an error;
- no result names a document whose deletion was acknowledged before the search was sent;
- every result names a seed or a document the writer added;
- after each acknowledged add, a search for the document's own token finds it (read-your-writes).
Memory: the server's RSS (VmRSS of /proc/<pid>/status) and its open file descriptors, sampled twice a
second; after warm-up (the first 20% of the run) the median of the last third must stay within 20% of
the median of the first third.

The load itself (`run_soak`) is tests/soak_load.py, which the suite runs for 30 s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.soak_load import RSS_TOLERANCE, run_soak  # noqa: E402

# -- the command --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _semsearch() -> list[str]:
    exe = shutil.which("semsearch", path=str(Path(sys.executable).parent)) or shutil.which("semsearch")
    return [exe] if exe else [sys.executable, "-m", "semsearch.cli"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--clients", type=int, default=16, help="search threads (default 16)")
    parser.add_argument("--index-dir", help="an index to copy (default: the seeds, indexed first)")
    parser.add_argument("--no-write", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import ROOT, publish

    with tempfile.TemporaryDirectory(prefix="semsearch-soak-") as scratch:
        index_dir = Path(scratch) / "index"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
        if args.index_dir:
            shutil.copytree(args.index_dir, index_dir)
        else:
            print("indexing the seeds...", file=sys.stderr)
            subprocess.run([*_semsearch(), "index", str(ROOT / "seeds"), "--index-dir", str(index_dir), "--quiet"], check=True, env=env)
        from semsearch.store.reader import open_index

        reader = open_index(index_dir)
        seed_ids = set(reader.rows.doc_ids)
        reader.close()
        api_key = secrets.token_hex(16)
        port = _free_port()
        env["SEMSEARCH_API_KEY"] = api_key
        log_path = Path(scratch) / "serve.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [*_semsearch(), "serve", "--index-dir", str(index_dir), "--host", "127.0.0.1", "--port", str(port)],
                cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 180
                while True:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print(log_path.read_text()[-3000:], file=sys.stderr)
                        return 1
                    try:
                        if httpx.get(f"{base}/readyz", timeout=5, trust_env=False).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.3)
                print(f"soaking {args.duration:.0f} s with {args.clients} search clients and one writer...", file=sys.stderr)
                result = run_soak(base, server.pid, api_key, args.duration, args.clients, seed_ids)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
        log_text = log_path.read_text(errors="replace")
    if api_key in log_text:
        result.errors.append("the API key appears in the server log")
    if "Traceback" in log_text:
        result.errors.append("a traceback in the server log")
    verdict = "PASS" if not result.errors and result.memory_flat else "FAIL"
    body = result.table() + f"\n\nVerdict: **{verdict}** (zero errors, RSS growth within {RSS_TOLERANCE:.0%} after warm-up)."
    if result.errors:
        body += "\n\nFirst errors:\n\n" + "\n".join(f"- {e}" for e in result.errors[:10])
    publish(f"Soak: {args.clients} search clients and a writer for {args.duration:.0f} s", body, args.no_write)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
