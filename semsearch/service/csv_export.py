"""Search results as CSV for a spreadsheet (the HTTP `format=csv` and `semsearch search --csv`).

UTF-8 with a byte-order mark: Excel reads a CSV file without one in the machine's legacy code page
and garbles every accent of French text; LibreOffice, pandas (`encoding="utf-8-sig"`) and Python's
csv module read it either way. Rows end in CRLF (RFC 4180, the csv module's default). A text
cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe, so a
spreadsheet shows it as text instead of running it as a formula (OWASP's advice on CSV injection:
document text comes from anywhere).
"""

from __future__ import annotations

import csv
import io

from ..search.results import SearchHit

COLUMNS = ("rank", "score", "date", "source", "title", "url", "doc_id", "passage_id", "answer", "text")
BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | None) -> str:
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def answer_text(hit: SearchHit) -> str:
    """The answering sentence(s) of the passage, as marked by its highlight."""
    return " … ".join(hit.text[start:end].strip() for start, end in hit.highlight)


def results_csv(hits: list[SearchHit]) -> str:
    """The results, one row each, under a header row, preceded by the byte-order mark."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for hit in hits:
        writer.writerow(
            [
                hit.rank,
                f"{hit.score:.6f}",
                _cell(hit.date),
                _cell(hit.source),
                _cell(hit.title),
                _cell(hit.url),
                _cell(hit.doc_id),
                _cell(hit.passage_id),
                _cell(answer_text(hit)),
                _cell(hit.text),
            ]
        )
    return out.getvalue()
