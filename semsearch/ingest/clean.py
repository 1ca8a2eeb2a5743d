"""Cleaning of raw article text as scraped: date markers, title lines, boilerplate.

The seeds show the mess this handles: a " date YYYY-MM" marker glued to the first paragraph,
the title repeated on a second line, photo credits, lone agency tags and share links.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_DATE_MARKER = re.compile(r"^\s*date\s+(\d{4}(?:-\d{2}(?:-\d{2})?)?)\s*")
_PHOTO_CREDIT = re.compile(
    r"^\(?\s*(?:[A-Z][\w.-]*\s+)?(?:photo|photos|crédit|credit|crédits|credits|illustration|image)\b[^\n]{0,120}\)?\s*$",
    re.IGNORECASE,
)
_PAREN_CREDIT = re.compile(r"^\((?:AP|AFP|Reuters|Getty|EPA|ANP|DPA|Anadolu|AA|Xinhua)\b[^)]{0,120}\)$")
_SHARE = re.compile(r"^(?:partager|partagez|share)\b[^\n]{0,40}?(?:https?://\S+)?\s*$", re.IGNORECASE)
_URL_ONLY = re.compile(r"^(?:https?://|www\.)\S+$")
# A "read also" teaser: a label and another article's headline, set inside the text on news sites.
_READ_ALSO = re.compile(
    r"^(?:[àa]\s+)?(?:lire|voir|relire)\s+(?:aussi|également|notre\s+\w+)\b[^\n]{0,200}$"
    r"|^(?:read|see)\s+(?:also|more)\b[^\n]{0,200}$|^(?:related|sur le même sujet)\s*[:|][^\n]{0,200}$",
    re.IGNORECASE,
)
# A lone agency or outlet tag: one to three short all-caps words, e.g. "AA", "TRT FR", "AFP".
_AGENCY_TAG = re.compile(r"^(?:[A-Z0-9][A-Z0-9&.\-]{0,7})(?:\s+[A-Z0-9][A-Z0-9&.\-]{0,7}){0,2}$")
_SENTENCE_END = re.compile(r"[.!?…»\"”:;]\s*$")
_BLANK_LINE = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"\t[ \t]*| [ \t]+")  # runs to collapse; a lone space stays as it is (fast on huge lines)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # NUL would cut the text short in SQLite and the model


@dataclass
class CleanArticle:
    text: str  # paragraphs separated by one blank line
    title: str | None
    date: str | None
    source: str | None
    removed: list[str]  # the boilerplate lines dropped, for tests and debugging


def _normalize_line(line: str) -> str:
    line = _CONTROL.sub(" ", unicodedata.normalize("NFC", line)).replace("\u00a0", " ").replace("\u200b", "")
    return _SPACES.sub(" ", line).strip()


def _same_title(a: str, b: str) -> bool:
    def key(s: str) -> str:
        return re.sub(r"\W+", "", s.replace("’", "'").casefold())

    return key(a) == key(b)


def _is_boilerplate(line: str) -> bool:
    return bool(
        _PHOTO_CREDIT.match(line)
        or _PAREN_CREDIT.match(line)
        or _SHARE.match(line)
        or _URL_ONLY.match(line)
        or _READ_ALSO.match(line)
        or _AGENCY_TAG.match(line)
    )


def _looks_like_title(line: str, rest: list[str]) -> bool:
    return bool(rest) and len(line) <= 200 and not _SENTENCE_END.search(line) and len(line.split()) >= 3


def clean_article(raw: str, title: str | None = None) -> CleanArticle:
    """Split raw text into clean paragraphs and pull out date, title and source.

    `title`: the headline when it is already known (a web page's metadata): lines repeating it
    are dropped and no other line is taken for it (a page's first line may be a subheading)."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    date = None
    marker = _DATE_MARKER.match(text)
    if marker:
        date = marker.group(1)
        text = text[marker.end():]
    lines = [_normalize_line(line) for line in _BLANK_LINE.split(text)]
    # A block between blank lines may still hold several lines: each is a paragraph.
    paragraphs = [q for p in lines for q in (_normalize_line(x) for x in p.split("\n")) if q]

    removed: list[str] = []
    tags: list[str] = []
    kept: list[str] = []
    for para in paragraphs:
        if _is_boilerplate(para):
            removed.append(para)
            if _AGENCY_TAG.match(para):
                tags.append(para)
        else:
            kept.append(para)

    if title is not None:
        while kept and _same_title(kept[0], title):
            removed.append(kept.pop(0))
    elif kept and not marker and _looks_like_title(kept[0], kept[1:]):
        title = kept.pop(0)
        while kept and _same_title(kept[0], title):
            removed.append(kept.pop(0))
    source = tags[-1] if tags else None
    return CleanArticle(text="\n\n".join(kept), title=title, date=date, source=source, removed=removed)


def lede_title(text: str, limit: int = 120) -> str | None:
    """A display title for an article without one: its first sentence, cut at a word."""
    first = text.split("\n", 1)[0].strip()
    if not first:
        return None
    end = re.search(r"(?<=[.!?])\s", first)
    sentence = first[: end.start()] if end else first
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0] + "…"
