"""Documents from the web: an article page by its URL, or the articles a feed lists.

A feed item's article is its page, fetched and extracted; the item's title, date and summary
fill what the page lacks. Every failure is one ReadProblem naming the URL, and the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag

from ..documents import ReadBatch, ReadProblem
from ..errors import InvalidInputError
from .feeds import FeedItem, NotAFeedError, looks_like_feed, looks_like_html, parse_feed
from .fetcher import Fetched, Fetcher, FetchError, Validators, canonical_url
from .html import MIN_PARAGRAPH_WORDS, Article, NoArticleError, article_document, extract_article
from .validation import has_words, validate_doc_id

log = logging.getLogger(__name__)
ACCEPT_ANY = "application/rss+xml, application/atom+xml, text/html;q=0.9, application/xhtml+xml;q=0.9, application/xml;q=0.8, */*;q=0.5"
ACCEPT_PAGE = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass
class WebReader:
    """Reads URLs and feeds into a ReadBatch. `known`: validators from an earlier visit, sent as
    conditional requests; `fetched` collects the new ones of what was read (for the next visit)."""

    fetcher: Fetcher
    known: Mapping[str, Validators] = field(default_factory=dict)
    fetched: dict[str, Validators] = field(default_factory=dict)
    not_modified: list[str] = field(default_factory=list)
    should_stop: Callable[[], bool] = lambda: False
    _done: set[str] = field(default_factory=set)  # article URLs read in this run

    def read_url(self, url: str, batch: ReadBatch) -> None:
        """A page (one article, id: its URL) or a feed (its items' articles). Never raises: what a hostile
        or broken server makes a parser throw is that URL's problem, and the other URLs are read."""
        try:
            self._read_url(url, batch)
        except Exception as exc:  # noqa: BLE001 (third-party parsers on anyone's bytes)
            log.debug("reading %s failed", url, exc_info=True)
            batch.problems.append(ReadProblem(canonical_url(url), f"could not be read ({type(exc).__name__}: {exc})"))

    def _read_url(self, url: str, batch: ReadBatch) -> None:
        # A URL given by the operator may carry its own credentials (a private feed): sent, never an id or a key.
        given, url = urldefrag(url.strip())[0], canonical_url(url)
        page = self._fetch(url, ACCEPT_ANY, batch, given)
        if page is None:
            return
        if looks_like_feed(page.content, page.content_type):
            if self._read_feed_data(page.content, url, page.url, batch) == 0 and not self.should_stop():
                # With a failed item, or a round stopped before its last item, the feed is asked for in full
                # next time, and what was not read is read then.
                self.fetched[url] = page.validators
        elif looks_like_html(page.content, page.content_type) or not page.content_type:
            if self._add_article(url, page, None, batch):
                self.fetched[url] = page.validators
        else:
            batch.problems.append(ReadProblem(url, f"not an HTML page nor an RSS or Atom feed (Content-Type: {page.content_type})"))

    def read_feed_file(self, path: Path, batch: ReadBatch) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            batch.problems.append(ReadProblem(str(path), str(exc)))
            return
        self._read_feed_data(data, str(path), None, batch)

    def _read_feed_data(self, data: bytes, origin: str, base_url: str | None, batch: ReadBatch) -> int:
        """Reads the feed's articles into the batch; the number of problems."""
        before = len(batch.problems)
        try:
            _, items = parse_feed(data, base_url)
        except NotAFeedError as exc:
            batch.problems.append(ReadProblem(origin, str(exc)))
            return 1
        if not items:
            batch.problems.append(ReadProblem(origin, "the feed lists no items"))
        for number, item in enumerate(items, start=1):
            if self.should_stop():
                break
            if not item.link:
                batch.problems.append(ReadProblem(f"{origin} item {number}", "the item has no link to its article"))
                continue
            link = canonical_url(item.link)
            if link in self._done:
                continue  # listed twice, or by two feeds: read once a round
            self._done.add(link)
            page = self._fetch(link, ACCEPT_PAGE, batch)
            if page is not None and self._add_article(link, page, item, batch):
                self.fetched[link] = page.validators
        return len(batch.problems) - before

    def _fetch(self, url: str, accept: str, batch: ReadBatch, fetch_url: str | None = None) -> Fetched | None:
        """The page, conditionally on what the last visit got; None when it failed (reported) or
        has not changed since (counted). `url` names it; `fetch_url`, when given, is what is requested."""
        try:
            page = self.fetcher.get(fetch_url or url, self.known.get(url), accept=accept)
        except FetchError as exc:
            batch.problems.append(ReadProblem(url, str(exc)))
            return None
        if page.not_modified:
            self.not_modified.append(url)
            return None
        return page

    def _add_article(self, doc_id: str, page: Fetched, item: FeedItem | None, batch: ReadBatch) -> bool:
        try:
            doc_id = validate_doc_id(doc_id)
            article = _article(page, item)
        except InvalidInputError as exc:
            batch.problems.append(ReadProblem(doc_id, str(exc)))
            return False
        except Exception as exc:  # noqa: BLE001 (one item's page must not cost the feed's other items)
            log.debug("extracting %s failed", doc_id, exc_info=True)
            batch.problems.append(ReadProblem(doc_id, f"could not be extracted ({type(exc).__name__}: {exc})"))
            return False
        if article.author:
            batch.authors[doc_id] = article.author
        batch.documents.append(article_document(article, doc_id, origin=doc_id, url=canonical_url(page.url)))
        return True


def _article(page: Fetched, item: FeedItem | None) -> Article:
    """The page's article, its gaps filled from the feed item; the item's summary stands in for
    a page with no article text (a teaser page, a paywall). The item's title comes first: it is
    the publisher's headline, where a page's may be a guess (its first heading, or "Comments")."""
    html: str | bytes = page.content
    if page.charset:
        try:
            html = page.content.decode(page.charset)
        except (LookupError, UnicodeDecodeError):
            pass  # trafilatura detects the encoding itself
    try:
        article = extract_article(html, page.url)
    except NoArticleError:
        if item is None or not item.summary or len(item.summary.split()) < MIN_PARAGRAPH_WORDS or not has_words(item.summary):
            raise
        article = Article(text=item.summary)
    if item is not None:
        article.title = item.title or article.title
        article.date = article.date or item.date
        article.author = article.author or item.author
    return article
