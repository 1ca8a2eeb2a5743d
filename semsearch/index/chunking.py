"""Passages from a document: one per paragraph, long paragraphs cut on sentences with overlap.

Offsets always point into the document's cleaned text, so a passage's text is exactly
`document.text[start:end]` and later layers (highlights) can mark inside it.

A paragraph over HUGE_PARAGRAPH characters (no article has one; a bad corpus file may: 50 MB on
one line) is cut by rules instead: sentence ends by a regular expression rather than pysbd, and
token counts estimated from a sample rather than counted for every sentence: pysbd and the tokenizer
grow too slow on megabytes of one paragraph; the rules keep such a file to seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..documents import Document, Passage
from ..text.sentences import sentence_spans

TokenCounter = Callable[[str], int]
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_PYSBD_BLOCK = 20_000  # pysbd is regex-heavy: feed it bounded blocks
HUGE_PARAGRAPH = 100_000  # characters; past this, rules replace pysbd and exact token counts
_SENTENCE_END = re.compile(r"[.!?…][\"'»”’)\]]*(?=\s)")
_TOKEN_SAMPLE = 20_000  # characters counted exactly to estimate a huge paragraph's characters per token


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


def _rule_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences ending at . ! ? … (and closing quotes) before a space: linear, for huge paragraphs."""
    out: list[tuple[int, int]] = []
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if text[pos:match.end()].strip():
            out.append((pos, match.end()))
        pos = match.end()
    if text[pos:end].strip():
        out.append((pos, end))
    trimmed = []
    for a, b in out:  # no leading or trailing spaces, like sentence_spans
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        trimmed.append((a, b))
    return trimmed


def _sentences(text: str, start: int, end: int, lang: str, max_chars: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = start
    if end - start > HUGE_PARAGRAPH:
        out, pos = _rule_sentences(text, start, end), end
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


def _estimated(text: str, start: int, end: int, count: TokenCounter) -> TokenCounter:
    """A token counter for one huge paragraph: characters over the characters-per-token ratio of an
    exactly counted sample, with a margin so chunks stay within budget."""
    sample = text[start:min(end, start + _TOKEN_SAMPLE)]
    per_token = min(6.0, max(1.0, len(sample) / max(1, count(sample))))  # clamped: an odd sample cannot make chunks huge
    return lambda piece: math.ceil(len(piece) / per_token * 1.15) + 2


def _split_long(
    text: str, start: int, end: int, lang: str, count: TokenCounter, config: ChunkingConfig
) -> list[tuple[int, int]]:
    if end - start > HUGE_PARAGRAPH:
        count = _estimated(text, start, end, count)
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
        if end - start <= HUGE_PARAGRAPH and count_tokens(doc.text[start:end]) <= config.max_tokens:
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
