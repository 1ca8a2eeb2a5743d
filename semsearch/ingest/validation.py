"""What makes an id an id and a text a text, for every way in (files, JSON Lines, HTTP, web pages).

Zero-width and bidirectional-control characters (Unicode's format category) are invisible: an id made
with them looks like another id and can impersonate it, and a text made only of them is no text (it
would embed to a vector near everything and rank first for unrelated questions).
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import InvalidInputError

MAX_ID_LENGTH = 512
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INVISIBLE = ("Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp", "Zs")  # controls, format, unassigned, private, separators


def has_visible_text(text: str) -> bool:
    """Whether `text` holds at least one character a reader sees."""
    return any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE for ch in text)


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
    if any(unicodedata.category(ch) == "Cf" for ch in value):
        raise InvalidInputError("id: contains invisible characters (zero-width or bidirectional controls)", "id")
    if any(part in (".", "..") for part in value.split("/")):
        # HTTP clients resolve them away: /documents/a/../b asks for 'b'. Never a file path either way.
        raise InvalidInputError("id: must not contain '.' or '..' path segments (an id is addressed as /documents/{id})", "id")
    return value
