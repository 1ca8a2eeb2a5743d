"""Building one segment's files from documents and their vectors: shared by `IndexWriter` (one process)
and the Ray job's writing tasks (many nodes), so that both write the same bytes for the same input.

Three steps, each usable alone: `chunk` (documents -> passages), `embed_passages` (passages -> passage
and sentence vectors, through any function that embeds a list of texts) and `write_segment_files`
(SQLite rows, vectors, sentence vectors, postings, FAISS) into a folder that nothing names yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..dates import date_bounds
from ..documents import Document, Passage
from ..embedding.base import LatentTerms
from ..store import latent as latent_store
from ..store import vectors
from ..store.lexical import Postings
from ..store.segment import SegmentInfo, SegmentWriter
from ..text.analyzer import analyze
from ..text.sentences import sentence_spans
from .chunking import ChunkingConfig, split_passages

EmbedFn = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) float32
LatentFn = Callable[[Sequence[str]], "list[LatentTerms] | None"]  # texts -> latent terms (Embedder.latent_terms)
BlobFn = Callable[[Sequence[str]], "list[bytes] | None"]  # texts -> their latent terms as blobs (latent_blobs)

# Where a passage's vector comes from (setting SEMSEARCH_PASSAGE_VECTORS; recorded in the commit point, which
# later writes into the index follow; PIAF figures in BENCHMARKS.md, "Passage vectors"):
# "embedded": the passage's own text, embedded besides its sentences (about 2x the tokens);
# "sentence_mean": the normalized mean of its sentences' vectors, each text embedded once.
EMBEDDED, SENTENCE_MEAN = "embedded", "sentence_mean"
PASSAGE_VECTORS = (EMBEDDED, SENTENCE_MEAN)
DEFAULT_PASSAGE_VECTORS = EMBEDDED


@dataclass
class EmbeddedPassages:
    """Vectors of new passages and of each of their sentences (for highlights and ranking)."""

    passages: np.ndarray  # (n, dim)
    sentences: np.ndarray  # (s, dim), grouped by passage in passage order
    spans: np.ndarray  # (s, 2) sentence offsets relative to the passage start
    counts: np.ndarray  # (n,) sentences per passage
    seconds: float = 0.0  # time spent in the embedding function
    latent: list[bytes] | None = None  # each passage's latent terms (store/latent.py), when the model has them


def embedding_text(doc: Document, text: str) -> str:
    """What the model sees for a passage or one of its sentences: the text under its document's
    headline, when the headline is not its lede. For sentences the headline names what a lone
    sentence leaves implicit ("Sa naissance coïncide..."): +0.7 point R@1 on PIAF dev."""
    title = doc.title
    if title and not doc.text.startswith(title.rstrip("…")):
        return f"{title}\n{text}"
    return text


def chunk(plan: Sequence[Document], count_tokens: Callable[[str], int], chunking: ChunkingConfig) -> list[tuple[Document, Passage]]:
    """Every passage of the documents, in document order (the order vids are given in)."""
    return [(doc, passage) for doc in plan for passage in split_passages(doc, count_tokens, chunking)]


def _embed_texts(embed: EmbedFn, texts: list[str], dim: int, batch_size: int, bar: tqdm) -> np.ndarray:
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i in range(0, len(texts), batch_size):
        part = texts[i:i + batch_size]
        out[i:i + len(part)] = embed(part)
        bar.update(len(part))
    return out


def embed_passages(
    passages: Sequence[tuple[Document, Passage]],
    embed: EmbedFn,
    dim: int,
    batch_size: int = 32,
    progress: bool = False,
    passage_vectors: str = DEFAULT_PASSAGE_VECTORS,
    latent: BlobFn | None = None,
) -> EmbeddedPassages:
    """Passage vectors and sentence vectors. With `passage_vectors` "embedded", a passage of one sentence
    embeds once: its sentence vector is its passage vector (the texts asked for are exactly
    `embedding_texts.texts_to_embed`'s). With "sentence_mean" only sentences are embedded and a passage's
    vector is the normalized mean of its sentences' vectors. `latent` (`latent_blobs` over
    Embedder.latent_terms, or the blobs a Ray actor computed): each passage's own text's latent terms too,
    for questions in another language (search/fusion.py)."""
    if passage_vectors not in PASSAGE_VECTORS:
        raise ValueError(f"passage_vectors: {passage_vectors!r} is not one of {', '.join(PASSAGE_VECTORS)}")
    derived = passage_vectors == SENTENCE_MEAN
    texts = [embedding_text(doc, p.text) for doc, p in passages]
    spans = [sentence_spans(p.text, p.lang or "fr") for _, p in passages]
    own = [
        i for i, sp in enumerate(spans)
        if (derived and sp) or len(sp) != 1 or embedding_text(passages[i][0], passages[i][1].text[sp[0][0]:sp[0][1]]) != texts[i]
    ]
    embedded = [i for i, sp in enumerate(spans) if not (derived and sp)]  # passages whose own text is embedded
    sentence_texts = [embedding_text(passages[i][0], passages[i][1].text[a:b]) for i in own for a, b in spans[i]]
    passage_texts = [texts[i] for i in embedded]
    t0 = time.perf_counter()
    with tqdm(total=len(passage_texts) + len(sentence_texts), unit="text", desc="embedding", disable=not progress, leave=False) as bar:
        embedded_vectors = _embed_texts(embed, passage_texts, dim, batch_size, bar)
        own_vectors = _embed_texts(embed, sentence_texts, dim, batch_size, bar)
        blobs = latent([p.text for _, p in passages]) if latent else None
    seconds = time.perf_counter() - t0
    counts = np.array([len(sp) for sp in spans], dtype=np.int64)
    sentences = np.zeros((int(counts.sum()), dim), dtype=np.float32)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
    passage_vectors_out = np.zeros((len(passages), dim), dtype=np.float32)
    passage_vectors_out[embedded] = embedded_vectors
    cursor = 0
    own_set = set(own)
    for i, sp in enumerate(spans):
        if i in own_set:
            sentences[starts[i]:starts[i] + len(sp)] = own_vectors[cursor:cursor + len(sp)]
            cursor += len(sp)
            if derived and sp:
                passage_vectors_out[i] = _normalized_mean(own_vectors[cursor - len(sp):cursor])
        else:
            sentences[starts[i]] = passage_vectors_out[i]
    flat_spans = np.array([span for sp in spans for span in sp], dtype=np.int32).reshape(-1, 2)
    return EmbeddedPassages(passage_vectors_out, sentences, flat_spans, counts, seconds, blobs)


def latent_blobs(latent: LatentFn, texts: Sequence[str], batch_size: int) -> list[bytes] | None:
    """Blobs (store/latent.py) of the texts' latent terms, asked in batches; None when the model has none."""
    blobs: list[bytes] = []
    for i in range(0, len(texts), batch_size):
        terms = latent(texts[i:i + batch_size])
        if terms is None:
            return None
        blobs += [latent_store.encode(idx, val) for idx, val in terms]
    return blobs


def _normalized_mean(vectors: np.ndarray) -> np.ndarray:
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def write_segment_files(
    folder: Path,
    plan: Sequence[Document],
    passages: Sequence[tuple[Document, Passage]],
    new: EmbeddedPassages,
    first_vid: int,
    dim: int,
    index_type: str | None = None,
    index_tiers: Sequence[tuple[int, str]] | None = None,
) -> SegmentInfo:
    """The documents `plan` (distinct ids) and their passages as one segment's files in `folder`, vids
    first_vid, first_vid + 1, ...; not fsynced, not renamed: the caller publishes it."""
    vids = np.arange(first_vid, first_vid + len(passages), dtype=np.int64)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    writer = SegmentWriter(folder, dim)
    try:
        for doc in plan:
            lo, hi = date_bounds(doc.date) if doc.date else (None, None)
            writer.add_document(
                doc.doc_id, doc.content_hash(), doc.text, doc.title, doc.date, doc.source, doc.url, doc.lang, lo, hi, now
            )
        term_lists = []
        for i, (vid, (doc, passage)) in enumerate(zip(vids.tolist(), passages)):
            terms = analyze(embedding_text(doc, passage.text), passage.lang or "fr")
            term_lists.append(terms)
            blob = new.latent[i] if new.latent is not None else None
            writer.add_passage(vid, doc.doc_id, passage.ordinal, passage.start, passage.end, terms, blob)
        chosen = vectors.choose_index_type(len(vids), index_type, index_tiers)
        return writer.finish(
            vids, new.passages, new.sentences, np.repeat(vids, new.counts), new.spans, Postings.build(term_lists), chosen
        )
    finally:
        writer.close()
