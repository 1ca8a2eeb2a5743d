"""New passages against every saved search at once: which new documents answer which saved searches.

A passage answers a saved search when a search for its question would count it as relevant
(search/relevance.py): in hybrid and dense modes, its best sentence's cosine to the question is at least
the model's floor (a lower floor for a passage in another language than the question), and it passes the
saved search's filters, with the search's semantics (search/searcher.py's filter_mask). The test belongs
to the passage and the question alone, so it needs no search over the collection: one product of the new
sentences' vectors with the matrix of all saved questions, the cost of the change.

Lexical saved searches have no absolute floor (a lexical search keeps what scores half its best hit): a
new passage answers one when it holds every term of the question (analyzed in the passage's language),
as a news alert on words does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..search.relevance import DENSE_FLOORS, DenseFloor
from ..store.reader import IndexReader
from ..text.analyzer import analyze
from .store import AlertMatrix, Hit

MAX_HIT_TEXT = 2000  # characters of the passage kept with a hit


@dataclass(frozen=True)
class Match:
    """Saved search `alert` (a column of the matrix) is answered by reader row `row`, sentence `sentence` of it."""

    alert: int
    row: int
    sentence: int  # index among the row's sentences
    score: float


def segment_rows(reader: IndexReader, names: set[str]) -> np.ndarray:
    """The reader's rows (live passages) of the segments named."""
    parts = [
        np.arange(reader.offsets[s], reader.offsets[s + 1], dtype=np.int64)
        for s, segment in enumerate(reader.segments)
        if segment.name in names
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _codes(values: list, known: list[str], fold: bool = False) -> np.ndarray:
    """Each distinct saved-search value as a code of the reader's table: -2 for "any" (None), -3 for a
    value the table does not hold (nothing passes)."""
    table = {(v.casefold() if fold else v): i for i, v in enumerate(known)}
    return np.array([-2 if v is None else table.get(v, -3) for v in values], np.int64)


def _filter_mask(reader: IndexReader, rows: np.ndarray, alerts: AlertMatrix, columns: np.ndarray) -> np.ndarray:
    """(passages, columns): whether each passage passes the filters of each saved search in `columns`."""
    table = reader.rows
    lo, hi = table.date_lo[rows].astype(np.int64), table.date_hi[rows].astype(np.int64)
    a_lo, a_hi = alerts.date_lo[columns].astype(np.int64), alerts.date_hi[columns].astype(np.int64)
    mask = ((a_lo[None, :] == 0) | ((hi[:, None] >= a_lo[None, :]) & (hi[:, None] > 0))) & (
        (a_hi[None, :] == 0) | ((lo[:, None] <= a_hi[None, :]) & (lo[:, None] > 0))
    )
    if any(v is not None for v in alerts.source_values):
        wanted = _codes(alerts.source_values, table.sources, fold=True)[alerts.source_index[columns]]
        src = table.source[rows].astype(np.int64)
        mask &= (wanted[None, :] == -2) | (src[:, None] == wanted[None, :])
    if any(v is not None for v in alerts.lang_values):
        wanted = _codes(alerts.lang_values, table.langs)[alerts.lang_index[columns]]
        lang = table.lang[rows].astype(np.int64)
        mask &= (wanted[None, :] == -2) | (lang[:, None] == wanted[None, :])
    return mask


def _gather(reader: IndexReader, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sentence vectors of `rows` in one array, each row's first sentence in it, and each row's count."""
    ptr = reader.sentences.ptr
    starts, ends = ptr[rows], ptr[rows + 1]
    lengths = (ends - starts).astype(np.int64)
    firsts = np.cumsum(lengths) - lengths
    index = np.repeat(starts - firsts, lengths) + np.arange(int(lengths.sum()))
    vectors = np.asarray(reader.sentences.vectors[index], dtype=np.float32)
    return vectors, firsts, lengths


def dense_matches(reader: IndexReader, rows: np.ndarray, alerts: AlertMatrix, floor: DenseFloor | None) -> list[Match]:
    """Hybrid and dense saved searches answered by `rows`: best sentence over the floor, filters passed."""
    columns = alerts.dense_columns
    if floor is None or not len(rows) or not len(columns):
        return []
    vectors, firsts, lengths = _gather(reader, rows)
    if not len(vectors):
        return []
    queries = alerts.vectors if len(columns) == len(alerts) else alerts.vectors[columns]
    scores = vectors @ queries.T  # (sentences, saved searches)
    best = np.maximum.reduceat(scores, firsts, axis=0)  # (passages, saved searches)
    query_lang = _codes(alerts.query_lang_values, reader.rows.langs)[alerts.query_lang_index[columns]]
    same = reader.rows.lang[rows].astype(np.int64)[:, None] == query_lang[None, :]
    hit = best >= np.where(same, np.float32(floor.same_language), np.float32(floor.other_language))
    if not hit.any():
        return []
    passages, cols = np.nonzero(hit)  # the filters are checked on the candidates alone
    checked = np.unique(cols)
    keep = _filter_mask(reader, rows, alerts, columns[checked])[passages, np.searchsorted(checked, cols)]
    passages, cols = passages[keep], cols[keep]
    if not len(passages):
        return []
    # each match's answering sentence: the best of its passage's sentences in its column
    owner = np.repeat(np.arange(len(rows)), lengths)
    candidates = np.where(owner[:, None] == passages[None, :], scores[:, cols], -np.inf)
    sentence = np.argmax(candidates, axis=0) - firsts[passages]
    return [
        Match(int(columns[c]), int(rows[p]), int(j), float(best[p, c]))
        for p, c, j in zip(passages.tolist(), cols.tolist(), sentence.tolist())
    ]


def lexical_matches(reader: IndexReader, rows: np.ndarray, alerts: AlertMatrix, texts: dict[int, str]) -> list[Match]:
    """Lexical saved searches answered by `rows` (every question term in the passage); `texts`: row -> text."""
    columns = alerts.lexical_columns
    if not columns or not len(rows):
        return []
    mask = _filter_mask(reader, rows, alerts, np.array(columns, np.int64))
    table = reader.rows
    spans = reader.sentences.spans
    ptr = reader.sentences.ptr
    out = []
    for p, row in enumerate(rows.tolist()):
        lang = table.langs[int(table.lang[row])] or "fr"
        text = texts.get(row, "")
        terms = set(analyze(text, lang))
        for j, c in enumerate(columns):
            if not mask[p, j]:
                continue
            wanted = set(analyze(alerts.queries[c], lang))
            if not wanted or not wanted <= terms:
                continue
            sentences = [spans[s] for s in range(int(ptr[row]), int(ptr[row + 1]))]
            overlap = [len(wanted & set(analyze(text[int(a):int(b)], lang))) for a, b in sentences]
            out.append(Match(c, row, int(np.argmax(overlap)) if overlap else 0, 1.0))
    return out


def match_rows(reader: IndexReader, rows: np.ndarray, alerts: AlertMatrix, generation: int) -> list[tuple[int, Hit]]:
    """(alert id, hit) for every saved search answered by a new document among `rows`: one hit per saved
    search and document, its best passage. Content hashes are filled by the caller."""
    if not len(alerts) or not len(rows):
        return []
    floor = DENSE_FLOORS.get(reader.commit.model)
    matches = dense_matches(reader, rows, alerts, floor)
    need_texts = bool(alerts.lexical_columns)
    passages = reader.fetch_passages(reader.rows.vids[rows].tolist()) if need_texts else {}
    texts = {int(r): passages[int(v)].text for r, v in zip(rows.tolist(), reader.rows.vids[rows].tolist()) if int(v) in passages}
    matches += lexical_matches(reader, rows, alerts, texts)
    best: dict[tuple[int, int], Match] = {}
    for m in matches:
        key = (m.alert, int(reader.rows.doc_index[m.row]))
        if key not in best or m.score > best[key].score:
            best[key] = m
    if not best:
        return []
    vids = sorted({int(reader.rows.vids[m.row]) for m in best.values()})
    rows_text = reader.fetch_passages(vids)
    out = []
    for m in sorted(best.values(), key=lambda m: (m.alert, -m.score)):
        passage = rows_text.get(int(reader.rows.vids[m.row]))
        if passage is None:
            continue
        start, end = reader.sentences.spans[int(reader.sentences.ptr[m.row]) + m.sentence]
        out.append((
            int(alerts.ids[m.alert]),
            Hit(
                alert=alerts.names[m.alert],
                doc_id=passage.doc_id,
                content_hash="",
                passage_id=passage.passage_id,
                title=passage.title,
                url=passage.url,
                date=passage.date,
                source=passage.source,
                lang=passage.lang,
                answer=passage.text[int(start):int(end)].strip(),
                text=passage.text[:MAX_HIT_TEXT],
                score=round(m.score, 4),
                generation=generation,
            ),
        ))
    return out
