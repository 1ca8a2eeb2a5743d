"""BM25 over analyzed passage terms, with bm25s. Row i of the BM25 index is the i-th vid."""

from __future__ import annotations

import logging
from pathlib import Path

import bm25s
import numpy as np

from ..errors import IndexCorruptError

BM25_DIR = "bm25"
_EMPTY = "\u2205"  # bm25s cannot index a row without terms: give such rows one inert term

logging.getLogger("bm25s").setLevel(logging.WARNING)


# BM25+ with low term-frequency saturation and length normalization: a passage that answers names
# the question's terms once, and long passages are not padding. Chosen on PIAF dev over k1 0.6-1.2,
# b 0.4-0.75 and five variants (BENCHMARKS.md); k1 0.6 won at every b and fusion weight tried.
BM25_METHOD, BM25_K1, BM25_B = "bm25+", 0.6, 0.5


def build_bm25(term_lists: list[list[str]]) -> bm25s.BM25 | None:
    if not term_lists:
        return None
    retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B, method=BM25_METHOD)
    retriever.index([terms or [_EMPTY] for terms in term_lists], show_progress=False)
    return retriever


def save_bm25(retriever: bm25s.BM25 | None, folder: Path) -> None:
    if retriever is not None:
        retriever.save(str(folder / BM25_DIR), show_progress=False)


def load_bm25(folder: Path, n_rows: int) -> bm25s.BM25 | None:
    path = folder / BM25_DIR
    if n_rows == 0:
        return None
    try:
        retriever = bm25s.BM25.load(str(path), mmap=True, show_progress=False)
    except (OSError, ValueError, KeyError) as exc:
        raise IndexCorruptError(f"{path}: BM25 index is unreadable ({exc})") from None
    return retriever


def bm25_scores(retriever: bm25s.BM25 | None, terms: list[str], n_rows: int) -> np.ndarray:
    """BM25 score of every row for these query terms (zeros when no term is known)."""
    if retriever is None or n_rows == 0:
        return np.zeros(n_rows, dtype=np.float32)
    known = [t for t in terms if t in retriever.vocab_dict]
    if not known:
        return np.zeros(n_rows, dtype=np.float32)
    return np.asarray(retriever.get_scores(known), dtype=np.float32)
