"""Passages from a document: one per paragraph, long paragraphs cut on sentences with overlap.

Offsets always point into the document's cleaned text, so a passage's text is exactly
`document.text[start:end]` and later layers (highlights) can mark inside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..documents import Document, Passage
from ..text.sentences import sentence_spans

TokenCounter = Callable[[str], int]
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_PYSBD_BLOCK = 20_000  # pysbd is regex-heavy: feed it bounded blocks


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 256  # a passage longer than this is split on sentence boundaries
    min_chars: int = 60  # a fragment shorter than this is merged into a neighbour
    overlap_sentences: int = 1


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        if text[pos:match.start()].strip():
            spans.append((pos, match.start()))
        pos = match.end()
    if text[pos:].strip():
        spans.append((pos, len(text.rstrip())))
    return spans


def _merge_short(spans: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    """Fold every span shorter than min_chars into its following (or, last, its previous) span."""
    merged: list[tuple[int, int]] = []
    pending: int | None = None  # start of short spans waiting for a neighbour
    for start, end in spans:
        if pending is not None:
            start, pending = pending, None
        if end - start < min_chars:
            pending = start
            continue
        merged.append((start, end))
    if pending is not None:
        if merged:
            merged[-1] = (merged[-1][0], spans[-1][1])
        else:
            merged.append((pending, spans[-1][1]))
    return merged


def _sentences(text: str, start: int, end: int, lang: str, max_chars: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        stop = min(end, pos + _PYSBD_BLOCK)
        if stop < end:  # cut the block at the last space so no word is split
            space = text.rfind(" ", pos, stop)
            stop = space if space > pos else stop
        out.extend((pos + a, pos + b) for a, b in sentence_spans(text[pos:stop], lang))
        pos = stop
    # A "sentence" with no boundary for thousands of characters is cut at spaces.
    bounded: list[tuple[int, int]] = []
    for a, b in out:
        while b - a > max_chars:
            cut = text.rfind(" ", a, a + max_chars)
            cut = cut if cut > a else a + max_chars
            bounded.append((a, cut))
            a = cut + 1 if text[cut:cut + 1] == " " else cut
        if b > a:
            bounded.append((a, b))
    return bounded


def _split_long(
    text: str, start: int, end: int, lang: str, count: TokenCounter, config: ChunkingConfig
) -> list[tuple[int, int]]:
    sentences: list[tuple[int, int]] = []
    lengths: list[int] = []
    pending = _sentences(text, start, end, lang, max_chars=config.max_tokens * 6)[::-1]
    while pending:  # a "sentence" over the budget is halved at a space until it fits
        a, b = pending.pop()
        n = count(text[a:b])
        middle = text.rfind(" ", a, (a + b) // 2 + 1)
        if n > config.max_tokens and middle > a:
            pending.extend([(middle + 1, b), (a, middle)])
            continue
        sentences.append((a, b))
        lengths.append(n)
    chunks: list[tuple[int, int]] = []
    first = 0
    while first < len(sentences):
        last, total = first, lengths[first]
        while last + 1 < len(sentences) and total + lengths[last + 1] <= config.max_tokens:
            last += 1
            total += lengths[last]
        chunks.append((sentences[first][0], sentences[last][1]))
        if last + 1 >= len(sentences):
            break
        first = max(first + 1, last + 1 - config.overlap_sentences)
    # A tail that is only a scrap is folded into the chunk before it.
    if len(chunks) > 1 and chunks[-1][1] - chunks[-1][0] < config.min_chars:
        chunks[-2:] = [(chunks[-2][0], chunks[-1][1])]
    return chunks


def split_passages(doc: Document, count_tokens: TokenCounter, config: ChunkingConfig = ChunkingConfig()) -> list[Passage]:
    lang = doc.lang or "fr"
    units = _merge_short(paragraph_spans(doc.text), config.min_chars)
    spans: list[tuple[int, int]] = []
    for start, end in units:
        if count_tokens(doc.text[start:end]) <= config.max_tokens:
            spans.append((start, end))
        else:
            spans.extend(_split_long(doc.text, start, end, lang, count_tokens, config))
    return [
        Passage(
            doc_id=doc.doc_id,
            ordinal=i,
            start=a,
            end=b,
            text=doc.text[a:b],
            title=doc.title,
            date=doc.date,
            source=doc.source,
            url=doc.url,
            lang=lang,
        )
        for i, (a, b) in enumerate(spans)
    ]
