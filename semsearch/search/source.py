"""What the search engine reads of an index: the declared seam between search/ and what serves it rows.

Two things implement it: the reader of a local commit (store/reader.py `IndexReader`) and, in a sharded
search, the shards' candidates laid out as rows (sharded_search.py `CandidateView`). The Searcher,
grouping, highlighting and similar articles use nothing else of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..store.commit import CommitPoint
from ..store.database import PassageRow
from ..store.lexical import Bm25Query
from ..store.reader import IndexSummary
from ..store.segment import RowTable, SentenceTable


class IndexView(Protocol):
    path: Path  # the commit point's file: its name says which commit a search saw
    commit: CommitPoint
    summary: IndexSummary
    rows: RowTable  # one row per live passage (or candidate), in the index's row order
    sentences: SentenceTable  # every row's sentences: vectors, spans, and where each row's start
    vectors: np.ndarray  # passage vectors by row (array-like: indexed by rows)

    @property
    def size(self) -> int: ...

    @property
    def identity(self) -> np.ndarray:
        """Each row's key in passage-identity order: equal scores break ties the same way everywhere."""
        ...

    @property
    def newest_date(self) -> int: ...

    def dense_search(self, qvec: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray: ...

    def lexical_scores(self, terms: list[str]) -> Bm25Query | np.ndarray:
        """BM25+ of the rows: `scores[rows]` gives given rows' scores, Searcher.top_rows the best n (a local
        reader's are computed where asked, store/lexical.py Bm25Query; the candidates' are an array)."""
        ...

    def fetch_passages(self, vids: list[int]) -> dict[int, PassageRow]: ...
