"""Sentence boundaries with pysbd, which knows French abbreviations (M., Mme, etc.)."""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd

_PYSBD_LANGS = {"fr", "en", "de", "es", "it", "nl"}
_SPACE = re.compile(r"\s")


@lru_cache(maxsize=8)
def _segmenter(lang: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=lang if lang in _PYSBD_LANGS else "en", clean=False, char_span=True)


def sentence_spans(text: str, lang: str = "fr") -> list[tuple[int, int]]:
    """Character spans [start, end) of the sentences of `text`, trailing spaces excluded."""
    spans: list[tuple[int, int]] = []
    if not text.strip():
        return spans
    for span in _segmenter(lang).segment(text):
        start, end = span.start, span.end
        while start < end and _SPACE.match(text[start]):
            start += 1
        while end > start and _SPACE.match(text[end - 1]):
            end -= 1
        if end > start:
            spans.append((start, end))
    if not spans:
        spans.append((0, len(text)))
    return spans
