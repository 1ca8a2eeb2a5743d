"""Answering a query against one reader of a commit: dense, lexical, or both fused.

Filters are applied before the top-k cut, so a filtered search returns k results when k exist.
Each passage's dense score is fused with the score of its best sentence, which is also the
highlight; passages of other articles whose answering sentence says the same thing are
grouped under the best one as its duplicates.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import numpy as np
from cachetools import LRUCache

from ..dates import date_bounds
from ..embedding import Embedder
from ..embedding.base import LatentTerms
from ..errors import InvalidInputError
from ..store import latent as latent_store
from ..store.database import PassageRow
from ..store.lexical import Bm25Query, SparseScores
from ..text.analyzer import analyze, bridge_terms, salient_numbers
from ..text.lang import SUPPORTED_LANGS, detect_language
from .collapse import CollapseConfig, Collapser
from .facets import ANNOTATION_FACETS, annotation_facet_counts
from .fusion import FusionConfig, add_latent, fuse, sentence_weights
from .listing import relevant_ranking, result_page
from .results import DuplicateRef, Ranking, SearchFilters, SearchHit, SearchResult
from .search_options import SearchOptions
from .sentence_terms import SentenceTerms
from .source import IndexView

MODES = ("hybrid", "dense", "lexical")
MAX_QUERY_CHARS = 1000
MAX_K = 100
HIGHLIGHT_MARGIN = 0.01  # a second sentence is marked too when it scores this close to the best
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL; tab and newlines are fine


NOT_CACHED = object()  # QueryVectorCache.peek_latent: the query's latent terms were not asked yet


def may_ask_latent(searcher: Searcher, query: str) -> bool:
    """Whether a hybrid search for `query` may ask the model for its latent terms: the index has them and holds
    a language other than the query's (fusion.add_latent is used only when a candidate is in another language)."""
    reader = searcher.reader
    if searcher.fusion.cross_language_latent <= 0 or searcher.embedder is None or not getattr(reader, "has_latent_terms", False):
        return False
    languages = reader.summary.languages
    return not (len(languages) == 1 and query_language(query, languages) == languages[0])


class QueryVectorCache:
    """Bounded LRU of query embeddings (and of their latent terms): a repeated query costs no model call."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._items: LRUCache[tuple[str, str], np.ndarray] = LRUCache(maxsize=max(size, 1))
        self._latent: LRUCache[tuple[str, str], LatentTerms | None] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()  # searches run on several threads; cachetools' caches are not thread-safe
        self._pins = threading.local()

    def latent(self, embedder: Embedder, query: str) -> LatentTerms | None:
        """The query's latent terms (None: the model has none)."""
        key = (embedder.spec, query)
        if getattr(self._pins, "key", None) == key and self._pins.latent is not NOT_CACHED:
            return self._pins.latent
        with self._lock:
            if key in self._latent:
                return self._latent[key]
        found = embedder.latent_terms([query])
        terms = found[0] if found else None
        if self.size:
            with self._lock:
                self._latent[key] = terms
        return terms

    def get(self, embedder: Embedder, query: str) -> np.ndarray:
        return self.submit(embedder, query)()

    def peek(self, embedder: Embedder, query: str) -> np.ndarray | None:
        """The cached vector of `query`, or None: never a model call."""
        with self._lock:
            return self._items.get((embedder.spec, query))

    def peek_latent(self, embedder: Embedder, query: str) -> LatentTerms | None | object:
        """The cached latent terms of `query` (None: the model has none), or NOT_CACHED: never a model call."""
        with self._lock:
            return self._latent.get((embedder.spec, query), NOT_CACHED)

    @contextmanager
    def pinned(self, embedder: Embedder, query: str, vector: np.ndarray, latent: object = None) -> Iterator[None]:
        """`vector` (and `latent`, its latent terms, unless NOT_CACHED) answer `query` on this thread meanwhile,
        whatever the LRU evicts: a search run on the event loop because they were cached must never wait for the model."""
        self._pins.key, self._pins.vector, self._pins.latent = (embedder.spec, query), vector, latent
        try:
            yield
        finally:
            self._pins.key = self._pins.vector = None
            self._pins.latent = NOT_CACHED

    def submit(self, embedder: Embedder, query: str) -> Callable[[], np.ndarray]:
        """Start embedding `query` (unless cached); the returned call waits for its vector."""
        key = (embedder.spec, query)
        if getattr(self._pins, "key", None) == key:
            pinned = self._pins.vector
            return lambda: pinned
        with self._lock:
            cached = self._items.get(key)
        if cached is not None:
            return lambda: cached
        future = embedder.submit_queries([query])

        def vector() -> np.ndarray:
            result = future.result()[0]
            if self.size:
                with self._lock:
                    self._items[key] = result
            return result

        return vector


NUMBERS_READ_AHEAD = 32  # candidates read together when grouping needs one's numbers: one read instead of about 20


def validate_query(query: str, k: int, mode: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("query: must not be empty", "query")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"query: longer than {MAX_QUERY_CHARS} characters ({len(query)})", "query")
    if _CONTROL.search(query):
        raise InvalidInputError("query: contains control characters", "query")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k: must be an integer from 1 to {MAX_K}", "k")
    if mode not in MODES:
        raise InvalidInputError(f"mode: {mode!r} is not one of {', '.join(MODES)}", "mode")
    return query.strip()


def pool_depth(size: int, candidates: int, k: int) -> int:
    """Passages a search for k results ranks before grouping: what it asks its reader (or each shard) for."""
    return min(size, max(candidates, 4 * k))


def query_language(query: str, languages: list[str] | None) -> str:
    """The query's language among the index's languages and English; the index's first when unsure."""
    languages = languages or ["fr"]
    return detect_language(query, candidates=tuple(languages) + ("en",), default=languages[0])


def query_terms(query: str, query_lang: str, languages: list[str] | None, bridge: bool = True) -> list[str]:
    """BM25 terms of a query: its own analysis and, with `bridge`, the words it shares with the index's
    other languages as their analyzers make them (names, numbers, cognates: analyzer.bridge_terms), so
    an English question finds "Napoléon" and "révolution" in French passages."""
    terms = analyze(query, query_lang)
    if bridge:
        seen = set(terms)
        for lang in languages or ():
            if lang != query_lang and lang in SUPPORTED_LANGS:
                extra = [t for t in dict.fromkeys(bridge_terms(query, query_lang, lang)) if t not in seen]
                seen.update(extra)
                terms += extra
    return terms


def answer_sentences(scores: np.ndarray) -> list[int]:
    """Local indices of a passage's answering sentences: its best and, within HIGHLIGHT_MARGIN, its second
    best. In plain Python: a passage has a handful of sentences, and numpy's cost a call (argsort, max) was
    most of grouping's time (BENCHMARKS.md, serving). An exact tie for the second place is left to numpy's
    argsort as before, whose order among equal scores decides which sentence is picked."""
    values = scores.tolist()
    if not values:
        return []
    best = max(values)
    if best <= 0:
        return []
    if len(values) == 1:
        return [0]
    first = values.index(best)
    rest = values.copy()
    rest[first] = -math.inf
    runner = max(rest)
    if rest.count(runner) > 1:
        return sorted(int(i) for i in np.argsort(-scores)[:2] if scores[i] >= best - HIGHLIGHT_MARGIN)
    return sorted(i for i in (first, rest.index(runner)) if values[i] >= best - HIGHLIGHT_MARGIN)


def _first_max(values: list[float]) -> int:
    """np.argmax of a short list: the index of its first maximum."""
    return values.index(max(values))


def _least(rows: np.ndarray, identity: np.ndarray, n: int) -> np.ndarray:
    """The n rows of least identity, in identity order."""
    if len(rows) > n:
        rows = rows[np.argpartition(identity[rows], n - 1)[:n]] if n > 0 else rows[:0]
    return rows[np.argsort(identity[rows])]


V = TypeVar("V", bound=IndexView)


class Searcher(Generic[V]):
    """Searches over one IndexView (the reader of a commit, or a sharded search's candidates)."""

    def __init__(
        self,
        reader: V,
        embedder: Embedder | None,  # None: ranking only, from vectors given (a shard)
        fusion: FusionConfig = FusionConfig(),
        cache: QueryVectorCache | None = None,
        candidates: int = 100,
        per_doc: int = 2,
        collapse: CollapseConfig = CollapseConfig(),
        annotations=None,  # annotations.AnnotationView of this reader: entities and stories (None: none)
    ) -> None:
        self.reader = reader
        self.annotations = annotations
        self.embedder = embedder
        self.fusion = fusion
        self.cache = cache or QueryVectorCache()
        self.candidates = candidates
        self.per_doc = per_doc
        self.collapse = collapse
        self.sentence_terms = SentenceTerms(reader)  # lexical highlights, analyzed once per reader

    # -- filters ---------------------------------------------------------------------------

    def filter_mask(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Boolean mask over rows, or None when nothing is filtered (a bad date is an InvalidInputError)."""
        if filters is None or not any(vars(filters).values()):
            return None
        rows = self.reader.rows
        mask = np.ones(len(rows.vids), dtype=bool)
        if filters.date_from:
            lo, _ = date_bounds(filters.date_from, "date_from")
            mask &= (rows.date_hi >= lo) & (rows.date_hi > 0)
        if filters.date_to:
            _, hi = date_bounds(filters.date_to, "date_to")
            mask &= (rows.date_lo <= hi) & (rows.date_lo > 0)
        if filters.lang:
            wanted = filters.lang.strip().lower()
            mask &= np.isin(rows.lang, [i for i, lang in enumerate(rows.langs) if lang == wanted])
        if filters.source:
            wanted = filters.source.strip().casefold()
            mask &= np.isin(rows.source, [i for i, s in enumerate(rows.sources) if s.casefold() == wanted])
        if filters.entity is not None:
            mask &= self.annotations.entity_mask(filters.entity) if self.annotations is not None else False
        if filters.story is not None:
            mask &= self.annotations.story_mask(filters.story) if self.annotations is not None else False
        return mask

    # -- retrieval -------------------------------------------------------------------------

    def _dense_top(self, qvec: np.ndarray, n: int, mask: np.ndarray | None) -> np.ndarray:
        """Row positions of the n nearest passages (among the allowed ones)."""
        return self.reader.dense_search(qvec, n, mask)

    def nearest(self, vector: np.ndarray, n: int, filters: SearchFilters | None = None) -> np.ndarray:
        """Row positions of the n passages nearest to `vector` among the filtered ones (similar articles)."""
        return self._dense_top(vector, n, self.filter_mask(filters))

    def top_rows(self, scores: Bm25Query | SparseScores | np.ndarray, n: int, mask: np.ndarray | None, positive: bool = False) -> np.ndarray:
        """The n best allowed rows, best first; equal scores in passage-identity order (the reader's
        `identity`), never row order, so an index grown by many writes ranks like one built in one write.

        `scores`: a reader's lexical scores (its candidates for the top n: rows holding a query term, the
        others at BM25+'s baseline or below the n-th best) or a dense array. The rows above the baseline are
        ranked; only when they are fewer than n do baseline rows fill up, least identity first (the one step
        that reads every row)."""
        if n <= 0 or not len(scores):
            return np.zeros(0, np.int64)
        if isinstance(scores, Bm25Query):
            sparse = scores.top_candidates(n, mask)
        else:
            sparse = scores if isinstance(scores, SparseScores) else SparseScores.from_dense(scores)
        identity = self.reader.identity
        above, values = sparse.rows, sparse.values
        if mask is not None:
            keep = mask[above]
            above, values = above[keep], values[keep]
        if positive:
            keep = values > 0
            above, values = above[keep], values[keep]
        if len(above) > n:
            nth = np.partition(values, len(above) - n)[len(above) - n]
            better, tied = values > nth, values == nth
            top = _least(above[tied], identity, n - int(better.sum()))
            above = np.concatenate([above[better], top])
            values = np.concatenate([values[better], np.full(len(top), nth, values.dtype)])
        ranked = above[np.lexsort((identity[above], -values))]
        if len(ranked) < n and not sparse.complete:  # pruned candidates always hold n; should they not, score them all
            return self.top_rows(scores.sparse(), n, mask, positive)  # type: ignore[union-attr]
        if len(ranked) == n or (positive and sparse.baseline <= 0) or len(sparse.rows) == sparse.size:
            return ranked
        free = np.ones(sparse.size, bool)
        free[sparse.rows] = False
        if mask is not None:
            free &= mask
        return np.concatenate([ranked, _least(np.flatnonzero(free), identity, n - len(ranked))])

    def _sentence_scores(self, rows: np.ndarray, qvec: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Cosine of every sentence of each candidate to the query, and each candidate's best."""
        table = self.reader.sentences
        starts, ends = table.ptr[rows], table.ptr[rows + 1]
        lengths = ends - starts
        bounds = np.cumsum(lengths)
        # every candidate's sentence rows in one gather and one product, not one memmap slice each
        index = np.arange(int(bounds[-1]) if len(bounds) else 0) + np.repeat(starts - (bounds - lengths), lengths)
        scores = np.asarray(table.vectors[index] @ qvec, dtype=np.float64)
        if len(scores) == 0:
            return [np.zeros(0) for _ in rows], np.zeros(len(rows))
        return np.split(scores, bounds[:-1]), np.maximum.reduceat(scores, bounds - lengths)

    def _term_overlaps(self, rows: np.ndarray, terms: list[str], texts: dict[int, PassageRow]) -> list[np.ndarray]:
        """Without a query vector (lexical mode): how many query terms each sentence holds. The
        passages read go into `texts`, for the result list."""
        wanted = set(terms)
        return [
            np.array([len(wanted & sentence) for sentence in sentences], dtype=np.float64)
            for sentences in self.sentence_terms.of_rows(rows, texts)
        ]

    def rank(self, query: str, depth: int, mode: str, filters: SearchFilters | None = None) -> Ranking:
        """The best `depth` passages (before grouping), best first."""
        reader = self.reader
        mask = self.filter_mask(filters)
        n = min(reader.size, max(self.candidates, depth))
        # the model embeds on its own thread while this one does the work that needs no vector
        query_vector = self.cache.submit(self.embedder, query) if mode != "lexical" and n else None
        query_lang = query_language(query, reader.summary.languages)
        empty = Ranking(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), [], query_lang)
        if n == 0:
            return empty
        terms = query_terms(query, query_lang, reader.summary.languages, self.fusion.bridge_terms)
        lexical = reader.lexical_scores(terms) if mode != "dense" else None
        if mode == "lexical":
            rows = self.top_rows(lexical, depth, mask, positive=True)
            texts: dict[int, PassageRow] = {}
            ranking = self._ranking(rows, lexical[rows], self._term_overlaps(rows, terms, texts), query_lang)
            ranking.passages = texts
            return ranking
        lexical_top = self.top_rows(lexical, n, mask, positive=True) if mode == "hybrid" else None
        qvec = query_vector()
        rows = self._dense_top(qvec, n, mask)
        if lexical_top is not None:
            rows = np.union1d(rows, lexical_top)
        if len(rows) == 0:
            return empty
        sentence_scores, best = self._sentence_scores(rows, qvec)
        same_language = reader.rows.lang[rows] == self._lang_code(query_lang)
        w = sentence_weights(self.fusion, same_language)
        dense = (1 - w) * np.asarray(reader.vectors[rows] @ qvec, dtype=np.float64) + w * best
        scores = dense if mode == "dense" else fuse(dense, lexical[rows], self.fusion, same_language)
        if mode == "hybrid":
            scores = self._latent_evidence(query, rows, scores, same_language)
        order = np.argsort(-scores, kind="stable")[:depth]
        return self._ranking(rows[order], scores[order], [sentence_scores[i] for i in order], query_lang)

    def _latent_evidence(self, query: str, rows: np.ndarray, scores: np.ndarray, same_language: np.ndarray) -> np.ndarray:
        """Fused scores with the candidates' latent-terms evidence (fusion.add_latent) when one of them is in
        another language; unchanged when all are in the query's language or the index or model has none."""
        if self.fusion.cross_language_latent <= 0 or self.embedder is None or same_language.all():
            return scores
        blobs = self.reader.latent_terms(rows)
        if blobs is None:
            return scores
        asked = self.cache.latent(self.embedder, query)
        if asked is None:
            return scores
        return add_latent(scores, latent_store.cosines(asked, blobs), self.fusion)

    def _lang_code(self, lang: str) -> int:
        langs = self.reader.rows.langs
        return langs.index(lang) if lang in langs else -1

    def _ranking(self, rows: np.ndarray, scores: np.ndarray, sentence_scores: list[np.ndarray], query_lang: str) -> Ranking:
        # np.argmax a candidate cost more than the list's own first maximum (the same index)
        first = self.reader.sentences.ptr[rows].tolist()
        best = np.array([f + _first_max(s.tolist()) for f, s in zip(first, sentence_scores)], dtype=np.int64)
        return Ranking(rows, np.asarray(scores, dtype=np.float64), best, sentence_scores, query_lang)

    # -- result list -----------------------------------------------------------------------

    def _answer_sentences(self, ranking: Ranking, pos: int) -> list[int]:
        """Local indices of the sentences that answer: the best one and any within the margin."""
        return answer_sentences(ranking.sentence_scores[pos])

    def _passages(self, vids: list[int], read: dict[int, PassageRow]) -> dict[int, PassageRow]:
        """Passage rows of one search, each read from SQLite once: grouping reads a few for their
        numbers, the result list the rest."""
        missing = [v for v in vids if v not in read]
        if missing:
            read.update(self.reader.fetch_passages(missing))
        return {v: read[v] for v in vids if v in read}

    def _answer_numbers(self, ranking: Ranking, pos: int, cache: dict[int, set[str]], read: dict[int, PassageRow]) -> set[str]:
        if pos not in cache:
            reader = self.reader
            row_index = int(ranking.rows[pos])
            vid = int(reader.rows.vids[row_index])
            if vid not in read:  # grouping asks in rank order: this candidate and the next ones in one SQLite read
                self._passages([int(v) for v in reader.rows.vids[ranking.rows[pos:pos + NUMBERS_READ_AHEAD]]], read)
            row = read.get(vid)
            first = int(reader.sentences.ptr[row_index])
            numbers: set[str] = set()
            for i in self._answer_sentences(ranking, pos) if row else []:
                a, b = reader.sentences.spans[first + i]
                numbers |= salient_numbers(row.text[int(a):int(b)])
            cache[pos] = numbers
        return cache[pos]

    def _select(
        self, ranking: Ranking, k: int, collapse: bool, per_doc_cap: int, read: dict[int, PassageRow]
    ) -> list[tuple[int, list[int]]]:
        """Positions in the ranking of the k results, each with the positions of its duplicates.
        `read` collects the passage rows grouping had to read."""
        # the answering-sentence vectors of all candidates in one read, not one memmap access each
        vectors = np.asarray(self.reader.sentences.vectors[ranking.best_sentence], dtype=np.float32) if collapse else None
        cache: dict[int, set[str]] = {}
        collapser = Collapser(self.collapse, lambda pos: self._answer_numbers(ranking, pos, cache, read), vectors)
        chosen: list[tuple[int, list[int]]] = []
        per_doc: dict[int, int] = {}
        headlines = self.reader.rows.headline[ranking.rows].tolist()
        for pos, doc in enumerate(self.reader.rows.doc_index[ranking.rows].tolist()):
            vector = vectors[pos] if collapse else None
            if collapse and collapser.place(pos, doc, vector, headlines[pos]) is not None:
                continue
            if per_doc.get(doc, 0) >= per_doc_cap:
                continue
            if len(chosen) == k:
                if not collapse:
                    break
                continue  # keep scanning: later passages may still duplicate one of the k chosen
            per_doc[doc] = per_doc.get(doc, 0) + 1
            chosen.append((pos, []))
            if collapse:
                collapser.add_leader(pos, doc, vector, headlines[pos])
        if collapse:
            members = {group.leader: group.members for group in collapser.groups}
            chosen = [(pos, members.get(pos, [])) for pos, _ in chosen]
        return chosen

    def _highlight(self, ranking: Ranking, pos: int) -> list[tuple[int, int]]:
        table = self.reader.sentences
        first = int(table.ptr[ranking.rows[pos]])
        return [(int(table.spans[first + i][0]), int(table.spans[first + i][1])) for i in self._answer_sentences(ranking, pos)]

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: SearchFilters | None = None,
        collapse: bool = True,
        per_doc: int | None = None,
        options: SearchOptions | None = None,
    ) -> SearchResult:
        """The k best passages, at most `per_doc` per document; with `collapse`, passages reporting
        the same fact in other documents are grouped under the best one. `options`: order, recency
        boost, offset and facets over the relevant results (listing.py)."""
        started = time.perf_counter()
        query = validate_query(query, k, mode)
        per_doc = self.per_doc if per_doc is None else per_doc
        if not isinstance(per_doc, int) or isinstance(per_doc, bool) or not 1 <= per_doc <= MAX_K:
            raise InvalidInputError(f"per_doc: must be an integer from 1 to {MAX_K}", "per_doc")
        depth = pool_depth(self.reader.size, self.candidates, k)
        ranking = self.rank(query, depth, mode, filters)
        options = options or SearchOptions()
        annotation_facets = tuple(f for f in options.facets if f in ANNOTATION_FACETS)
        if annotation_facets:
            options = replace(options, facets=tuple(f for f in options.facets if f not in ANNOTATION_FACETS))
        ranking, exhausted = relevant_ranking(
            ranking, self.reader.rows, mode, options, depth, self.embedder.spec, self.reader.size, self.reader.newest_date
        )
        read: dict[int, PassageRow] = dict(ranking.passages)
        selected = self._select(ranking, len(ranking.rows), collapse, per_doc, read)
        page = result_page(selected, ranking, self.reader.rows, options, k, exhausted)
        if annotation_facets:
            counted = annotation_facet_counts(self.annotations, ranking.rows[[pos for pos, _ in selected]], annotation_facets)
            asked = (*options.facets, *annotation_facets)
            page.facets = {name: ({**page.facets, **counted})[name] for name in asked}
        chosen = page.chosen
        vids = self.reader.rows.vids
        wanted = [int(vids[ranking.rows[p]]) for p, dups in chosen for p in [p, *dups]]
        fetched = self._passages(wanted, read)
        hits: list[SearchHit] = []
        for pos, dups in chosen:
            row = fetched.get(int(vids[ranking.rows[pos]]))
            if row is None:
                continue
            duplicates = [
                DuplicateRef(d.doc_id, d.passage_id, d.title, d.source, d.date)
                for d in (fetched.get(int(vids[ranking.rows[p]])) for p in dups)
                if d is not None
            ]
            hits.append(
                SearchHit(
                    rank=options.offset + len(hits) + 1,
                    score=round(float(ranking.scores[pos]), 6),
                    doc_id=row.doc_id,
                    passage_id=row.passage_id,
                    title=row.title,
                    date=row.date,
                    source=row.source,
                    url=row.url,
                    lang=row.lang,
                    text=row.text,
                    start=row.start,
                    end=row.end,
                    highlight=self._highlight(ranking, pos),
                    duplicates=duplicates,
                    entities=self.annotations.row_entities(int(ranking.rows[pos])) if self.annotations is not None else [],
                    story=self.annotations.row_story(int(ranking.rows[pos])) if self.annotations is not None else None,
                )
            )
        took = (time.perf_counter() - started) * 1000
        return SearchResult(
            query=query, query_lang=ranking.query_lang, mode=mode, took_ms=round(took, 2), results=hits,
            total=page.total, total_relation=page.total_relation, offset=options.offset, facets=page.facets,
            histogram=page.histogram,
        )


@dataclass(frozen=True)
class SearchConfig:
    """How a searcher ranks and groups (the settings build one: `Settings.search_config()`)."""

    fusion: FusionConfig = field(default_factory=FusionConfig)
    collapse: CollapseConfig = field(default_factory=CollapseConfig)
    candidates: int = 100
    per_doc: int = 2
    query_cache_size: int = 1024


def build_searcher(
    reader: V, embedder: Embedder, config: SearchConfig, cache: QueryVectorCache | None = None, annotations=None
) -> Searcher[V]:
    return Searcher(
        reader,
        embedder,
        fusion=config.fusion,
        cache=cache or QueryVectorCache(config.query_cache_size),
        candidates=config.candidates,
        per_doc=config.per_doc,
        collapse=config.collapse,
        annotations=annotations,
    )
