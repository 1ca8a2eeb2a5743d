"""What latent terms cost: CPU a PIAF paragraph against its embedding, a question's extra model call, bytes a passage.

    python bench/latent_terms.py [--docs 100] [--questions 100] [--no-write]

Latent terms (embedding/base.py `LatentTerms`, store/latent.py) are computed by the default model's sparse
head from the passage's own text, in a model call of their own; a question asks for its own only when a
candidate is in another language (search/fusion.py). Measured here in one process, one engine thread, as
the writer and the searcher call them: process CPU time of `embed_passages` and of `latent_terms` over the
same paragraphs in the writer's batches of 32, and of `embed_queries` and `latent_terms` one question at a time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, markdown_table, piaf_missing, publish  # noqa: E402
from _perf import load_text  # noqa: E402

from semsearch.embedding import load_embedder  # noqa: E402
from semsearch.evaluation.datasets import load_eval_set  # noqa: E402
from semsearch.store import latent  # noqa: E402


def cpu(call, items: list, batch: int) -> float:
    """Process CPU seconds of `call` over items in batches."""
    started = time.process_time()
    for i in range(0, len(items), batch):
        call(items[i:i + batch])
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    dataset = load_eval_set(PIAF)
    texts = [d.text for d in dataset.documents[: args.docs]]
    questions = list(dataset.queries.values())[: args.questions]
    embedder = load_embedder()
    embedder.embed_passages(texts[:2]), embedder.latent_terms(texts[:2])  # warm-up
    load_before = load_text()
    dense = cpu(embedder.embed_passages, texts, 32)
    sparse = cpu(embedder.latent_terms, texts, 32)
    query_dense = cpu(embedder.embed_queries, questions, 1)
    query_sparse = cpu(embedder.latent_terms, questions, 1)
    blobs = [latent.encode(*t) for t in embedder.latent_terms(texts)]
    tokens = np.mean([embedder.count_tokens(t) for t in texts])
    rows = [
        ["paragraph: passage vector (`embed_passages`)", f"{1000 * dense / len(texts):.0f} ms", "1.00x"],
        ["paragraph: latent terms (`latent_terms`)", f"{1000 * sparse / len(texts):.0f} ms", f"{sparse / dense:.2f}x"],
        ["question: vector (`embed_queries`)", f"{1000 * query_dense / len(questions):.1f} ms", "1.00x"],
        ["question: latent terms", f"{1000 * query_sparse / len(questions):.1f} ms", f"{query_sparse / query_dense:.2f}x"],
    ]
    body = (
        f"{len(texts)} PIAF paragraphs (mean {tokens:.0f} tokens), {len(questions)} PIAF questions; process CPU time, "
        f"model `{embedder.spec}`; load {load_before} -> {load_text()}.\n\n"
        + markdown_table(["what", "CPU each", "against the vector"], rows)
        + f"\n\nStored: {np.mean([len(b) for b in blobs]):.0f} bytes a passage on average "
        f"({np.mean([(len(b) - 4) // 3 for b in blobs]):.0f} features of 3 bytes and a 4-byte scale), in the segment's SQLite file."
    )
    publish("Latent terms: what they cost", body, args.no_write, part="## Search quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
