"""What entity extraction costs next to embedding, per passage, on the same texts.

    python bench/entities_cost.py [--limit 120] [--no-write]

Texts: the PIAF dev paragraphs (the first --limit, French Wikipedia; each one passage) when ../shared is
there, else the seeds' passages. Extraction is spaCy's `fr_core_news_md` with only tok2vec and ner
(EntityExtractor, batched with nlp.pipe); embedding is the default model's passage embedding (the sentences
the index also embeds are not counted, so the comparison favours embedding). CPU seconds are the process's
(`time.process_time`), which other processes on a shared machine do not inflate; wall seconds are shown too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, publish  # noqa: E402

from semsearch.entities.extract import ENTITY_MODELS, EntityExtractor  # noqa: E402


def texts(limit: int) -> tuple[str, list[str]]:
    if PIAF.exists():
        data = json.loads(PIAF.read_text())["data"]
        paragraphs = [p["context"].strip() for a in data for p in a["paragraphs"] if p.get("context", "").strip()]
        return f"{min(limit, len(paragraphs))} PIAF dev paragraphs", paragraphs[:limit]
    from semsearch.ingest.readers import read_paths

    docs = read_paths([ROOT / "seeds"]).documents
    return f"the {len(docs)} seed articles", [d.text for d in docs]


def timed(call) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    call()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=120)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    what, items = texts(args.limit)
    chars = sum(len(t) for t in items)
    extractor = EntityExtractor()
    extractor.extract("fr", items[:2], [[(0, 0, len(t))] for t in items[:2]])  # load the pipeline before timing
    found: list = []
    ner_cpu, ner_wall = timed(lambda: found.extend(extractor.extract("fr", items, [[(0, 0, len(t))] for t in items])))
    from semsearch.embedding import load_embedder

    embedder = load_embedder()
    embedder.embed_passages(items[:2])
    emb_cpu, emb_wall = timed(lambda: embedder.embed_passages(items))
    n = len(items)
    rows = [
        [f"entities ({ENTITY_MODELS['fr']}, tok2vec + ner)", f"{n / ner_cpu:.1f}", f"{n / ner_wall:.1f}", f"{ner_cpu:.2f}"],
        ["embedding (default model, passages only)", f"{n / emb_cpu:.1f}", f"{n / emb_wall:.1f}", f"{emb_cpu:.2f}"],
    ]
    mentions = sum(len(m) for m in found)
    body = (
        f"{what} ({chars:,} characters), {mentions} people, organisation and place mentions kept.\n\n"
        + markdown_table(["step", "passages/s (CPU)", "passages/s (wall)", "CPU s"], rows)
        + f"\n\nExtraction costs {100 * ner_cpu / emb_cpu:.0f}% of the passage embedding's CPU time.\n"
    )
    publish("Entity extraction cost", body, args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
