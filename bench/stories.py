"""Stories: where the same-story floor sits, measured on a shuffled PIAF slice and on the seeds.

    python bench/stories.py [--index-dir data/bench/stories-piaf] [--seeds-index DIR] [--orders 5] [--no-write]

PIAF dev's paragraphs are indexed as documents without their article title (the title would put the
answer in every vector) and in a shuffled order; each paragraph's Wikipedia article is its "story".
StoryClusterer (the class the server uses) places them one by one, in several shuffled orders, for each
floor. Purity: the share of paragraphs whose story's majority article is theirs (no mixing); completeness
(inverse purity): the share of paragraphs in their article's largest story (no splitting). Pairs: how
often two paragraphs of one article share a story, against two of different articles. The seeds show
which stories their five articles form at each floor.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, piaf_missing, publish  # noqa: E402

from semsearch.documents import Document  # noqa: E402
from semsearch.store.reader import open_index  # noqa: E402
from semsearch.stories.cluster import StoryClusterer, StoryConfig  # noqa: E402

SEEDS_DIR = ROOT / "seeds"
FLOORS = [(0.86, 0.90), (0.87, 0.91), (0.88, 0.91), (0.88, 0.92), (0.89, 0.92), (0.89, 0.93), (0.90, 0.93), (0.92, 0.95), (0.95, 0.97)]


def ensure_index(index_dir: Path, documents: list[Document]) -> None:
    from semsearch.embedding import load_embedder
    from semsearch.index.writer import IndexWriter
    from semsearch.settings import Settings
    from semsearch.store.layout import IndexDirectory

    if IndexDirectory(index_dir).generation():
        return
    settings = Settings()
    print(f"indexing {len(documents)} documents into {index_dir} (once)", file=sys.stderr, flush=True)
    IndexWriter(index_dir, load_embedder(settings.model), settings.chunking()).write(documents)


def document_vectors(index_dir: Path) -> tuple[list[str], np.ndarray]:
    """Each live document's mean passage vector, normalized: what the stories consumer places."""
    reader = open_index(index_dir)
    rows = reader.rows
    vectors = np.asarray(reader.vectors[np.arange(reader.size)], np.float32)
    sums = np.zeros((len(rows.doc_ids), vectors.shape[1]), np.float32)
    np.add.at(sums, rows.doc_index, vectors)
    sums /= np.linalg.norm(sums, axis=1, keepdims=True)
    return list(rows.doc_ids), sums


def cluster(vectors: np.ndarray, order: list[int], config: StoryConfig) -> np.ndarray:
    clusterer = StoryClusterer(config)
    placed = {i: clusterer.place(vectors[i]) for i in order}
    return np.array([clusterer.resolve(placed[i]) for i in range(len(vectors))])


def scores(labels: list[str], stories: np.ndarray) -> dict[str, float]:
    n = len(labels)
    by_story: dict[int, Counter] = {}
    by_label: dict[str, Counter] = {}
    for label, story in zip(labels, stories.tolist()):
        by_story.setdefault(story, Counter())[label] += 1
        by_label.setdefault(label, Counter())[story] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_story.values()) / n
    completeness = sum(c.most_common(1)[0][1] for c in by_label.values()) / n
    same_label = np.array(labels)[:, None] == np.array(labels)[None, :]
    same_story = stories[:, None] == stories[None, :]
    off = ~np.eye(n, dtype=bool)
    together = float((same_story & same_label & off).sum() / max(1, (same_label & off).sum()))
    apart = float((same_story & ~same_label).sum() / max(1, (~same_label).sum()))
    return {"purity": purity, "completeness": completeness, "together": together, "with_others": apart, "stories": len(by_story)}


def piaf_documents(path: Path) -> list[Document]:
    data = json.loads(path.read_text())["data"]
    documents = [
        Document(doc_id=f"a{a:03d}/p{p:02d}", text=par["context"].strip(), lang="fr")
        for a, article in enumerate(data)
        for p, par in enumerate(article["paragraphs"])
        if par.get("context", "").strip()
    ]
    random.Random(7).shuffle(documents)
    return documents


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=ROOT / "data" / "bench" / "stories-piaf")
    parser.add_argument("--seeds-index", type=Path, default=ROOT / "data" / "bench" / "stories-seeds")
    parser.add_argument("--orders", type=int, default=5, help="shuffled arrival orders averaged")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    ensure_index(args.index_dir, piaf_documents(PIAF))
    doc_ids, vectors = document_vectors(args.index_dir)
    labels = [d.split("/")[0] for d in doc_ids]
    from semsearch.ingest.readers import read_paths

    ensure_index(args.seeds_index, read_paths([SEEDS_DIR]).documents)
    seed_ids, seed_vectors = document_vectors(args.seeds_index)
    rows = []
    for join, merge in FLOORS:
        config = StoryConfig(join, merge)
        orders = [random.Random(seed).sample(range(len(vectors)), len(vectors)) for seed in range(args.orders)]
        runs = [scores(labels, cluster(vectors, order, config)) for order in orders]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        seeds = cluster(seed_vectors, list(range(len(seed_vectors))), config)
        groups = sorted(
            ("+".join(sorted(s[:3] for s, g in zip(seed_ids, seeds) if g == story)) for story in set(seeds.tolist())), key=lambda g: (-len(g), g)
        )
        shipped = " (shipped)" if config == StoryConfig() else ""
        rows.append([f"{join:.2f} / {merge:.2f}{shipped}", mean["purity"], mean["completeness"], mean["together"], mean["with_others"],
                     f"{mean['stories']:.0f}", " · ".join(groups)])
    sims = seed_vectors @ seed_vectors.T
    pairs = ", ".join(f"{seed_ids[i][:3]}-{seed_ids[j][:3]} {sims[i, j]:.3f}" for i in range(5) for j in range(i + 1, 5))
    body = (
        f"{len(doc_ids)} PIAF dev paragraphs of {len(set(labels))} Wikipedia articles, shuffled, without titles; each row the mean of "
        f"{args.orders} arrival orders. Together: share of same-article paragraph pairs in one story; with others: share of "
        "different-article pairs in one story.\n\n"
        + markdown_table(
            ["join / merge floor", "purity", "completeness", "together", "with others", "stories", "seed stories"], rows
        )
        + f"\n\nSeed articles' cosines (mean passage vectors): {pairs}.\n"
    )
    publish("Stories: same-story floor (PIAF slice, seeds)", body, args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
