"""Articles out of web pages: text and metadata extracted with trafilatura.

trafilatura keeps the article's body and drops navigation, cookie banners, share bars, related
links and comments; its metadata comes from the page's markup (Open Graph, JSON-LD, <time>...).
The text then goes through the same cleaning as a text file (credits, "lire aussi" teasers).
"""

from __future__ import annotations

import configparser
import functools
import logging
import re
from dataclasses import dataclass

from ..dates import normalize_date
from ..documents import Document
from ..errors import InvalidInputError
from .clean import clean_article, lede_title
from .validation import has_words

MIN_PARAGRAPH_WORDS = 8  # a page whose every line is shorter (menus, link lists) holds no article
HTML_SUFFIXES = {".html", ".htm"}
# Dates from the page's markup and URL only: htmldate's extensive search would take "© 2023" in a
# footer for 2023-01-01, a precision the article does not have.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}
# Below this many characters trafilatura distrusts its extraction and falls back to taking all the
# text of the page's main element, share bar and all, in one block; its default (250) sends a news
# brief of two short paragraphs there.
MIN_EXTRACTED_CHARS = 100
_WORDS = re.compile(r"\w+")
_PAGE_TAG = re.compile(r"<(?:html|body|head|!doctype)[\s>]")


@dataclass
class Article:
    text: str  # cleaned: paragraphs separated by one blank line
    title: str | None = None
    date: str | None = None  # YYYY-MM-DD
    author: str | None = None
    source: str | None = None  # the outlet (site name; the host name when the page names none)
    url: str | None = None  # the page's canonical URL when it gives one


class NoArticleError(InvalidInputError):
    """The page holds no article text (a home page, a list of links, an error page)."""


def _quiet_trafilatura() -> None:
    """trafilatura logs every page it finds empty; the reader reports that itself, once."""
    for name in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def extract_article(html: str | bytes, url: str | None = None) -> Article:
    """The article of a page; NoArticleError when it has none. Bytes are decoded by trafilatura
    (meta charset, then detection), which is what a saved page needs."""
    import trafilatura  # imported here: loading lxml and its models costs the service's start-up otherwise

    _quiet_trafilatura()
    try:
        found = trafilatura.bare_extraction(
            _as_document(html),
            url=url,
            config=_config(),
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            date_extraction_params=_DATE_PARAMS,
        )
    except (ValueError, TypeError) as exc:  # a document lxml cannot parse at all
        raise NoArticleError(f"not an HTML page ({exc})", "html") from None
    if found is None or not found.text:
        found = _extract_flattened(html, url)  # libxml2 stops at 256 levels of nesting: wrappers removed
    if found is None or not found.text or not has_words(found.text):
        raise NoArticleError("no article text found in the page", "html")
    title = _one_line(found.title)
    cleaned = clean_article(found.text, title=title or None)
    if not any(len(_WORDS.findall(line)) >= MIN_PARAGRAPH_WORDS for line in cleaned.text.split("\n")):
        raise NoArticleError(
            f"no article text found in the page (no paragraph of {MIN_PARAGRAPH_WORDS} words or more: a menu or a list of links?)", "html"
        )
    return Article(
        text=cleaned.text,
        title=title or cleaned.title,
        date=_date(found.date),
        author=_one_line(found.author) or None,
        source=_one_line(found.sitename) or cleaned.source,
        url=found.url or None,
    )


MAX_DEPTH = 200  # libxml2 parses no deeper than 256 levels; wrappers below this depth are unwrapped
# Elements that only hold others (layout, lists, tables, quotes, inline formatting): unwrapped, their text
# and children stay. Paragraphs, headings and line breaks stay (they shape the text); so does <article>
# (trafilatura's best clue), and <script>/<style> (their content is no text).
_WRAPPERS = {
    "div", "span", "section", "font", "center", "b", "i", "u", "em", "strong", "small", "big", "main", "aside", "header",
    "footer", "nav", "blockquote", "q", "cite", "figure", "figcaption", "details", "summary", "table", "thead", "tbody",
    "tfoot", "tr", "td", "th", "caption", "ul", "ol", "li", "dl", "dt", "dd", "form", "fieldset", "label", "a", "abbr",
    "mark", "sub", "sup", "s", "del", "ins", "tt", "code", "kbd", "var", "time", "address", "hgroup",
}
_WRAPPER_TAGS = re.compile("</?(?:" + "|".join(sorted(_WRAPPERS)) + r")(?:\s[^>]*)?>", re.IGNORECASE)


def _extract_flattened(html: str | bytes, url: str | None):
    """trafilatura's extraction of the page with its wrapper elements below MAX_DEPTH unwrapped (their
    text and children kept): a page nested past libxml2's limit (256 levels) otherwise loses its article.
    None when the page is no deeper than that (nothing to recover) or has no article."""
    import lxml.html
    import trafilatura
    from lxml import etree
    from trafilatura.utils import decode_file

    text = decode_file(html) if isinstance(html, bytes) else html
    parser = lxml.html.HTMLParser(huge_tree=True, remove_comments=True)  # huge: 2,048 levels
    try:
        tree = lxml.html.document_fromstring(_as_document(text), parser=parser)
    except (ValueError, etree.ParserError):
        return None
    deep, depth, deepest = [], 0, 0
    for event, element in etree.iterwalk(tree, events=("start", "end")):
        depth += 1 if event == "start" else -1
        deepest = max(deepest, depth)
        if event == "start" and depth > MAX_DEPTH and isinstance(element.tag, str) and element.tag in _WRAPPERS:
            deep.append(element)
    if deepest >= 2000:  # cut off even by the huge parser: the wrappers go from the text itself
        tree = lxml.html.document_fromstring(_WRAPPER_TAGS.sub(" ", _as_document(text)), parser=parser)
    elif deep:
        for element in reversed(deep):  # innermost first: each drop keeps its text and children in its parent
            element.drop_tag()
    else:
        return None
    return trafilatura.bare_extraction(
        tree, url=url, config=_config(), with_metadata=True, include_comments=False, include_tables=True,
        date_extraction_params=_DATE_PARAMS,
    )


def _as_document(html: str | bytes) -> str | bytes:
    """A fragment (an article's paragraphs, as a feed or an API client may send them) put in a
    page: trafilatura finds nothing in a bare <p>."""
    head = html[:2048].lower()
    if isinstance(head, bytes):
        return html if _PAGE_TAG.search(head.decode("latin-1")) else b"<html><body>" + html + b"</body></html>"
    return html if _PAGE_TAG.search(head) else f"<html><body>{html}</body></html>"


@functools.cache
def _config() -> configparser.ConfigParser:
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", str(MIN_EXTRACTED_CHARS))
    return config


def _date(value: str | None) -> str | None:
    try:
        return normalize_date(value[:10]) if value else None
    except InvalidInputError:
        return None


def _one_line(value: str | None) -> str:
    return " ".join(value.split()) if value else ""


def article_document(article: Article, doc_id: str, origin: str, url: str | None = None) -> Document:
    """A Document of an extracted article; `url` (the address it was fetched from) wins over the
    page's own canonical URL."""
    return Document(
        doc_id=doc_id,
        text=article.text,
        title=article.title or lede_title(article.text),
        date=article.date,
        source=article.source,
        url=url or article.url,
        origin=origin,
    )
