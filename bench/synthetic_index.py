"""A synthetic index of N passages, for start-up and memory figures at a scale no model can embed here.

    python bench/synthetic_index.py [--passages 1000000] [--index-dir data/bench/synthetic-1m]
    python bench/startup.py --index-dir data/bench/synthetic-1m --launches 3

The real `IndexWriter` writes it (SQLite rows, BM25 terms, FAISS index of the type chosen for that
size, memory-mapped vectors, manifest), with two stand-ins, both for time: the vectors come from
the clustered mixture of `bench/vector_scale.py`, not from the model (1M passages would take the
model about two days on 2 cores), and every passage is one sentence, so pysbd is not run. The
manifest names the default model, so `semsearch serve` opens the index like any other; its answers
are meaningless, its load time and memory are not. Texts are about 40 words drawn (Zipf) from the
vocabulary of the seed articles, so the BM25 index has a realistic number of terms per passage.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _perf import disk_usage, peak_rss_mib  # noqa: E402
from vector_scale import Mixture  # noqa: E402

from semsearch.documents import Document  # noqa: E402
from semsearch.embedding.base import DEFAULT_MODEL, Embedder  # noqa: E402
from semsearch.index import chunking, writer  # noqa: E402
from semsearch.settings import Settings  # noqa: E402


class MixtureEmbedder(Embedder):
    """Clustered random unit vectors under the default model's name and size (see the module docstring)."""

    spec = DEFAULT_MODEL
    dim = 384
    max_tokens = 512

    def __init__(self) -> None:
        self.mixture = Mixture(self.dim)
        self.calls = 0

    def embed_passages(self, texts):
        self.calls += 1
        return self.mixture.draw(len(texts), seed=self.calls)

    def embed_queries(self, texts):
        return self.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return 2 + len(text) // 4


def one_sentence(text: str, lang: str = "fr") -> list[tuple[int, int]]:
    stripped = text.strip()
    if not stripped:
        return []
    start = text.index(stripped[0])
    return [(start, start + len(stripped))]


def synthetic_documents(n: int, seed: int = 0) -> list[Document]:
    words = re.findall(r"\w+", " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))).lower())
    vocab, counts = np.unique(words, return_counts=True)
    order = np.argsort(-counts)
    vocab = vocab[order]
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    rng = np.random.default_rng(seed)
    drawn = rng.choice(len(vocab), size=(n, 40), p=p)
    return [Document(f"syn-{i:07d}", " ".join(vocab[row]), lang="fr", date="2024-01", source="synthetic") for i, row in enumerate(drawn)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--index-dir", default=str(ROOT / "data" / "bench" / "synthetic-1m"))
    args = parser.parse_args()

    writer.sentence_spans = one_sentence
    chunking.sentence_spans = one_sentence
    started = time.perf_counter()
    documents = synthetic_documents(args.passages)
    print(f"{len(documents)} documents drawn in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    settings = Settings()
    started = time.perf_counter()
    # batches of 8,192: the stand-in draws a batch in one call (32 made the 1M build hours of per-call overhead)
    report = writer.IndexWriter(args.index_dir, MixtureEmbedder(), settings.chunking(), batch_size=8192).write(documents, progress=True)
    seconds = time.perf_counter() - started
    current = Path(args.index_dir)
    sizes = {}
    for segment in (current / "segments").iterdir():
        sizes = disk_usage(segment)
    print(
        f"{report.passages} passages written in {seconds:.0f} s (embedding stand-in {report.embed_seconds:.0f} s), "
        f"peak RSS {peak_rss_mib():.0f} MiB; on disk: "
        + ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in sorted(sizes.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
