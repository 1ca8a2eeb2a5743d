"""What makes an id an id and a text a text, for every way in (files, JSON Lines, HTTP, web pages, feeds).

Invisible characters (Unicode's default-ignorable code points: zero-width spaces and joiners,
bidirectional controls, soft hyphens, Hangul fillers; and the blank Braille pattern) look like nothing:
an id made with them looks like another id and can impersonate it, and a text made only of them, or of
punctuation, is no text (it embeds to a vector near everything and ranks first for unrelated questions). A lone surrogate
(a JSON "\\ud800" escape) is no Unicode at all: nothing downstream can encode it.
"""

from __future__ import annotations

import re
import unicodedata

import regex

from ..errors import InvalidInputError

MAX_ID_LENGTH = 512
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# regex knows Unicode's Default_Ignorable_Code_Point property (the stdlib's unicodedata does not).
_INVISIBLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{Cf}\u2800]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # the standard engine scans a str in place (regex copies a long one)
# What shows nothing alone: controls, format, unassigned, private use, surrogates, separators, and
# combining marks (they need a letter to sit on).
_NOT_SEEN = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp", "Zs", "Mn", "Me"})
NO_TEXT = "no letter or digit (only spaces, punctuation, symbols, zero-width, bidirectional-control or filler characters)"


def _code_point(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def has_visible_text(text: str) -> bool:
    """Whether `text` holds at least one character a reader sees (a title, a source)."""
    return any(
        not ch.isspace() and unicodedata.category(ch) not in _NOT_SEEN and not _INVISIBLE.match(ch) for ch in text
    )


def has_words(text: str) -> bool:
    """Whether `text` holds at least one visible letter or digit: an article's text must. A text of
    punctuation alone (".", "— — —") embeds, like one of zero-width characters, to a vector that
    ranks first for unrelated questions; and there is nothing in it to search for."""
    return any(ch.isalnum() and not _INVISIBLE.match(ch) for ch in text)


def check_unicode(value: str, name: str) -> str:
    """`value`, refused when it holds a lone surrogate (it cannot be stored, hashed or embedded)."""
    found = _SURROGATE.search(value)
    if found:
        raise InvalidInputError(
            f"{name}: holds a lone surrogate ({_code_point(found.group())} at character {found.start()}), not valid Unicode", name
        )
    return value


def validate_text(text: str, name: str = "text") -> str:
    """An article's text, refused when a reader would see nothing in it."""
    check_unicode(text, name)
    if not has_words(text):
        raise InvalidInputError(f"{name}: {NO_TEXT}", name)
    return text


def validate_doc_id(doc_id: object) -> str:
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise InvalidInputError("id: must be a string", "id")
    value = check_unicode(str(doc_id), "id").strip()
    if not value:
        raise InvalidInputError("id: must not be empty", "id")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInputError(f"id: longer than {MAX_ID_LENGTH} characters", "id")
    if _CONTROL.search(value):
        raise InvalidInputError("id: contains control characters", "id")
    hidden = _INVISIBLE.search(value)
    if hidden:
        raise InvalidInputError(
            f"id: contains an invisible character ({_code_point(hidden.group())} at character {hidden.start()}: "
            "zero-width, bidirectional control or filler); an id must read as what it is",
            "id",
        )
    if any(part in (".", "..") for part in value.split("/")):
        # HTTP clients resolve them away: /documents/a/../b asks for 'b'. Never a file path either way.
        raise InvalidInputError("id: must not contain '.' or '..' path segments (an id is addressed as /documents/{id})", "id")
    return value
