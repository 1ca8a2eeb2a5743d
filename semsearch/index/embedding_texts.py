"""The texts IndexWriter embeds for a document's passages, computed ahead (for a cluster to embed).

The writer embeds each passage under its document's headline (`embedding_text`) and each of its
sentences the same way, except that a passage of one sentence reading exactly like its passage
embeds once. As a set, that is: every passage text and every sentence text. Listing each distinct
text once also saves the sentences that overlapping passages share.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..documents import Document, Passage
from ..text.sentences import sentence_spans
from .segment_build import embedding_text


def texts_to_embed(doc: Document, passages: Sequence[Passage]) -> list[str]:
    """Distinct texts, in first-seen order: what `IndexWriter` asks its embedder for these passages."""
    texts: dict[str, None] = {}
    for passage in passages:
        texts[embedding_text(doc, passage.text)] = None
        for start, end in sentence_spans(passage.text, passage.lang or "fr"):
            texts[embedding_text(doc, passage.text[start:end])] = None
    return list(texts)
