"""A synthetic index of millions of passages, written at the storage's speed: the bulk path for scale figures.

    python bench/bulk_index.py --passages 1000000 --segment-passages 100000 --index-dir data/bench/bulk-1m-10seg
    python bench/bulk_index.py --passages 1000000 --segment-passages 1000000 --index-dir data/bench/bulk-1m
    python bench/bulk_index.py --passages 10000000 --segment-passages 1000000 --shared-quantizer --index-dir data/bench/bulk-10m-shared
    python bench/bulk_index.py ... --resume   # the same command, after a stop: complete segments are kept
    python bench/bulk_index.py --subset-of data/bench/bulk-10m-shared --segments 3 --index-dir data/bench/bulk-3m-shared

bench/synthetic_index.py goes through `IndexWriter` (a Python loop over every passage: analysis, chunking,
sentence splitting), about 470 s per 100k passages on this machine: 10M would take half a day. This
builder writes the same kind of segments through the one segment writer (`store.segment.SegmentWriter`:
its SQLite rows, vector files, FAISS index, postings and segment.json) and publishes them in one commit
point (`store.commit_writer.open_commit`), but draws what the model and the analyzer would give in
bulk:

- passages of 4 sentences of 10 words drawn (Zipf) from the seed articles' vocabulary, one passage a
  document; each word's terms come from the real analyzer, once per distinct word (the analyzer works
  word by word, so a passage's terms are its words' terms);
- vectors from the clustered mixture of bench/vector_scale.py: a passage draws a center, its sentences
  are points around it, and its passage vector is its sentences' normalized mean.

Every chunk of 100k passages is drawn from its own seed, so an index of 10 segments and one of 1 segment
built with the same --passages hold the same passages, vids and vectors. The answers are meaningless; the
costs (disk, memory, latency) are those of real segments.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _perf import disk_usage, peak_rss_mib  # noqa: E402
from vector_scale import Mixture, _normalize  # noqa: E402

from semsearch.embedding.base import DEFAULT_MODEL  # noqa: E402
from semsearch.index.chunking import ChunkingConfig  # noqa: E402
from semsearch.store import vectors  # noqa: E402
from semsearch.store.commit_writer import ModelId, open_commit  # noqa: E402
from semsearch.store.layout import IndexDirectory  # noqa: E402
from semsearch.store.lexical import Postings  # noqa: E402
from semsearch.store.segment import SegmentInfo, SegmentWriter  # noqa: E402
from semsearch.text.analyzer import analyze  # noqa: E402

DIM = 384
CHUNK = 100_000
SENTENCES, WORDS = 4, 10  # a passage: 4 sentences of 10 words


class Vocabulary:
    """The seed articles' words with Zipf weights, and each word's analyzed term (or none: a stopword)."""

    def __init__(self) -> None:
        text = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt")))
        words, counts = np.unique(re.findall(r"\w+", text.lower()), return_counts=True)
        self.words = words[np.argsort(-counts)]
        p = 1.0 / np.arange(1, len(self.words) + 1)
        self.p = p / p.sum()
        terms: dict[str, int] = {}
        self.term_of = np.full(len(self.words), -1, np.int64)
        for i, word in enumerate(self.words.tolist()):
            analyzed = analyze(word, "fr")
            if analyzed:  # one term a word (the seeds' words are \w+ runs); a rare second one is dropped
                self.term_of[i] = terms.setdefault(analyzed[0], len(terms))
        self.terms = list(terms)


def draw_chunk(chunk: int, size: int, vocab: Vocabulary, mixture: Mixture) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunk `chunk` of the collection: word ids (size x 40), sentence vectors (size*4 x dim), passage vectors."""
    rng = np.random.default_rng(1_000 + chunk)
    words = rng.choice(len(vocab.words), size=(size, SENTENCES * WORDS), p=vocab.p)
    which = rng.choice(len(mixture.centers), size=size, p=mixture.weights)
    noise = (rng.standard_normal((size * SENTENCES, DIM)).astype(np.float32) * mixture.spectrum) @ mixture.rotation
    sentences = _normalize(np.repeat(mixture.centers[which], SENTENCES, axis=0) + noise)
    passages = _normalize(sentences.reshape(size, SENTENCES, DIM).mean(axis=1))
    return words, sentences, passages


def chunk_texts(words: np.ndarray, vocab: Vocabulary) -> tuple[list[str], np.ndarray]:
    """Each passage's text and its sentences' spans (size*4 x 2)."""
    w = vocab.words
    texts, spans = [], np.empty((len(words) * SENTENCES, 2), np.int32)
    k = 0
    for row in words:
        parts, at = [], 0
        for s in range(SENTENCES):
            sentence = " ".join(w[row[s * WORDS:(s + 1) * WORDS]]).capitalize() + "."
            spans[k] = (at, at + len(sentence))
            k += 1
            parts.append(sentence)
            at += len(sentence) + 1
        texts.append(" ".join(parts))
    return texts, spans


def chunk_postings(words: np.ndarray, vocab: Vocabulary) -> Postings:
    """The chunk's postings (local rows), from its words' terms: what Postings.build gives for the analyzed texts."""
    terms = vocab.term_of[words]
    rows = np.repeat(np.arange(len(words), dtype=np.int64), terms.shape[1])
    terms = terms.ravel()
    keep = terms >= 0
    lengths = np.maximum((terms.reshape(len(words), -1) >= 0).sum(axis=1), 1).astype(np.float32)
    return Postings._from_pairs(vocab.terms, terms[keep], rows[keep], np.ones(int(keep.sum()), np.float32), lengths)


def concat_postings(parts: list[Postings], vocab: Vocabulary) -> Postings:
    """Postings of consecutive chunks as one segment's (rows of part i follow those of part i - 1): each
    term's rows stay ascending, concatenated chunk after chunk. O(postings), no sort."""
    ids = {t: i for i, t in enumerate(vocab.terms)}
    counts = np.zeros(len(vocab.terms), np.int64)
    maps = []
    for part in parts:
        m = np.array([ids[t] for t in part.vocab], np.int64)
        maps.append(m)
        counts[m] += np.diff(part.indptr)
    indptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    rows = np.empty(int(indptr[-1]), np.int32)
    tf = np.empty(int(indptr[-1]), np.float32)
    at = indptr[:-1].copy()
    offset = 0
    for part, m in zip(parts, maps):
        n = np.diff(part.indptr)
        dest = np.repeat(at[m] - part.indptr[:-1], n) + np.arange(len(part.rows))
        rows[dest] = part.rows + offset
        tf[dest] = part.tf
        at[m] += n
        offset += len(part.lengths)
    used = counts > 0
    keep_ptr = np.r_[0, np.cumsum(counts[used])]
    return Postings([t for t, u in zip(vocab.terms, used) if u], keep_ptr, rows, tf, np.concatenate([p.lengths for p in parts]))


def write_segment(folder: Path, chunks: range, vocab: Vocabulary, mixture: Mixture, passages: int, centroids=None) -> float:
    """One segment holding chunks `chunks` (vids = passage numbers); returns the FAISS build's seconds."""
    folder.mkdir(parents=True)
    first = chunks[0] * CHUNK
    n = min(passages, chunks[-1] * CHUNK + CHUNK) - first
    writer = SegmentWriter(folder, DIM)
    try:
        passage_vectors, sentence_vectors = writer.vector_files(n, n * SENTENCES)
        spans_all = np.empty((n * SENTENCES, 2), np.int32)
        postings = []
        for c in chunks:
            lo = c * CHUNK - first
            size = min(CHUNK, n - lo)
            words, sentences, pvecs = draw_chunk(c, size, vocab, mixture)
            passage_vectors[lo:lo + size] = pvecs
            sentence_vectors[lo * SENTENCES:(lo + size) * SENTENCES] = sentences
            texts, spans = chunk_texts(words, vocab)
            spans_all[lo * SENTENCES:(lo + size) * SENTENCES] = spans
            terms = vocab.term_of[words]
            for i, text in enumerate(texts):
                vid = first + lo + i
                doc_id = f"syn-{vid:08d}"
                writer.add_document(
                    doc_id, f"h{vid}", text, None, "2024-01", "synthetic", None, "fr", 20240101, 20240131, "2024-01-01T00:00:00+00:00"
                )
                writer.add_passage(vid, doc_id, 0, 0, len(text), [vocab.terms[t] for t in terms[i] if t >= 0])
            postings.append(chunk_postings(words, vocab))
            print(f"  chunk {c}: {lo + size:,} of {n:,} passages", file=sys.stderr, flush=True)
        vids = np.arange(first, first + n, dtype=np.int64)
        index_type = vectors.choose_index_type(n) if centroids is None else f"IVF{len(centroids)},SQ8"
        started = time.perf_counter()
        writer.finish(vids, passage_vectors, sentence_vectors, np.repeat(vids, SENTENCES), spans_all,
                      concat_postings(postings, vocab), index_type, centroids)
        return time.perf_counter() - started
    finally:
        writer.close()


def shared_centroids(passages: int, mixture: Mixture, vocab: Vocabulary) -> np.ndarray:
    """IVF centroids for the whole collection (vectors.ivf_nlist of its size), trained once on the passage
    vectors of its first chunks: every segment's index is built with them (one coarse quantizer)."""
    nlist = vectors.ivf_nlist(passages)
    wanted = vectors.TRAIN_PER_LIST * nlist
    sample = [draw_chunk(c, CHUNK, vocab, mixture)[2] for c in range(min((wanted + CHUNK - 1) // CHUNK, (passages + CHUNK - 1) // CHUNK))]
    return vectors.train_centroids(np.concatenate(sample)[:wanted], nlist)


def stored_centroids(folder: Path) -> np.ndarray:
    """The coarse centroids of a written segment's IVF index (what shared_centroids gave its build)."""
    index = vectors.load_index(folder)  # held while its quantizer is read: it owns it
    quantizer = faiss.downcast_index(faiss.downcast_index(index).quantizer)
    return faiss.rev_swig_ptr(quantizer.get_xb(), quantizer.ntotal * quantizer.d).reshape(quantizer.ntotal, quantizer.d).copy()


def finished_segments(index_dir: Path, passages: int, per: int, chunks: range, shared: bool) -> dict[Path, None]:
    """For --resume: the segment folders of a stopped build that are complete (segment.json is written last,
    by SegmentWriter.finish) and hold what this build would write there; an unfinished one is removed. A
    segment holds its own chunks, each drawn from its own seed, so a kept segment is the one a rebuild writes."""
    layout = IndexDirectory(index_dir)
    if layout.generations():
        raise SystemExit(f"{index_dir}: already published (a commit point); nothing to resume")
    kept: dict[Path, None] = {}
    for s in range(0, len(chunks), per):
        folder = index_dir / f"bulk-{s // per:04d}"
        if not folder.exists():
            continue
        if not (folder / "segment.json").exists():
            print(f"{folder.name}: unfinished, removed", file=sys.stderr, flush=True)
            shutil.rmtree(folder)
            continue
        info = SegmentInfo.read(folder)
        want = min(passages, (s + per) * CHUNK) - s * CHUNK
        ivf = f"IVF{vectors.ivf_nlist(passages)},SQ8" if shared else vectors.choose_index_type(want)
        if (info.passages, info.index_type) != (want, ivf):
            raise SystemExit(f"{folder}: {info.passages} passages, {info.index_type}; this build writes {want}, {ivf} there")
        kept[folder] = None
    return kept


def build(index_dir: Path, passages: int, segment_passages: int, shared: bool = False, resume: bool = False) -> dict:
    """The index: segments of `segment_passages` (a multiple of 100k) in one commit point; `shared`: their
    IVF indexes share one coarse quantizer trained for the whole collection. `resume`: keep the complete
    segments of a stopped build in `index_dir` (and, shared, their centroids) and write the others."""
    if segment_passages % CHUNK:
        raise SystemExit(f"--segment-passages must be a multiple of {CHUNK}")
    chunks = range((passages + CHUNK - 1) // CHUNK)
    per = segment_passages // CHUNK
    kept = finished_segments(index_dir, passages, per, chunks, shared) if resume and index_dir.exists() else {}
    if not kept:
        shutil.rmtree(index_dir, ignore_errors=True)
        index_dir.mkdir(parents=True)
    vocab, mixture = Vocabulary(), Mixture(DIM)
    started = time.perf_counter()
    centroids = None
    if shared:
        centroids = stored_centroids(next(iter(kept))) if kept else shared_centroids(passages, mixture, vocab)
    kmeans_s = time.perf_counter() - started
    faiss_s = 0.0
    folders = []
    for s in range(0, len(chunks), per):
        folder = index_dir / f"bulk-{s // per:04d}"
        if folder in kept:
            print(f"{folder.name}: complete, kept", file=sys.stderr, flush=True)
        else:
            faiss_s += write_segment(folder, chunks[s:s + per], vocab, mixture, passages, centroids)
        folders.append(folder)
        print(f"segment {len(folders)} written, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    layout = IndexDirectory(index_dir)
    with open_commit(layout, ModelId(DEFAULT_MODEL, DIM)) as pending:
        for folder, s in zip(folders, range(0, len(chunks), per)):
            n = min(passages, (s + per) * CHUNK) - s * CHUNK
            pending.add_segment(folder, n, n)
        pending.reserve(passages)
        pending.publish(ModelId(DEFAULT_MODEL, DIM), asdict(ChunkingConfig()))
    seconds = time.perf_counter() - started
    sizes: dict[str, int] = {}
    for segment in layout.segments.iterdir():
        for name, size in disk_usage(segment).items():
            sizes[name] = sizes.get(name, 0) + size
    return {"passages": passages, "segments": len(folders), "seconds": seconds, "faiss_seconds": faiss_s, "kmeans_seconds": kmeans_s,
            "peak_rss_mib": peak_rss_mib(), "disk": sizes}


def publish_subset(source: Path, index_dir: Path, segments: int) -> int:
    """An index of the first `segments` segments of the index at `source`, hard-linked (no copy): a smaller
    collection with the same segments and quantizer, for the cost curve. Returns its passages."""
    from semsearch.store.commit import CommitPoint

    layout = IndexDirectory(source)
    if layout.generations():
        commit = CommitPoint.read(layout.commit_path(layout.generation()))
        parts = [(layout.segments / e.name, e.passages, e.documents) for e in commit.segments[:segments]]
    else:  # a build still running: its finished segment folders (each complete once the next one is begun)
        folders = sorted(source.glob("bulk-*"))
        if len(folders) <= segments:
            raise SystemExit(f"{source}: {len(folders)} segment folders begun, {segments} needed finished")
        parts = []
        for folder in folders[:segments]:
            info = SegmentInfo.read(folder)
            parts.append((folder, info.passages, info.documents))
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    target = IndexDirectory(index_dir)
    passages = 0
    model = ModelId(DEFAULT_MODEL, DIM)
    with open_commit(target, model) as pending:
        for i, (folder, n, documents) in enumerate(parts):
            linked = index_dir / f"bulk-{i:04d}"
            shutil.copytree(folder, linked, copy_function=os.link)
            pending.add_segment(linked, n, documents)
            passages += n
        pending.reserve(passages)
        pending.publish(model, asdict(ChunkingConfig()))
    return passages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--segment-passages", type=int, default=1_000_000)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--shared-quantizer", action="store_true", help="one IVF coarse quantizer for every segment")
    parser.add_argument("--subset-of", help="instead of drawing: the first --segments segments of this index, hard-linked")
    parser.add_argument("--segments", type=int, default=1)
    parser.add_argument("--resume", action="store_true", help="keep the complete segments of a stopped build in --index-dir")
    args = parser.parse_args()
    if args.subset_of:
        passages = publish_subset(Path(args.subset_of), Path(args.index_dir), args.segments)
        print(f"{passages:,} passages: the first {args.segments} segments of {args.subset_of}")
        return 0
    report = build(Path(args.index_dir), args.passages, args.segment_passages, args.shared_quantizer, args.resume)
    total = sum(report["disk"].values())
    print(
        f"{report['passages']:,} passages in {report['segments']} segments: {report['seconds']:.0f} s"
        f" (FAISS {report['faiss_seconds']:.0f} s, shared k-means {report['kmeans_seconds']:.0f} s), peak RSS {report['peak_rss_mib']:.0f} MiB,"
        f" {total / report['passages']:.0f} bytes a passage: "
        + ", ".join(f"{k} {v / report['passages']:.0f}" for k, v in sorted(report["disk"].items(), key=lambda kv: -kv[1]))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
