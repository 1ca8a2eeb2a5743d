"""Lexical analysis for BM25: elisions, accent folding, stop words and stemming by language.

The same function analyses passages (with the passage's language) and queries (with the
query's), so that "l'armée" and "armées" meet on the same term.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer
from bm25s import stopwords as bm25s_stopwords

_STEMMER_NAMES = {
    "fr": "french",
    "en": "english",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}
# Question words carry no evidence in a passage that answers; bm25s's English list has them, its
# French list does not ("quel", "combien"...). Worth +0.3 point R@1 on PIAF dev (BENCHMARKS.md).
_FRENCH_QUESTION_WORDS = (
    "quel", "quelle", "quels", "quelles", "combien", "comment", "pourquoi", "quand", "quoi",
    "lequel", "laquelle", "lesquels", "lesquelles",
)
_STOPWORDS = {
    "fr": (*bm25s_stopwords.STOPWORDS_FRENCH, *_FRENCH_QUESTION_WORDS),
    "en": bm25s_stopwords.STOPWORDS_EN_PLUS,
    "de": bm25s_stopwords.STOPWORDS_GERMAN,
    "es": bm25s_stopwords.STOPWORDS_SPANISH,
    "it": bm25s_stopwords.STOPWORDS_ITALIAN,
    "pt": bm25s_stopwords.STOPWORDS_PORTUGUESE,
    "nl": bm25s_stopwords.STOPWORDS_DUTCH,
}
# French and Italian elided articles and pronouns: l'armée -> armée, qu'il -> il.
_ELIDED = frozenset("l d j m n s t c qu jusqu lorsqu puisqu quoiqu presqu quelqu un dell all dall nell sull".split())
# Words of letters and digits; "2 500" and "2.500" both become the term "2500".
_NUMBER_GROUPS = re.compile(r"(?<=\d)[  .,'’ ](?=\d{3}\b)")
_DIGIT = re.compile(r"\d")
# A word, with the apostrophe that follows it when a word follows (an elision such as "l'").
_WORD = re.compile(r"\w+(?:['’](?=\w))?", re.UNICODE)
_stem_lock = threading.Lock()


def fold_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=16)
def _stopwords(lang: str) -> frozenset[str]:
    return frozenset(fold_accents(w.lower()) for w in _STOPWORDS.get(lang, ()))


@lru_cache(maxsize=16)
def _stemmer(lang: str) -> Stemmer.Stemmer | None:
    name = _STEMMER_NAMES.get(lang)
    return Stemmer.Stemmer(name) if name else None


@lru_cache(maxsize=1 << 16)
def _term(word: str, lang: str) -> str | None:
    """The term of one lowercased word, None for a stop word or an elided article. Cached: words
    repeat (Zipf), and folding and stemming each word again (and an elision regular expression)
    were most of a lexical search's time (BENCHMARKS.md)."""
    if word[-1] in "'’":
        word = word[:-1]
        if word in _ELIDED:
            return None
    if fold_accents(word) in _stopwords(lang) or (len(word) <= 1 and not word.isdigit()):
        return None
    stemmer = _stemmer(lang)
    if stemmer is not None:
        with _stem_lock:  # a PyStemmer object is not safe to share between threads
            word = stemmer.stemWord(word)
    return fold_accents(word)


def analyze(text: str, lang: str) -> list[str]:
    """Terms of `text` for BM25: lowercased, elisions cut, stop words dropped, stemmed, accents folded."""
    text = text.lower()
    if _DIGIT.search(text):
        text = _NUMBER_GROUPS.sub("", text)
    terms = [_term(w, lang) for w in _WORD.findall(text)]
    return [t for t in terms if t is not None]


def bridge_terms(text: str, lang: str, target: str) -> list[str]:
    """Terms of a `lang` query as `target`'s analyzer makes them, for BM25 over passages in `target`.

    Words shared across languages (names, numbers, cognates such as "revolution" / "révolution" or
    "Napoleon" / "Napoléon") then meet the passage's own terms: stop words of both languages are
    dropped, and accents are folded before `target`'s stemmer, as a passage in `target` rarely spells
    a foreign word with the query's accents. Figures in BENCHMARKS.md (cross-lingual quality)."""
    if target == lang:
        return analyze(text, lang)
    text = text.lower()
    if _DIGIT.search(text):
        text = _NUMBER_GROUPS.sub("", text)
    source_stop = _stopwords(lang)
    terms = []
    for word in _WORD.findall(text):
        folded = fold_accents(word)
        if folded.rstrip("'’") in source_stop:
            continue
        term = _term(folded, target)
        if term is not None:
            terms.append(term)
    return terms


_DIGITS = re.compile(r"\d+")


def salient_numbers(text: str) -> set[str]:
    """Numbers that identify a fact ("2 500", "2.500" -> "2500").

    Years (four digits from 1000 to 2100) and numbers under 100 are too common to identify one.
    """
    numbers: set[str] = set()
    if not _DIGIT.search(text):  # most sentences: one scan instead of the digit-grouping rewrite's lookbehind at every character
        return numbers
    for number in _DIGITS.findall(_NUMBER_GROUPS.sub("", text)):
        value = int(number)
        if value < 100 or (len(number) == 4 and 1000 <= value <= 2100):
            continue
        numbers.add(number.lstrip("0") or "0")
    return numbers

