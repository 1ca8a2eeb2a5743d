"""What the search engine reads of an index: the declared seam between search/ and what serves it rows.

Two things implement `IndexView`: the reader of a local commit (store/reader.py `IndexReader`) and, in a
sharded search, the shards' candidates laid out as rows (sharded_search.py `CandidateView`). The
Searcher, grouping, highlighting and similar articles use nothing else of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..store.commit import CommitPoint
from ..store.database import DocumentRow, PassageRow
from ..store.lexical import Bm25Query
from ..store.reader import IndexSummary
from ..store.segment import RowTable, SentenceTable


class IndexView(Protocol):
    """One commit's live passages as rows: row i of `rows`, `vectors` and `sentences` is one passage."""

    @property
    def path(self) -> Path:
        """The commit point's file: its name says which commit a search saw."""
        ...

    @property
    def commit(self) -> CommitPoint: ...

    @property
    def summary(self) -> IndexSummary:
        """The whole index's counts, languages and sources (also when the rows are only candidates)."""
        ...

    @property
    def rows(self) -> RowTable: ...

    @property
    def sentences(self) -> SentenceTable:
        """Every row's sentences: vectors, spans, and where each row's sentences start (`ptr`)."""
        ...

    @property
    def vectors(self) -> np.ndarray:
        """Passage vectors by row (array-like: indexed with row arrays)."""
        ...

    @property
    def size(self) -> int:
        """Passages in the whole index: what a search's candidate pool is sized by."""
        ...

    @property
    def identity(self) -> np.ndarray:
        """Each row's key in passage-identity order: equal scores break ties the same way everywhere."""
        ...

    @property
    def newest_date(self) -> int:
        """The latest date of any live passage of the whole index (0: none): the day recency counts from."""
        ...

    def dense_search(self, qvec: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Rows of the n nearest passages among `mask`'s, best first."""
        ...

    def lexical_scores(self, terms: list[str]) -> Bm25Query | np.ndarray:
        """BM25+ of the rows: `scores[rows]` gives given rows' scores, Searcher.top_rows the best n (a local
        reader's are computed where asked, store/lexical.py Bm25Query; the candidates' are an array)."""
        ...

    def fetch_passages(self, vids: list[int]) -> dict[int, PassageRow]: ...

    def latent_terms(self, rows: np.ndarray) -> list[bytes | None] | None:
        """Each row's latent-terms blob (store/latent.py), or None when they are not there for every passage."""
        ...

    def fetch_document(self, doc_id: str) -> tuple[DocumentRow, list[PassageRow]] | None: ...
