"""FAISS vector index: the index type is chosen here by collection size, and so are its search-time parameters.

The figures behind the choices are in BENCHMARKS.md, section "Vector index scale" (bench/vector_scale.py).
"""

from __future__ import annotations

import hashlib
import logging
import math
import mmap
import re
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexCorruptError

log = logging.getLogger(__name__)

FAISS_NAME = "vectors.faiss"
VECTORS_NAME = "vectors.npy"  # the exact vectors, source of truth for rebuilding any index type
VIDS_NAME = "vids.npy"
SENTENCE_VECTORS = "sentence_vectors.npy"  # one vector per sentence of every passage, in vid order
SENTENCE_VIDS = "sentence_vids.npy"  # the passage (vid) each sentence belongs to
SENTENCE_SPANS = "sentence_spans.npy"  # (start, end) of each sentence, relative to its passage
# Since vector format "int8": passage and sentence vectors as 8-bit codes with one float32 scale a vector
# (388 bytes a 384-dimension vector instead of 1,536), memory-mapped. Segments written before keep their
# float32 files above and are read as they are.
VECTORS_Q8 = "vectors_q8.npy"
VECTORS_SCALE = "vectors_scale.npy"
SENTENCE_Q8 = "sentence_vectors_q8.npy"
SENTENCE_SCALE = "sentence_vectors_scale.npy"
FLOAT32, INT8 = "float32", "int8"
QUANTIZE_CHUNK = 65_536  # vectors quantized at a time: a merge's memory-mapped float32 input is never read whole

# (smallest collection size, FAISS factory string): a collection gets the last tier whose size it reaches.
# "{nlist}" is replaced by ivf_nlist(size). Exact search below 100k vectors, where it is fast enough;
# IVF with 8-bit scalar quantization above: 384 bytes a 384-dimension vector instead of 1,536, at a
# recall@10 near 0.98 with the nprobe below (figures: BENCHMARKS.md, bench/vector_scale.py).
INDEX_TIERS: tuple[tuple[int, str], ...] = (
    (0, "Flat"),
    (100_000, "IVF{nlist},SQ8"),
)
MIN_TRAIN_PER_LIST = 39  # FAISS k-means wants at least 39 training points per centroid
TRAIN_PER_LIST = 40  # IVF is trained on a sample of this many points per list (k-means time grows with it)
KMEANS_ITERATIONS = 10  # FAISS default 25; k-means time is proportional to it
IVF_SCAN_CODES = 65_536  # nprobe: enough lists to scan about this many vectors a query (recall against latency)
IVF_MIN_NPROBE = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
HNSW_MAX_EF_SEARCH = 4096
REFINE_K_FACTOR = 4.0
SELECTOR_BITMAP_MIN = 4096  # filters allowing more ids than this use a bitmap (built in O(max id / 8)), fewer a hash set


def ivf_nlist(n_vectors: int) -> int:
    """Number of IVF lists: about 2 * sqrt(n), a power of two, with at least 39 training points a list.

    2 * sqrt(n) rather than the usual 4 * sqrt(n): every merged segment trains its own lists, k-means time
    grows with the list count, and the recall is the same at a latency well inside the budget
    (bench/vector_scale.py).
    """
    if n_vectors < MIN_TRAIN_PER_LIST:
        return 1
    nlist = 1 << max(0, round(math.log2(2 * math.sqrt(n_vectors))))
    while nlist > 1 and nlist * MIN_TRAIN_PER_LIST > n_vectors:
        nlist //= 2
    return nlist


def ivf_nprobe(nlist: int, n_vectors: int) -> int:
    """Lists to probe: about IVF_SCAN_CODES vectors scanned a query, at least IVF_MIN_NPROBE lists."""
    return min(nlist, max(IVF_MIN_NPROBE, math.ceil(IVF_SCAN_CODES * nlist / max(n_vectors, 1))))


def collection_nprobe(index: faiss.Index, collection_vectors: int) -> int | None:
    """nprobe for one IVF segment of a collection of `collection_vectors`: the share of its lists that one
    index of the whole collection would probe. The codes scanned a query then stay about IVF_SCAN_CODES
    in all, however many segments hold them (each segment's own nprobe, set for its size alone, made 10
    segments of 100k scan 10x what one merged 1M segment scans). None for an index that is not IVF."""
    base = _base(index)
    if not isinstance(base, faiss.IndexIVF):
        return None
    return ivf_nprobe(base.nlist, max(collection_vectors, index.ntotal))


def choose_index_type(n_vectors: int, override: str | None = None, tiers: Sequence[tuple[int, str]] | None = None) -> str:
    """FAISS factory string (without the IDMap2 wrapper) for a collection of this size.

    `override` (setting index_type, env SEMSEARCH_INDEX_TYPE) wins; it may use "{nlist}" too. An IVF type
    that would have fewer than 39 training points a list falls back to exact search, with a warning.
    """
    template = "Flat"
    for min_size, candidate in sorted(INDEX_TIERS if tiers is None else tiers):
        if n_vectors >= min_size:
            template = candidate
    if override:
        template = override
    index_type = template.replace("{nlist}", str(ivf_nlist(n_vectors)))
    match = re.search(r"IVF(\d+)", index_type)
    if match and n_vectors and n_vectors < MIN_TRAIN_PER_LIST * int(match.group(1)):
        log.warning("index type %s needs %d vectors to train, the collection has %d: using Flat",
                    index_type, MIN_TRAIN_PER_LIST * int(match.group(1)), n_vectors)
        return "Flat"
    return index_type


def _inner(index: faiss.Index) -> faiss.Index:
    """The index inside an IDMap/IDMap2 wrapper if any, downcast to its concrete class."""
    index = faiss.downcast_index(index)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        return faiss.downcast_index(index.index)
    return index


def build_index(vectors: np.ndarray, vids: np.ndarray, index_type: str, centroids: np.ndarray | None = None) -> faiss.Index:
    """An index of `index_type` whose ids are the passage vids, trained if it needs it, and filled.

    IVF indexes keep the ids in their lists; other types are wrapped in IDMap2. (IDMap2 over IVF costs ~50
    bytes a vector more in RAM, and made filtered searches 1.4-3x slower at 1M: every scanned id is translated.)
    `centroids`: IVF coarse centroids (nlist x dim) to use instead of running k-means (train_centroids).
    """
    dim = vectors.shape[1]
    index = faiss.index_factory(dim, index_type, faiss.METRIC_INNER_PRODUCT)
    if not isinstance(faiss.downcast_index(index), faiss.IndexIVF):
        index = faiss.index_factory(dim, f"IDMap2,{index_type}", faiss.METRIC_INNER_PRODUCT)
    base = _base(index)
    if isinstance(base, faiss.IndexHNSW):
        base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        base.hnsw.efSearch = HNSW_EF_SEARCH
    if isinstance(base, faiss.IndexIVF):
        base.nprobe = ivf_nprobe(base.nlist, len(vids))  # stored in the file; search_parameters() reads it back
    if isinstance(base, (faiss.IndexPQ, faiss.IndexIVFPQ)):
        base.do_polysemous_training = False  # minutes of training for a search mode that is not used
    if len(vids):
        if isinstance(base, faiss.IndexIVF) and base.quantizer.ntotal == 0:
            base.quantizer.add(train_centroids(vectors, base.nlist) if centroids is None else np.ascontiguousarray(centroids, np.float32))
        if not index.is_trained:  # the encoder (SQ ranges, PQ codebooks); a filled quantizer is not retrained
            index.train(_sample(vectors, 256 * 256))
        index.add_with_ids(vectors, vids.astype(np.int64))
    return index


def train_centroids(vectors: np.ndarray, nlist: int) -> np.ndarray:
    """IVF coarse centroids: k-means (inner product assignment) on a sample of TRAIN_PER_LIST points a list."""
    sample = _sample(vectors, TRAIN_PER_LIST * nlist)
    clustering = faiss.Clustering(vectors.shape[1], nlist)
    clustering.niter = KMEANS_ITERATIONS
    clustering.max_points_per_centroid = TRAIN_PER_LIST  # already sampled: no second subsampling
    clustering.train(sample, faiss.IndexFlatIP(vectors.shape[1]))
    return faiss.vector_to_array(clustering.centroids).reshape(nlist, vectors.shape[1])


def shared_quantizer_key(index: faiss.Index) -> bytes | None:
    """A fingerprint of an IVF index's coarse centroids (None for other types): segments built with the same
    centroids (build_index's `centroids`) are searched with one coarse search (search_preassigned), each
    scanning only its share of the probed lists, as one index of all of them would."""
    base = faiss.downcast_index(index)  # a plain IVF index only: no id map, no refine step around it
    if not isinstance(base, faiss.IndexIVF) or base.quantizer.ntotal == 0:
        return None
    quantizer = faiss.downcast_index(base.quantizer)
    if not isinstance(quantizer, faiss.IndexFlat):
        return None
    centroids = faiss.rev_swig_ptr(quantizer.get_xb(), quantizer.ntotal * quantizer.d)
    return hashlib.blake2b(memoryview(centroids).cast("B"), digest_size=16).digest()


def coarse_search(index: faiss.Index, queries: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
    """The `nprobe` nearest lists of an IVF index's quantizer (scores, list ids), on the calling thread."""
    base = _base(index)
    return search_single_thread(base.quantizer, queries, min(nprobe, base.nlist), None)


def search_assigned(
    index: faiss.Index, queries: np.ndarray, n: int, params, lists: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """An IVF search with its coarse search done (coarse_search on an index of the same centroids): the first
    params.nprobe of `lists` are scanned."""
    base = _base(index)
    scores, ids = lists
    probes = min(params.nprobe if params is not None else base.nprobe, ids.shape[1])
    params = params or faiss.SearchParametersIVF()
    params.nprobe = probes
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    x = np.ascontiguousarray(queries, dtype=np.float32)
    assign = np.ascontiguousarray(ids[:, :probes], dtype=np.int64)
    dis = np.ascontiguousarray(scores[:, :probes], dtype=np.float32)
    out_scores = np.empty((len(x), n), np.float32)
    out_ids = np.empty((len(x), n), np.int64)
    try:  # the C call: FAISS's Python wrapper of search_preassigned takes no parameters (nprobe, selector)
        base.search_preassigned_c(
            len(x), faiss.swig_ptr(x), n, faiss.swig_ptr(assign), faiss.swig_ptr(dis),
            faiss.swig_ptr(out_scores), faiss.swig_ptr(out_ids), False, params,
        )
        return out_scores, out_ids
    finally:
        faiss.omp_set_num_threads(threads)


def _base(index: faiss.Index) -> faiss.Index:
    """The index that holds the codes: inside the IDMap2 wrapper, and inside a refine step if any."""
    inner = _inner(index)
    return faiss.downcast_index(inner.base_index) if isinstance(inner, faiss.IndexRefine) else inner


def _sample(vectors: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` rows, a fixed sample, so that a rebuild from the same vectors gives the same index."""
    if len(vectors) <= limit:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), limit, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def search_parameters(
    index: faiss.Index,
    allowed: np.ndarray | None = None,
    *,
    excluded: np.ndarray | None = None,
    nprobe: int | None = None,
    ef_search: int | None = None,
    k_factor: float | None = None,
) -> faiss.SearchParameters | None:
    """Search-time parameters for `index` (as built by build_index), restricted to the ids `allowed` if given.

    IVF probes `nprobe` lists and HNSW explores `ef_search` candidates (by default the values stored in the
    index at build time). A filter that allows a fraction f of the vectors widens nprobe by 1/sqrt(f) (up to
    every list: a narrow filter leaves too few allowed vectors in the usual lists for a good recall) and
    efSearch by 1/f (up to HNSW_MAX_EF_SEARCH). `excluded` (without `allowed`): ids left out of the search,
    such as a segment's deleted passages (cheaper than allowing all the others). Returns None when there is
    nothing to set.
    """
    wrapper = faiss.downcast_index(index)
    inner = _inner(index)
    base = _base(index)
    selector = _selector(allowed) if allowed is not None else None
    fraction = 1.0
    if allowed is not None and index.ntotal:
        fraction = max(len(allowed), 1) / index.ntotal
    elif excluded is not None and len(excluded) and index.ntotal:
        selector = faiss.IDSelectorNot(_selector(excluded))
        fraction = max(index.ntotal - len(excluded), 1) / index.ntotal
    refine = inner if isinstance(inner, faiss.IndexRefine) else None
    base_selector = selector
    if refine is not None and selector is not None and isinstance(wrapper, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        # IDMap translates the selector of the outer parameters only; the base index sees internal ids
        base_selector = faiss.IDSelectorTranslated(wrapper.id_map, selector)
    if isinstance(base, faiss.IndexIVF):
        probes = nprobe or base.nprobe
        probes = min(base.nlist, math.ceil(probes / math.sqrt(fraction)))
        params = faiss.SearchParametersIVF(nprobe=probes, sel=base_selector)
    elif isinstance(base, faiss.IndexHNSW):
        ef = ef_search or base.hnsw.efSearch
        ef = max(ef, min(HNSW_MAX_EF_SEARCH, math.ceil(ef / fraction)))
        params = faiss.SearchParametersHNSW(efSearch=ef, sel=base_selector)
    elif selector is not None:
        params = faiss.SearchParameters(sel=base_selector)
    else:
        params = None
    if refine is not None:
        return faiss.IndexRefineSearchParameters(k_factor=k_factor or REFINE_K_FACTOR, sel=selector, base_index_params=params)
    return params


def _selector(allowed: np.ndarray) -> faiss.IDSelector:
    allowed = np.asarray(allowed, dtype=np.int64)
    if len(allowed) < SELECTOR_BITMAP_MIN:
        return faiss.IDSelectorBatch(allowed)
    bits = np.zeros(int(allowed.max()) + 1, dtype=bool)
    bits[allowed] = True
    return faiss.IDSelectorBitmap(np.packbits(bits, bitorder="little"))


def save_index(index: faiss.Index, folder: Path) -> None:
    faiss.write_index(index, str(folder / FAISS_NAME))


def load_index(folder: Path) -> faiss.Index:
    """Memory-mapped (segments are immutable): opening costs nothing, the pages are the page cache's,
    shared by every process serving the segment."""
    path = folder / FAISS_NAME
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
    except RuntimeError as exc:
        raise IndexCorruptError(f"{path}: FAISS index is unreadable ({str(exc).splitlines()[0][:200]})") from None


class QuantizedVectors:
    """Vectors stored as int8 codes and one float32 scale each (vector ~= codes * scale), read as float32
    rows: indexing with an int, a slice or an array of rows gives what indexing a float32 array would,
    up to the quantization (half a step, scale / 2, a component). Symmetric, per vector: a unit vector's
    largest component maps to 127, so a dot product with a unit query is off by about 3e-4 (e5's
    cosines between a question and passages differ by hundredths)."""

    def __init__(self, codes: np.ndarray, scales: np.ndarray) -> None:
        self.codes = codes
        self.scales = scales
        self.dtype = np.dtype(np.float32)
        self.shape = codes.shape
        self.ndim = 2

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, key) -> np.ndarray:
        codes = np.asarray(self.codes[key], dtype=np.float32)
        scales = np.asarray(self.scales[key], dtype=np.float32)
        return codes * (scales[..., None] if codes.ndim > scales.ndim else scales)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.scales.nbytes)


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 scales of float32 vectors (QuantizedVectors); a zero vector gets scale 0."""
    vectors = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(vectors).max(axis=1) if vectors.size else np.zeros(len(vectors), np.float32)
    scales = (peak / 127).astype(np.float32)
    safe = np.where(scales > 0, scales, 1).astype(np.float32)
    codes = np.clip(np.rint(vectors / safe[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def save_quantized(folder: Path, codes_name: str, scales_name: str, vectors: np.ndarray, dim: int) -> None:
    """`vectors` (float32, an array or a memory map; or QuantizedVectors) as int8 files, QUANTIZE_CHUNK rows at a time."""
    n = len(vectors)
    codes = np.lib.format.open_memmap(folder / codes_name, mode="w+", dtype=np.int8, shape=(n, dim))
    scales = np.empty(n, np.float32)
    for lo in range(0, n, QUANTIZE_CHUNK):
        hi = min(n, lo + QUANTIZE_CHUNK)
        codes[lo:hi], scales[lo:hi] = quantize(np.asarray(vectors[lo:hi], dtype=np.float32).reshape(-1, dim))
    codes.flush()
    del codes
    np.save(folder / scales_name, scales)


def _random_access(array: np.ndarray) -> np.ndarray:
    """No read-ahead on a memory map read a few rows at a time (a search reads its candidates' rows): a row
    not in the page cache costs its page from disk, not the kernel's read-ahead window around it."""
    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    return array


def _load_quantized(folder: Path, codes_name: str, scales_name: str) -> QuantizedVectors:
    codes = _random_access(np.load(folder / codes_name, mmap_mode="r"))
    scales = _random_access(np.load(folder / scales_name, mmap_mode="r"))
    if codes.ndim != 2 or codes.dtype != np.int8 or scales.shape != (len(codes),):
        raise ValueError(f"{len(codes)} codes of {codes.dtype}, {scales.shape} scales")
    return QuantizedVectors(codes, scales)


def load_vectors(folder: Path, vector_format: str = FLOAT32) -> tuple[np.ndarray, np.ndarray]:
    """Passage vectors (memory-mapped; QuantizedVectors for format "int8") and their ids."""
    name = VECTORS_Q8 if vector_format == INT8 else VECTORS_NAME
    try:
        vectors = _load_quantized(folder, VECTORS_Q8, VECTORS_SCALE) if vector_format == INT8 else np.load(folder / name, mmap_mode="r")
        vids = np.load(folder / VIDS_NAME)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{folder / name}: vectors are unreadable ({exc})") from None
    if vectors.ndim != 2 or len(vectors) != len(vids):
        raise IndexCorruptError(f"{folder / name}: {len(vectors)} vectors for {len(vids)} ids")
    return vectors, vids


def save_sentence_ids(folder: Path, sentence_vids: np.ndarray, spans: np.ndarray) -> None:
    """The sentences' passage ids and spans (their vectors are saved on their own)."""
    np.save(folder / SENTENCE_VIDS, sentence_vids.astype(np.int64))
    np.save(folder / SENTENCE_SPANS, spans.astype(np.int32).reshape(-1, 2))


def load_sentences(folder: Path, vector_format: str = FLOAT32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sentence vectors (memory-mapped; QuantizedVectors for format "int8"), their passage ids and their spans."""
    name = SENTENCE_Q8 if vector_format == INT8 else SENTENCE_VECTORS
    try:
        if vector_format == INT8:
            sentence_vectors = _load_quantized(folder, SENTENCE_Q8, SENTENCE_SCALE)
        else:
            sentence_vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
        sentence_vids = np.load(folder / SENTENCE_VIDS)
        spans = np.load(folder / SENTENCE_SPANS)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{folder / name}: sentence vectors are unreadable ({exc})") from None
    if not (len(sentence_vectors) == len(sentence_vids) == len(spans)):
        raise IndexCorruptError(f"{folder / name}: sentence arrays disagree in length")
    return sentence_vectors, sentence_vids, spans


def search_single_thread(index: faiss.Index, queries: np.ndarray, n: int, params) -> tuple[np.ndarray, np.ndarray]:
    """FAISS search on the calling thread alone. One query gains nothing from FAISS's OpenMP team, and
    waking that team costs more than the search on a busy machine (bench/search_path.py). The thread
    count is an OpenMP per-thread setting, restored for whatever this
    thread runs next (an index build)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, n, params=params)
    finally:
        faiss.omp_set_num_threads(threads)
