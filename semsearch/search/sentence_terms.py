"""The analyzed terms of each sentence of a passage, kept for the lexical highlights of one reader.

A lexical search has no query vector, so each candidate's answering sentence (its highlight, and
the vector duplicate grouping compares) is the sentence holding the most query terms. Reading and
analyzing every sentence of every candidate would be most of a lexical search's work; passages recur
across queries, so their sentences are analyzed once per reader, in a bounded LRU, and a cached
passage is not read from SQLite at all.
"""

from __future__ import annotations

import threading

import numpy as np
from cachetools import LRUCache

from ..store.database import PassageRow
from ..text.analyzer import analyze
from .source import IndexView

DEFAULT_SIZE = 8192  # passages; a few KiB each


class SentenceTerms:
    def __init__(self, reader: IndexView, size: int = DEFAULT_SIZE) -> None:
        self.reader = reader
        self.size = size
        self._items: LRUCache[int, list[frozenset[str]]] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def of_rows(self, rows: np.ndarray, read: dict[int, PassageRow]) -> list[list[frozenset[str]]]:
        """Per row, the term set of each of its sentences. Passages read from SQLite go into `read`."""
        reader = self.reader
        vids = reader.rows.vids
        with self._lock:
            found = {int(r): self._items[int(r)] for r in rows if int(r) in self._items}  # a read marks it used
        missing = [int(r) for r in rows if int(r) not in found]
        if missing:
            read.update(reader.fetch_passages([int(vids[r]) for r in missing if int(vids[r]) not in read]))
            table = reader.sentences
            for r in missing:
                row = read.get(int(vids[r]))
                text, lang = (row.text, row.lang or "fr") if row else ("", "fr")
                spans = table.spans[table.ptr[r] : table.ptr[r + 1]]
                found[r] = [frozenset(analyze(text[int(a) : int(b)], lang)) for a, b in spans]
            with self._lock:
                for r in missing:
                    self._items[r] = found[r]
        return [found[int(r)] for r in rows]
