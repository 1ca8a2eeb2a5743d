"""A saved search's hits as an Atom feed (RFC 4287), newest first, built with feedgen.

Each entry is one new article that answers the question: its title, link (the article's URL when it has
one, else the document on this server), the answering sentence as summary and the passage as content.
Entry ids are tag URIs of the saved search, the document and its content hash, stable across requests, so a
feed reader shows each hit once and a changed article again.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from feedgen.feed import FeedGenerator

from .. import __version__
from .store import Hit, SavedSearch

_XML_BAD = dict.fromkeys([c for c in range(32) if c not in (9, 10, 13)])  # characters XML 1.0 cannot carry


def _clean(text: str | None) -> str:
    return (text or "").translate(_XML_BAD)


def _when(stamp: str) -> datetime:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)


def _tag(*parts: str) -> str:
    return "tag:semsearch,2026:" + "/".join(quote(p, safe="") for p in parts)


def atom_feed(search: SavedSearch, hits: list[Hit], base_url: str) -> bytes:
    """The feed document; `base_url` is this server's address (for links to itself), without a trailing /."""
    feed = FeedGenerator()
    feed.id(_tag("alert", search.name, search.created_at))
    feed.title(_clean(f"semsearch: {search.name}"))
    feed.subtitle(_clean(search.query))
    feed.link(href=f"{base_url}/alerts/{quote(search.name)}/feed.atom", rel="self", type="application/atom+xml")
    feed.link(href=f"{base_url}/?q={quote(search.query)}", rel="alternate", type="text/html")
    feed.generator("semsearch", version=__version__)
    feed.language(search.query_lang or None)
    feed.updated(_when(hits[0].matched_at) if hits else _when(search.created_at))
    for hit in reversed(hits):  # feedgen lists entries last-added first: add oldest first
        entry = feed.add_entry()
        entry.id(_tag("hit", search.name, hit.doc_id, hit.content_hash))
        entry.title(_clean(hit.title or hit.doc_id))
        link = f"{base_url}/documents/{quote(hit.doc_id, safe='/')}"
        if hit.url and hit.url.lower().startswith(("http://", "https://")):
            link = hit.url
        entry.link(href=link, rel="alternate")
        entry.updated(_when(hit.matched_at))
        entry.published(_when(hit.matched_at))
        if hit.source:
            entry.author(name=_clean(hit.source))
        else:
            entry.author(name="semsearch")
        entry.summary(_clean(hit.answer))
        entry.content(_clean(hit.text), type="text")
        categories = [c for c in (hit.lang, hit.date) if c]
        for term in categories:
            entry.category(term=_clean(term))
    return feed.atom_str(pretty=True)
