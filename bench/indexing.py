"""Indexing throughput: `IndexWriter.write` end to end against the embedder alone on the same texts.

    python bench/indexing.py [--docs N] [--batch-size 32] [--repeat 1] [--max-load 2.5] [--profile] [--no-write]

Corpus: PIAF dev paragraphs (../shared/eval/piaf-dev.json), each one document under its
article title, as in `semsearch eval`. The writer embeds every passage and, separately, every
sentence of the passages that have more than one (or whose embedded text carries a title): the
script records exactly the batches the writer sends to the model, then replays them on the bare
embedder, so "embedder alone" is the same texts in the same batches. Overhead is the writer's
time that is not a model call (chunking, sentence splitting, SQLite, BM25, FAISS, fsync), as a
share of the end-to-end time. Also: peak RSS during the write, and bytes on disk per passage.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import add_timer, disk_usage, load_text, peak_rss_mib, reset_peak_rss, rss_mib, wait_for_quiet  # noqa: E402

TARGET_OVERHEAD = 0.10


class RecordingEmbedder:
    """Delegates to the real embedder; records each passage batch and times every model call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.spec, self.dim, self.max_tokens = inner.spec, inner.dim, inner.max_tokens
        self.batches: list[list[str]] = []
        self.latent_batches: list[list[str]] = []
        self.embed_seconds = 0.0  # every model call: vectors and latent terms
        self.count_seconds = 0.0

    def _model_call(self, call, texts: Sequence[str], batches: list[list[str]]):
        texts = list(texts)
        started = time.perf_counter()
        out = call(texts)
        self.embed_seconds += time.perf_counter() - started
        batches.append(texts)
        return out

    def embed_passages(self, texts: Sequence[str]):
        return self._model_call(self.inner.embed_passages, texts, self.batches)

    def latent_terms(self, texts: Sequence[str]):
        return self._model_call(self.inner.latent_terms, texts, self.latent_batches)

    def embed_queries(self, texts: Sequence[str]):
        return self.inner.embed_queries(texts)

    def embed_query(self, text: str):
        return self.inner.embed_query(text)

    def count_tokens(self, text: str) -> int:
        started = time.perf_counter()
        try:
            return self.inner.count_tokens(text)
        finally:
            self.count_seconds += time.perf_counter() - started


STAGES = ("_open_copy", "_plan", "_chunk", "_embed", "_apply_rows", "_write_vectors_and_terms", "_manifest")


def timed_writer(writer, timings: dict[str, float]):
    """Wrap the writer's steps (and the publish step of its layout) with timers."""
    for stage in STAGES:
        add_timer(writer, stage, timings)
    add_timer(writer.layout, "publish", timings, "publish (fsync, rename)")
    return writer


def run_write(embedder, documents, index_dir: Path, batch_size: int, chunking, profile: bool = False) -> dict:
    from semsearch.index.writer import IndexWriter

    shutil.rmtree(index_dir, ignore_errors=True)
    recorder = RecordingEmbedder(embedder)
    timings: dict[str, float] = {}
    writer = timed_writer(IndexWriter(index_dir, recorder, chunking, batch_size=batch_size), timings)
    docs = copy.deepcopy(documents)  # the writer fills in `lang`
    rss_before = rss_mib()
    reset_peak_rss()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = writer.write(docs)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    segment = next((index_dir / "segments").iterdir())  # the one segment of a fresh index
    return {
        "seconds": seconds,
        "report": report,
        "recorder": recorder,
        "timings": timings,
        "rss_before": rss_before,
        "peak_rss": peak,
        "disk": disk_usage(segment),
        "profile": profiler,
    }


def replay(embedder, batches: list[list[str]], latent_batches: list[list[str]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        embedder.embed_passages(batch)
    for batch in latent_batches:
        embedder.latent_terms(batch)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=0, help="index only the first N PIAF paragraphs (default: all 399)")
    parser.add_argument("--batch-size", type=int, default=32, help="IndexWriter batch size (default 32, as SEMSEARCH_EMBED_BATCH_SIZE)")
    parser.add_argument("--repeat", type=int, default=1, help="alternate write and replay this many times; medians reported")
    parser.add_argument("--max-load", type=float, default=None, help="wait (up to 10 min) for the 1-min load average to drop under this")
    parser.add_argument("--index-dir", default=None, help="where to write the index (default: a temporary folder)")
    parser.add_argument("--profile", action="store_true", help="cProfile one write and print the top functions (nothing appended)")
    parser.add_argument("--title", default="Indexing throughput (PIAF paragraphs)", help="BENCHMARKS.md section title")
    parser.add_argument("--note", default="", help="a line added under the tables (what changed since the last run)")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0

    from semsearch.embedding import load_embedder
    from semsearch.evaluation.datasets import load_eval_set
    from semsearch.settings import Settings

    dataset = load_eval_set(PIAF)
    documents = dataset.documents[: args.docs] if args.docs else dataset.documents
    settings = Settings()
    reset_peak_rss()
    started = time.perf_counter()
    embedder = load_embedder(settings.model)
    load_seconds = time.perf_counter() - started
    embedder.embed_passages(["échauffement du modèle", "warm-up"])
    model_rss = rss_mib()
    temp = Path(tempfile.mkdtemp(prefix="semsearch-bench-indexing-"))
    index_dir = Path(args.index_dir) if args.index_dir else temp / "index"

    if args.profile:
        run = run_write(embedder, documents, index_dir, args.batch_size, settings.chunking(), profile=True)
        out = io.StringIO()
        stats = pstats.Stats(run["profile"], stream=out).sort_stats("tottime")
        stats.print_stats(30)
        print(out.getvalue())
        print(f"write {run['seconds']:.2f} s, model calls {run['recorder'].embed_seconds:.2f} s, stages {run['timings']}")
        shutil.rmtree(temp, ignore_errors=True)
        return 0

    loads: list[str] = []
    runs, replays = [], []
    for i in range(args.repeat):
        loads.append(wait_for_quiet(args.max_load))
        run = run_write(embedder, documents, index_dir, args.batch_size, settings.chunking())
        runs.append(run)
        replays.append(replay(embedder, run["recorder"].batches, run["recorder"].latent_batches))
        print(
            f"run {i + 1}: write {run['seconds']:.1f} s (model calls {run['recorder'].embed_seconds:.1f} s), "
            f"embedder alone {replays[-1]:.1f} s, load {load_text()}",
            file=sys.stderr,
            flush=True,
        )
    loads.append(load_text())
    shutil.rmtree(temp, ignore_errors=True)

    last = runs[-1]
    report = last["report"]
    n_passages = report.passages_embedded
    n_texts = sum(len(b) for b in last["recorder"].batches)
    e2e = statistics.median(r["seconds"] for r in runs)
    in_write = statistics.median(r["recorder"].embed_seconds for r in runs)
    alone = statistics.median(replays)
    overhead_in_run = statistics.median((r["seconds"] - r["recorder"].embed_seconds) / r["seconds"] for r in runs)
    overhead_vs_alone = (e2e - alone) / e2e
    rows = [
        ["end to end (`IndexWriter.write`)", f"{e2e:.2f}", f"{n_passages / e2e:.1f}", f"{n_texts / e2e:.1f}"],
        ["model calls inside the write", f"{in_write:.2f}", f"{n_passages / in_write:.1f}", f"{n_texts / in_write:.1f}"],
        ["embedder alone, same batches", f"{alone:.2f}", f"{n_passages / alone:.1f}", f"{n_texts / alone:.1f}"],
    ]
    stage_rows = []
    timings = last["timings"]
    for label, seconds in sorted(timings.items(), key=lambda kv: -kv[1]):
        if label == "_embed":
            model = last["recorder"].embed_seconds
            stage_rows.append(["_embed: model calls", f"{model:.3f}", f"{100 * model / last['seconds']:.1f}%"])
            label, seconds = "_embed: sentence splitting, assembly", seconds - model
        elif label == "_chunk":
            tok = last["recorder"].count_seconds
            stage_rows.append(["_chunk: count_tokens (model tokenizer)", f"{tok:.3f}", f"{100 * tok / last['seconds']:.1f}%"])
            label, seconds = "_chunk: the rest", seconds - tok
        stage_rows.append([label, f"{seconds:.3f}", f"{100 * seconds / last['seconds']:.1f}%"])
    rest = last["seconds"] - sum(timings.values())
    stage_rows.append(["other (lock, temp dir, counts)", f"{rest:.3f}", f"{100 * rest / last['seconds']:.1f}%"])
    disk = last["disk"]
    total_bytes = sum(disk.values())
    disk_rows = [[name, f"{size / 1024:.0f}", f"{size / report.passages:.0f}"] for name, size in disk.items()]
    disk_rows.append(["**total**", f"{total_bytes / 1024:.0f}", f"{total_bytes / report.passages:.0f}"])
    verdict = "met" if overhead_in_run <= TARGET_OVERHEAD else "MISSED"
    body = (
        f"{len(documents)} PIAF paragraphs -> {report.passages} passages; the writer embedded {n_passages} passage texts "
        f"and {n_texts - n_passages} sentence texts ({n_texts} texts, {len(last['recorder'].batches)} batches of up to "
        f"{args.batch_size}). Model `{embedder.spec}` loaded in {load_seconds:.2f} s. Median of {args.repeat} run(s). "
        f"Load average (1/5/15 min) at the start of each run: {'; '.join(loads[:-1])}; at the end: {loads[-1]}.\n\n"
        + markdown_table(["what", "seconds", "passages/s", "texts/s"], rows)
        + f"\n\nOverhead beyond embedding: **{100 * overhead_in_run:.1f}%** of end-to-end time (write minus its own model calls; "
        f"target <= {100 * TARGET_OVERHEAD:.0f}%: {verdict}); against the separate embedder-alone replay: {100 * overhead_vs_alone:.1f}% "
        "(noisier: two runs under a shared load).\n\n"
        "Where the write's time goes (last run):\n\n"
        + markdown_table(["step", "seconds", "share"], stage_rows)
        + f"\n\nMemory: RSS {model_rss:.0f} MiB with the model loaded, {last['rss_before']:.0f} MiB before the write, "
        f"peak {last['peak_rss']:.0f} MiB during it (VmHWM reset before the write).\n\n"
        f"Index on disk (one segment, {report.passages} passages):\n\n"
        + markdown_table(["file", "KiB", "bytes/passage"], disk_rows)
    )
    if args.note:
        body += f"\n\n{args.note}"
    publish(args.title, body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
