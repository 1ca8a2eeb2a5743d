"""Reading documents from folders, text files and JSON Lines into `Document`s.

Every problem is reported with the file (and line) it came from and never stops the batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from ..dates import normalize_date
from ..documents import Document, ReadBatch, ReadProblem
from ..errors import InvalidInputError
from .clean import clean_article

TEXT_SUFFIXES = {".txt", ".md"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
JSON_FIELDS = ("id", "text", "title", "date", "source", "url", "lang")
MAX_ID_LENGTH = 512
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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


def validate_doc_id(doc_id: object) -> str:
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise InvalidInputError("id: must be a string", "id")
    value = str(doc_id).strip()
    if not value:
        raise InvalidInputError("id: must not be empty", "id")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInputError(f"id: longer than {MAX_ID_LENGTH} characters", "id")
    if _CONTROL.search(value):
        raise InvalidInputError("id: contains control characters", "id")
    if any(part in (".", "..") for part in value.split("/")):
        # HTTP clients resolve them away: /documents/a/../b asks for 'b'. Never a file path either way.
        raise InvalidInputError("id: must not contain '.' or '..' path segments (an id is addressed as /documents/{id})", "id")
    return value


def document_from_record(record: object, origin: str) -> Document:
    """A Document from a JSON object with the JSON Lines fields; InvalidInputError names the field."""
    if not isinstance(record, dict):
        raise InvalidInputError("expected a JSON object with at least 'id' and 'text'")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("text: missing or empty", "text")
    if "id" not in record or record["id"] is None:
        raise InvalidInputError("id: missing", "id")
    doc_id = validate_doc_id(record["id"])
    fields: dict[str, str | None] = {}
    for name in ("title", "date", "source", "url", "lang"):
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"{name}: must be a string", name)
        fields[name] = _CONTROL.sub(" ", value).strip() or None if isinstance(value, str) else None
    if fields["date"]:
        fields["date"] = normalize_date(fields["date"], "date")
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


def read_text_file(path: Path, doc_id: str, notes: list[ReadProblem] | None = None) -> Document:
    text, note = decode_text(path.read_bytes())
    if note and notes is not None:
        notes.append(ReadProblem(str(path), note))
    if not text.strip():
        raise ValueError("empty file")
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


def _read_file(path: Path, doc_id: str, batch: ReadBatch) -> None:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        read_jsonl(path, batch)
    elif suffix in TEXT_SUFFIXES:
        try:
            batch.documents.append(read_text_file(path, doc_id, batch.notes))
        except (OSError, ValueError) as exc:
            batch.problems.append(ReadProblem(str(path), str(exc)))
    else:
        batch.problems.append(
            ReadProblem(str(path), f"unknown extension {suffix or '(none)'!r}; expected .txt, .md or .jsonl")
        )


def list_inputs(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[ReadProblem]]:
    """The files to read, each with the id its document gets (the path relative to the folder given,
    or the file's name), and the paths that name nothing readable. Reading them is `read_file`'s job,
    so that a cluster can read files apart (semsearch/distributed)."""
    files: list[tuple[Path, str]] = []
    problems: list[ReadProblem] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            wanted = [p for p in found if p.suffix.lower() in TEXT_SUFFIXES | JSONL_SUFFIXES]
            if not wanted:
                problems.append(ReadProblem(str(path), "folder holds no .txt, .md or .jsonl file"))
            files.extend((file, file.relative_to(path).as_posix()) for file in wanted)
        elif path.is_file():
            files.append((path, path.name))
        else:
            problems.append(ReadProblem(str(path), "no such file or folder"))
    return files, problems


def read_file(path: Path, doc_id: str) -> ReadBatch:
    """The documents of one file (one, or one per JSON line) and its problems and notes."""
    batch = ReadBatch()
    _read_file(path, doc_id, batch)
    return batch


def read_paths(paths: Iterable[str | Path]) -> ReadBatch:
    """Documents from files and folders (recursive .txt/.md/.jsonl); ids are paths relative to the folder."""
    files, problems = list_inputs(paths)
    batch = ReadBatch(problems=problems)
    for path, doc_id in files:
        _read_file(path, doc_id, batch)
    return batch
