"""Saved searches: the cost of matching one new article against 10,000 saved searches, beyond its embedding.

An index of the seeds gets N saved searches (a few real questions, the rest synthetic unit vectors, as
matching does not care what a vector means), then articles are written one at a time by IndexWriter (which
embeds them: not counted), and after each commit the alerts consumer matches the new segment:

- server path: `AlertsConsumer.catch_up(reader)` with the reader the server opened for that commit (as
  `ServiceState._swap` calls it);
- other-process path: `catch_up(index_dir)` as `semsearch index` runs it, opening the new segment itself.

Both include reading and saving the cursor, the product with every saved question, the filters, recording
hits and queueing webhooks in SQLite. The first match after the saved searches change also loads their
matrix from SQLite (reported apart: once per change of the saved searches, not per commit).

    python bench/alerts_match.py [--alerts 10000] [--articles 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, publish  # noqa: E402
from semsearch.alerts.consumer import AlertsConsumer, catch_up  # noqa: E402
from semsearch.alerts.store import AlertFilters, AlertStore  # noqa: E402
from semsearch.documents import Document  # noqa: E402
from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.index.writer import IndexWriter  # noqa: E402
from semsearch.ingest.readers import read_paths  # noqa: E402
from semsearch.settings import Settings  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402

QUESTIONS = [
    "Combien de soldats américains sont en Irak ?",
    "How many US soldiers are in Iraq?",
    "Quand la coalition internationale quittera-t-elle l'Irak ?",
    "Quand la tour Eiffel sera-t-elle repeinte ?",
]
ARTICLE = (
    "Les discussions entre Bagdad et Washington sur le retrait des {n} soldats de la coalition internationale ont "
    "repris lundi, a indiqué le ministère irakien des Affaires étrangères. Une commission militaire conjointe doit "
    "fixer le calendrier du départ des troupes étrangères avant la fin de l'année. Le Premier ministre a rappelé "
    "que la mission de combat avait pris fin et que les forces irakiennes assuraient désormais seules la sécurité "
    "du pays. Les groupes armés pro-iraniens réclament un départ plus rapide."
)


def add_alerts(store: AlertStore, embedder, count: int, dim: int) -> None:
    rng = np.random.default_rng(7)
    real = embedder.embed_queries(QUESTIONS)
    conn = store._conn()  # bulk insert for the set-up only (the API adds one at a time)
    conn.execute("BEGIN")
    for i in range(count):
        if i < 100:
            vector = real[i % len(real)]
            query = QUESTIONS[i % len(real)]
            lang = "en" if query.startswith("How") else "fr"
            filters = AlertFilters(date_from="2024") if i % 2 else AlertFilters()
        else:
            vector = rng.standard_normal(dim).astype(np.float32)
            vector /= np.linalg.norm(vector)
            query, lang, filters = f"synthetic question {i}", "fr", AlertFilters(source="AFP" if i % 3 == 0 else None)
        f = filters
        conn.execute(
            "INSERT INTO alerts(name, query, mode, date_from, date_to, source, lang, query_lang, model, vector, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (f"a{i}", query, "hybrid", f.date_from, f.date_to, f.source, f.lang, lang, embedder.spec, vector.tobytes(), "2026-01-01T00:00:00Z"),
        )
    store._bump(conn)
    conn.execute("COMMIT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not add to BENCHMARKS.md")
    args = parser.parse_args()

    embedder = load_embedder()
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        writer = IndexWriter(index_dir, embedder, settings.chunking(), settings.index_type, settings.embed_batch_size)
        writer.write(read_paths([ROOT / "seeds"]).documents)
        reader = open_index(index_dir)
        store = AlertStore(index_dir)
        consumer = AlertsConsumer(index_dir, store)
        consumer.start_cursor(reader)
        add_alerts(store, embedder, args.alerts, reader.commit.dim)
        started = time.perf_counter()
        store.matrix(reader.commit.dim)
        load_ms = (time.perf_counter() - started) * 1000

        served, other, embed, hits, passages, cpu = [], [], [], [], [], []
        for i in range(args.articles):
            for path, sink in (("server", served), ("process", other)):
                doc = Document(f"new/{path}-{i}.txt", ARTICLE.format(n=2500 + i), title=f"Irak : le retrait des troupes ({i})",
                               date="2024-06-0" + str(1 + i % 9), source="AFP", lang="fr")
                started = time.perf_counter()
                writer.write([doc])
                embed.append((time.perf_counter() - started) * 1000)
                if path == "server":
                    reader = open_index(index_dir, previous=reader)
                    started = time.process_time()
                    result = consumer.catch_up(reader)
                    cpu.append((time.process_time() - started) * 1000)
                else:
                    result = catch_up(index_dir)
                assert result is not None
                sink.append(result.ms)
                hits.append(len(result.hits))
                passages.append(result.passages)
        shutil.rmtree(index_dir, ignore_errors=True)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    def fmt(values: list[float]) -> str:
        return f"median {statistics.median(values):.1f} ms (min {min(values):.1f}, max {max(values):.1f})"

    body = f"""Matching one new article ({statistics.median(passages):.0f} passage(s)) against {args.alerts:,} saved searches
(100 real questions, the rest synthetic unit vectors; each article answers about {statistics.median(hits):.0f} of them), {args.articles}
articles per path, after its write (the write itself, embedding included: {fmt(embed)}, not counted):

| path | matching time beyond the embedding |
| --- | --- |
| server (reader of the new commit already open) | {fmt(served)} |
| another process (`semsearch index`: opens the new segment, loads the saved questions from SQLite) | {fmt(other)} |
| server path, CPU time of the process (without the waits for fsync and for the CPU) | {fmt(cpu)} |
| loading the {args.alerts:,} saved questions from SQLite (once per change of the saved searches) | {load_ms:.1f} ms |

The product is one (sentences x {args.alerts:,}) matrix; its cost grows with the article's sentences and the number of
saved searches, not with the index. Measured under the load average shown ({load}), on 2 shared cores: wall
times include waiting for the CPU and two fsyncs (the hits' SQLite commit, the cursor), each one durable."""
    publish("Saved searches: matching a new article", body, args.no_write)


if __name__ == "__main__":
    main()
