"""RSS and Atom feeds parsed with feedparser: the items and what each says of its article.

feedparser is handed bytes only (wrapped in a stream), never a string, which it would take for
a URL to fetch or a file to open.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass

FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
}
FEED_SUFFIXES = {".rss", ".atom", ".xml"}
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:RDF)[\s>]", re.IGNORECASE)
_HTML_ROOT = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)


@dataclass
class FeedItem:
    link: str | None
    title: str | None = None
    date: str | None = None  # YYYY-MM-DD, from the item's publication (or update) time
    summary: str | None = None  # plain text
    author: str | None = None


class NotAFeedError(ValueError):
    pass


def looks_like_feed(data: bytes, content_type: str = "") -> bool:
    """A feed by its root element, whatever the server calls it (many send feeds as text/html)."""
    head = data[:2048]
    if _FEED_ROOT.search(head):
        return True
    return content_type in FEED_TYPES and not _HTML_ROOT.search(head)


def looks_like_html(data: bytes, content_type: str = "") -> bool:
    return content_type in ("text/html", "application/xhtml+xml") or bool(_HTML_ROOT.search(data[:2048]))


def parse_feed(data: bytes, url: str | None = None) -> tuple[str | None, list[FeedItem]]:
    """The feed's title and items; NotAFeedError when the data is no RSS or Atom feed."""
    import feedparser

    headers = {"content-location": url} if url else None
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise NotAFeedError("not an RSS or Atom feed" + (f" ({_short(str(problem))})" if problem else ""))
    items = [
        FeedItem(
            link=(entry.get("link") or "").strip() or None,
            title=_clean(entry.get("title")),
            date=_day(entry.get("published_parsed") or entry.get("updated_parsed")),
            summary=_text(entry.get("summary")),
            author=_clean(entry.get("author")),
        )
        for entry in parsed.entries
    ]
    return _clean(parsed.feed.get("title")), items


def _day(value: time.struct_time | None) -> str | None:
    return time.strftime("%Y-%m-%d", value) if value else None


def _clean(value: str | None) -> str | None:
    return " ".join(value.split()) or None if value else None


def _text(fragment: str | None) -> str | None:
    """Plain text of an HTML fragment (feedparser has sanitized it already)."""
    if not fragment or not fragment.strip():
        return None
    import lxml.html

    try:
        text = lxml.html.fromstring(fragment).text_content()
    except (ValueError, lxml.etree.ParserError):
        text = fragment
    return _clean(text)


def _short(message: str, limit: int = 120) -> str:
    return message if len(message) <= limit else message[:limit] + "…"
