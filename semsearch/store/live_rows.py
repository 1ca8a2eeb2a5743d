"""A segment's live passages as the reader's columns, and the passage-identity order of rows.

A reader of a new commit lays every segment's live passages end to end. What it needs of one segment
(which rows are live, their columns, their documents in sorted order) depends only on the segment and
its tombstones, so it is computed once per tombstone count and kept on the segment: a server reopening
after a one-article write pays for the new segment and for those whose tombstones changed, plus the
concatenation, not for the whole collection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SORT_BYTES = 256 * 2**20
ORDINAL_BITS = 24  # a passage's position in its document, in the low bits of its identity key


def sortable(strings: list[str]) -> np.ndarray:
    """The strings as a fixed-width unicode array, whose sort runs in C (several times faster than sorting
    Python objects), unless the widest would make that array large; then Python objects (same order: both
    compare code points)."""
    width = max(map(len, strings), default=0)
    if width * len(strings) * 4 <= _SORT_BYTES:
        return np.array(strings, dtype=f"<U{max(width, 1)}")
    return np.array(strings, dtype=object)


@dataclass(frozen=True)
class LiveRows:
    """One segment's live passages, with the segment's own codes for documents, languages and sources."""

    deleted: int  # the tombstone count it was computed for (tombstones only grow)
    local: np.ndarray  # the live rows of the segment, ascending
    doc: np.ndarray  # live row -> position in doc_ids
    doc_ids: list[str]  # the live documents, in the segment's order
    doc_keys: np.ndarray  # doc_ids sorted (see sortable)
    doc_order: np.ndarray  # positions in doc_ids, in doc_keys' order
    ordinal: np.ndarray  # live row -> its position among its document's passages (vid order)

    @classmethod
    def of(cls, vids: np.ndarray, doc_index: np.ndarray, doc_ids: list[str], deleted: np.ndarray) -> LiveRows:
        local = np.flatnonzero(~np.isin(vids, deleted)) if len(deleted) else np.arange(len(vids))
        codes = doc_index[local]
        used = np.zeros(len(doc_ids), bool)
        used[codes] = True
        kept = np.flatnonzero(used)
        remap = np.cumsum(used) - 1
        live_ids = [doc_ids[i] for i in kept] if len(kept) < len(doc_ids) else list(doc_ids)
        doc = remap[codes].astype(np.int32)
        keys = sortable(live_ids)
        order = np.argsort(keys, kind="stable")
        return cls(len(deleted), local, doc, live_ids, keys[order], order, _ordinals(doc, vids[local]))


def _ordinals(doc: np.ndarray, vids: np.ndarray) -> np.ndarray:
    """Each row's position among its document's rows, in vid order."""
    if not len(doc):
        return np.zeros(0, np.int64)
    order = np.lexsort((vids, doc))
    grouped = doc[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    out = np.empty(len(order), np.int64)
    out[order] = position
    return out


def identity_keys(parts: list[LiveRows], doc_offsets: list[int], row_doc: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
    """Each row's key in (document id, passage order) order. Ties between equal scores are broken by it,
    never by row position, so an index grown by many writes ranks exactly like one built in one write.
    Each part's documents are sorted already; a stable sort of the runs end to end merges them."""
    if not parts:
        return np.zeros(0, np.int64)
    keys = np.concatenate([p.doc_keys for p in parts])
    docs = np.concatenate([p.doc_order + offset for p, offset in zip(parts, doc_offsets)])
    rank = np.empty(len(docs), np.int64)
    rank[docs[np.argsort(keys, kind="stable")]] = np.arange(len(docs))
    return (rank[row_doc] << ORDINAL_BITS) | np.minimum(ordinals, (1 << ORDINAL_BITS) - 1)


def passage_identity(doc_ids: list[str], doc_index: np.ndarray, vids: np.ndarray) -> np.ndarray:
    """identity_keys for rows not laid out by segment (a sharded search's candidates)."""
    part = LiveRows.of(vids, doc_index, doc_ids, np.zeros(0, np.int64))
    return identity_keys([part], [0], part.doc, part.ordinal)
