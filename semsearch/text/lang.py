"""Language identification with py3langid, restricted to a candidate set.

Restricting the candidates matters for short texts: "Irak" alone is ambiguous among 97
languages but not between the handful an index actually holds.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Languages whose stemmer and stop words the analyzer knows; detection is limited to these.
SUPPORTED_LANGS: tuple[str, ...] = ("fr", "en", "de", "es", "it", "pt", "nl")

_lock = threading.Lock()


@lru_cache(maxsize=16)
def _identifier(langs: tuple[str, ...] | None) -> LanguageIdentifier:
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if langs is not None:
        ident.set_languages(list(langs))
    return ident


@lru_cache(maxsize=1)
def known_languages() -> frozenset[str]:
    """Every code the identifier knows; others (a document's `lang` may be anything) are ignored."""
    with _lock:
        return frozenset(_identifier(None).nb_classes)


def detect_language(text: str, candidates: tuple[str, ...] = SUPPORTED_LANGS, default: str = "fr") -> str:
    """Most likely language of `text` among `candidates` (ISO 639-1), `default` when no evidence."""
    sample = text[:4000]
    if not sample.strip():
        return default
    langs = tuple(sorted(set(candidates) & known_languages())) or SUPPORTED_LANGS
    if len(langs) == 1:
        return langs[0]
    with _lock:  # the identifier swaps class tables in place; keep calls apart
        lang, conf = _identifier(langs).classify(sample)
    return lang if conf > 0 else default
