"""Reading documents into `Document`s: the dispatcher over folders, text files, JSON Lines, web
pages (.html), feeds (.rss, .atom, .xml) and URLs.

Every problem is reported with the file (and line) or URL it came from and never stops the batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from ..dates import normalize_date
from ..documents import Document, ReadBatch, ReadProblem
from ..errors import InvalidInputError
from .clean import clean_article, lede_title
from .feeds import FEED_SUFFIXES
from .html import HTML_SUFFIXES
from .validation import NO_TEXT, check_unicode, has_visible_text, has_words, validate_doc_id, validate_text

if TYPE_CHECKING:
    from .fetcher import FetchConfig
    from .web import WebReader

TEXT_SUFFIXES = {".txt", ".md"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
FOLDER_SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | HTML_SUFFIXES  # feeds are named one by one: they fetch
JSON_FIELDS = ("id", "text", "html", "title", "date", "source", "url", "lang")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> tuple[str, str | None]:
    """The text, and how it was decoded when that was not UTF-8 (None when it was): UTF-16 with a
    byte-order mark, or Windows-1252 for Latin-1 archives (common in French press archives), rather
    than refused. Binary data is a ValueError."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "decoded as UTF-16 (byte-order mark)"
        except UnicodeDecodeError:
            raise ValueError("not valid UTF-16 despite its byte-order mark") from None
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    limit = max(3, len(text) // 100)
    if len(_BINARY_CONTROL.findall(text, 0, 1_000_000)) > limit:
        raise ValueError("binary file (control bytes)")
    if text.count("\ufffd") > limit:
        raise ValueError("not UTF-8 nor Latin-1/Windows-1252 text")
    return text, "decoded as Windows-1252 (not valid UTF-8)"


def decode_bytes(data: bytes) -> str:
    """UTF-8 text; Latin-1 archives are decoded as Windows-1252 rather than refused."""
    return decode_text(data)[0]


def document_from_record(record: object, origin: str) -> Document:
    """A Document from a JSON object with the JSON Lines fields; InvalidInputError names the field."""
    if not isinstance(record, dict):
        raise InvalidInputError("expected a JSON object with at least 'id' and 'text' (or 'html')")
    text, html = record.get("text"), record.get("html")
    if html is not None and text is not None:
        raise InvalidInputError("html: give the article as 'text' or as 'html', not both", "html")
    if html is not None and (not isinstance(html, str) or not html.strip()):
        raise InvalidInputError("html: must be a non-empty string (a web page)", "html")
    if html is None and (not isinstance(text, str) or not text.strip()):
        raise InvalidInputError("text: missing or empty", "text")
    if html is None:
        validate_text(text, "text")
    else:
        check_unicode(html, "html")
    if "id" not in record or record["id"] is None:
        raise InvalidInputError("id: missing", "id")
    doc_id = validate_doc_id(record["id"])
    fields: dict[str, str | None] = {}
    for name in ("title", "date", "source", "url", "lang"):
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"{name}: must be a string", name)
        if isinstance(value, str):
            check_unicode(value, name)
        fields[name] = _CONTROL.sub(" ", value).strip() or None if isinstance(value, str) and has_visible_text(value) else None
    if fields["date"]:
        fields["date"] = normalize_date(fields["date"], "date")
    if html is not None:
        return _html_record(html, doc_id, fields, origin)
    cleaned = clean_article(text)
    if not cleaned.text:
        raise InvalidInputError("text: nothing left after removing boilerplate", "text")
    return Document(
        doc_id=doc_id,
        text=cleaned.text,
        title=fields["title"] or cleaned.title or lede_title(cleaned.text),
        date=fields["date"] or cleaned.date,
        source=fields["source"] or cleaned.source,
        url=fields["url"],
        lang=fields["lang"],
        origin=origin,
    )


def _html_record(html: str, doc_id: str, fields: dict[str, str | None], origin: str) -> Document:
    """A record's web page, extracted; the record's own fields win over the page's metadata."""
    from .html import article_document, extract_article

    try:
        article = extract_article(html, fields["url"])
    except InvalidInputError as exc:
        raise InvalidInputError(f"html: {exc}", "html") from None
    doc = article_document(article, doc_id, origin, url=fields["url"])
    for name in ("title", "date", "source", "lang"):
        if fields[name]:
            setattr(doc, name, fields[name])
    return doc


def read_html_file(path: Path, doc_id: str) -> tuple[Document, str | None]:
    """A saved web page's article, and its author (not stored: reported)."""
    from .html import article_document, extract_article

    data = path.read_bytes()
    if not data.strip():
        raise ValueError("empty file")
    article = extract_article(data)
    return article_document(article, doc_id, str(path)), article.author


def read_text_file(path: Path, doc_id: str, notes: list[ReadProblem] | None = None) -> Document:
    text, note = decode_text(path.read_bytes())
    if note and notes is not None:
        notes.append(ReadProblem(str(path), note))
    if not text.strip():
        raise ValueError("empty file")
    if not has_words(text):
        raise ValueError(NO_TEXT)
    cleaned = clean_article(text)
    if not cleaned.text:
        raise ValueError("nothing left after removing boilerplate")
    return Document(
        doc_id=doc_id,
        text=cleaned.text,
        title=cleaned.title or lede_title(cleaned.text),
        date=cleaned.date,
        source=cleaned.source,
        origin=str(path),
    )


def read_jsonl(path: Path, batch: ReadBatch) -> None:
    try:
        raw, note = decode_text(path.read_bytes())
    except (OSError, ValueError) as exc:
        batch.problems.append(ReadProblem(str(path), str(exc)))
        return
    if note:
        batch.notes.append(ReadProblem(str(path), note))
    if not raw.strip():
        batch.problems.append(ReadProblem(str(path), "empty file"))
        return
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            batch.problems.append(ReadProblem(origin, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            batch.documents.append(document_from_record(record, origin))
        except InvalidInputError as exc:
            batch.problems.append(ReadProblem(origin, str(exc)))


class _Dispatcher:
    """Sends each input to its reader; the web reader (and its HTTP client) is made on first use."""

    def __init__(self, batch: ReadBatch, fetch_config: FetchConfig | None, resources: ExitStack) -> None:
        self.batch = batch
        self.fetch_config = fetch_config
        self.resources = resources
        self._web: WebReader | None = None

    def web(self) -> WebReader:
        if self._web is None:
            from .fetcher import FetchConfig, Fetcher
            from .web import WebReader

            self._web = WebReader(self.resources.enter_context(Fetcher(self.fetch_config or FetchConfig())))
        return self._web

    def file(self, path: Path, doc_id: str) -> None:
        batch = self.batch
        suffix = path.suffix.lower()
        if suffix in JSONL_SUFFIXES:
            read_jsonl(path, batch)
        elif suffix in TEXT_SUFFIXES:
            try:
                batch.documents.append(read_text_file(path, doc_id, batch.notes))
            except (OSError, ValueError) as exc:
                batch.problems.append(ReadProblem(str(path), str(exc)))
        elif suffix in HTML_SUFFIXES:
            try:
                doc, author = read_html_file(path, doc_id)
            except (OSError, ValueError, InvalidInputError) as exc:
                batch.problems.append(ReadProblem(str(path), str(exc)))
                return
            batch.documents.append(doc)
            if author:
                batch.authors[doc.doc_id] = author
        elif suffix in FEED_SUFFIXES:
            self.web().read_feed_file(path, batch)
        else:
            batch.problems.append(
                ReadProblem(str(path), f"unknown extension {suffix or '(none)'!r}; expected .txt, .md, .jsonl, .html, .htm, .rss, .atom or .xml")
            )


EMPTY_FOLDER = "folder holds no .txt, .md, .jsonl, .html or .htm file"


def folder_files(folder: Path) -> list[Path]:
    """The files a folder gives to index: recursive, sorted, hidden ones left out."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [p for p in found if p.suffix.lower() in FOLDER_SUFFIXES]


def list_inputs(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[ReadProblem]]:
    """The local files to read, each with the id its document gets (the path relative to the folder
    given, or the file's name), and the inputs left out: paths that name nothing, and URLs and feeds,
    which fetch from the network. `read_file` reads each file apart, so that a cluster can read them
    (semsearch/distributed); `read_paths` reads every kind of input in one process."""
    files: list[tuple[Path, str]] = []
    problems: list[ReadProblem] = []
    for given in paths:
        if isinstance(given, str) and given.lower().startswith(("http://", "https://")):
            problems.append(ReadProblem(given, "URLs are fetched by `semsearch index` without --ray"))
            continue
        path = Path(given)
        if path.is_dir():
            wanted = folder_files(path)
            if not wanted:
                problems.append(ReadProblem(str(path), EMPTY_FOLDER))
            files.extend((file, file.relative_to(path).as_posix()) for file in wanted)
        elif path.is_file() and path.suffix.lower() in FEED_SUFFIXES:
            problems.append(ReadProblem(str(path), "feeds are fetched by `semsearch index` without --ray"))
        elif path.is_file():
            files.append((path, path.name))
        else:
            problems.append(ReadProblem(str(path), "no such file or folder"))
    return files, problems


def read_file(path: Path, doc_id: str) -> ReadBatch:
    """The documents of one local file (one, or one per JSON line) and its problems and notes."""
    batch = ReadBatch()
    with ExitStack() as resources:
        _Dispatcher(batch, None, resources).file(path, doc_id)
    return batch


def read_paths(paths: Iterable[str | Path], fetch_config: FetchConfig | None = None) -> ReadBatch:
    """Documents from files, folders (recursive .txt/.md/.jsonl/.html/.htm; ids are paths relative
    to the folder) and http(s) URLs (an article page, id: the URL; or a feed: its items' articles)."""
    batch = ReadBatch()
    with ExitStack() as resources:
        dispatch = _Dispatcher(batch, fetch_config, resources)
        for given in paths:
            if isinstance(given, str) and given.lower().startswith(("http://", "https://")):
                dispatch.web().read_url(given, batch)
                continue
            path = Path(given)
            if path.is_dir():
                wanted = folder_files(path)
                if not wanted:
                    batch.problems.append(ReadProblem(str(path), EMPTY_FOLDER))
                for file in wanted:
                    dispatch.file(file, file.relative_to(path).as_posix())
            elif path.is_file():
                dispatch.file(path, path.name)
            else:
                batch.problems.append(ReadProblem(str(path), "no such file or folder"))
    return batch
