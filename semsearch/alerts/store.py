"""Saved searches, their hits and the webhook outbox, in one SQLite file beside the index.

`<index_dir>/alerts/alerts.sqlite`, in WAL mode: the server, `semsearch index` and `watch` in other
processes all record hits into it, and SQLite serializes them. A hit is keyed by (saved search, document,
content hash), so matching a commit twice (two processes, or a crash before the cursor was saved) records
it once; a changed article is a new hit. A saved search's query vector is stored with it (embedded once,
when saved); the matrix of all of them is cached in memory until the set of saved searches changes.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ..dates import date_bounds, normalize_date
from ..errors import InvalidInputError, SemsearchError
from ..search.relevance import DENSE_FLOORS

FOLDER = "alerts"
DB_NAME = "alerts.sqlite"
MODES = ("hybrid", "dense", "lexical")
MAX_ALERTS = 100_000
MAX_NAME = 64
MAX_URL = 2048
MAX_FILTER_CHARS = 200
MIN_SECRET = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    query TEXT NOT NULL,
    mode TEXT NOT NULL,
    date_from TEXT, date_to TEXT, source TEXT, lang TEXT,
    query_lang TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB,
    webhook_url TEXT,
    webhook_secret TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hits (
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    passage_id TEXT NOT NULL,
    title TEXT, url TEXT, date TEXT, source TEXT, lang TEXT,
    answer TEXT NOT NULL,
    text TEXT NOT NULL,
    score REAL NOT NULL,
    generation INTEGER NOT NULL,
    matched_at TEXT NOT NULL,
    PRIMARY KEY (alert_id, doc_id, content_hash)
);
CREATE INDEX IF NOT EXISTS hits_alert ON hits(alert_id);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,  -- pending | sending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class AlertNotFoundError(SemsearchError):
    """No saved search of that name (HTTP 404)."""

    field = "name"


class AlertExistsError(SemsearchError):
    """A saved search of that name exists already (HTTP 409)."""

    field = "name"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AlertFilters:
    date_from: str | None = None
    date_to: str | None = None
    source: str | None = None
    lang: str | None = None

    def bounds(self) -> tuple[int, int]:
        """(lowest date_hi allowed, highest date_lo allowed) as YYYYMMDD; 0 when open."""
        lo = date_bounds(self.date_from)[0] if self.date_from else 0
        hi = date_bounds(self.date_to)[1] if self.date_to else 0
        return lo, hi


@dataclass(frozen=True)
class SavedSearch:
    name: str
    query: str
    mode: str = "hybrid"
    filters: AlertFilters = AlertFilters()
    query_lang: str = ""
    model: str = ""
    webhook_url: str | None = None
    created_at: str = ""
    id: int = 0


@dataclass(frozen=True)
class Hit:
    """A new document that answers a saved search: its best passage and answering sentence."""

    alert: str
    doc_id: str
    content_hash: str
    passage_id: str
    title: str | None
    url: str | None
    date: str | None
    source: str | None
    lang: str | None
    answer: str
    text: str
    score: float
    generation: int
    matched_at: str = ""

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Delivery:
    id: int
    alert: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    updated_at: str
    hits: int


@dataclass
class AlertMatrix:
    """Every saved search in arrays, for matching a batch of passages against all of them at once."""

    ids: np.ndarray  # alert ids
    names: list[str]
    vectors: np.ndarray  # (n, dim) float32; zero rows for lexical searches
    modes: list[str]
    query_langs: list[str]
    queries: list[str]
    date_lo: np.ndarray  # lowest date_hi allowed (0: open)
    date_hi: np.ndarray  # highest date_lo allowed (0: open)
    sources: list[str | None]  # casefolded
    langs: list[str | None]
    webhooks: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        # What matching needs per commit, computed once per set of saved searches: a loop over 10,000 saved
        # searches in Python costs more than the matrix product itself.
        self.dense_columns = np.array([i for i, m in enumerate(self.modes) if m != "lexical"], np.int64)
        self.lexical_columns = [i for i, m in enumerate(self.modes) if m == "lexical"]
        self.webhook_ids = frozenset(int(i) for i, w in zip(self.ids.tolist(), self.webhooks.tolist()) if w)
        self.query_lang_values, self.query_lang_index = _factorize(self.query_langs)
        self.source_values, self.source_index = _factorize(self.sources)
        self.lang_values, self.lang_index = _factorize(self.langs)

    def __len__(self) -> int:
        return len(self.ids)


def _factorize(values: list) -> tuple[list, np.ndarray]:
    """The distinct values and each item's position among them."""
    distinct: dict = {}
    index = np.fromiter((distinct.setdefault(v, len(distinct)) for v in values), np.int64, len(values))
    return list(distinct), index


# -- validation ---------------------------------------------------------------------------------


def validate_name(name: object, field_name: str = "name") -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{field_name}: must not be empty", field_name)
    if len(name) > MAX_NAME or not _NAME.match(name):
        raise InvalidInputError(
            f"{field_name}: {name[:80]!r} is not a saved search name: 1 to {MAX_NAME} letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
            field_name,
        )
    return name


def validate_filters(date_from: str | None, date_to: str | None, source: str | None, lang: str | None, prefix: str = "") -> AlertFilters:
    """The filters of a saved search, checked as a search checks them (dates, lengths)."""
    values = {}
    for name, value in (("date_from", date_from), ("date_to", date_to), ("source", source), ("lang", lang)):
        if value is None or not str(value).strip():
            values[name] = None
            continue
        if not isinstance(value, str) or len(value) > MAX_FILTER_CHARS or _CONTROL.search(value):
            raise InvalidInputError(f"{prefix}{name}: at most {MAX_FILTER_CHARS} characters, no control characters", f"{prefix}{name}")
        values[name] = normalize_date(value, f"{prefix}{name}") if name.startswith("date") else value.strip()
    if values["lang"]:
        values["lang"] = values["lang"].lower()
    filters = AlertFilters(**values)
    if filters.date_from and filters.date_to and date_bounds(filters.date_from)[0] > date_bounds(filters.date_to)[1]:
        raise InvalidInputError(f"{prefix}date_to: {filters.date_to!r} is before date_from {filters.date_from!r}", f"{prefix}date_to")
    return filters


def validate_webhook_url(url: str | None, field_name: str = "webhook_url") -> str | None:
    """An http(s) URL with a host, or None. The operator (with the write key) sets it, so private and
    loopback addresses are allowed: a webhook is an outbound call the operator asks for."""
    if url is None or not str(url).strip():
        return None
    url = str(url).strip()
    if len(url) > MAX_URL or _CONTROL.search(url) or " " in url:
        raise InvalidInputError(f"{field_name}: at most {MAX_URL} characters, without spaces or control characters", field_name)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise InvalidInputError(f"{field_name}: {url[:80]!r} is not a URL ({exc})", field_name) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInputError(f"{field_name}: {url[:80]!r} is not an http:// or https:// URL", field_name)
    if not parts.hostname:
        raise InvalidInputError(f"{field_name}: {url[:80]!r} has no host", field_name)
    del port
    return url


def validate_secret(secret: str | None, field_name: str = "webhook_secret") -> str:
    """The HMAC key of a webhook: the one given (16 to 256 printable characters), or a new random one."""
    if secret is None:
        return secrets.token_hex(32)
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= 256 or _CONTROL.search(secret):
        raise InvalidInputError(f"{field_name}: {MIN_SECRET} to 256 characters, no control characters", field_name)
    return secret


def validate_webhook(
    url: str | None, secret: str | None, url_field: str = "webhook_url", secret_field: str = "webhook_secret"
) -> tuple[str | None, str | None]:
    """A webhook's URL and HMAC key (None and None without a URL); a key without a URL is refused."""
    url = validate_webhook_url(url, url_field)
    if secret is not None and url is None:
        raise InvalidInputError(f"{secret_field}: given without {url_field}", secret_field)
    return url, validate_secret(secret, secret_field) if url else None


def check_dense_floor(mode: str, model: str, field_name: str = "mode") -> None:
    """A dense or hybrid alert keeps a document by the model's measured relevance floor: without one, only
    lexical alerts can tell a hit from a neighbour."""
    if mode != "lexical" and DENSE_FLOORS.get(model) is None:
        raise InvalidInputError(
            f"{field_name}: {mode} alerts need a model with a measured relevance floor; this index's model {model!r}"
            f" has none: use {field_name} lexical",
            field_name,
        )


# -- the store ------------------------------------------------------------------------------------


class AlertStore:
    """The saved searches of one index. Thread-safe (one connection per thread); several processes may
    open the same file."""

    def __init__(self, index_dir: str | Path) -> None:
        self.folder = Path(index_dir) / FOLDER
        self.path = self.folder / DB_NAME
        self._local = threading.local()
        self._matrix: tuple[str, AlertMatrix] | None = None
        self._matrix_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
            self._local.conn = conn
        return conn

    def exists(self) -> bool:
        return self.path.is_file()

    def _bump(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES('version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (secrets.token_hex(8),),
        )

    def _version(self) -> str:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return row[0] if row else ""

    # -- saved searches ---------------------------------------------------------------------------

    def add(self, search: SavedSearch, vector: np.ndarray | None, webhook_secret: str | None = None) -> SavedSearch:
        """Save it; AlertExistsError when the name is taken."""
        conn = self._conn()
        f = search.filters
        blob = None if vector is None else np.asarray(vector, np.float32).tobytes()
        created = now_iso()
        try:
            conn.execute("BEGIN IMMEDIATE")
            count = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
            if count >= MAX_ALERTS:
                raise InvalidInputError(f"name: this index holds {MAX_ALERTS} saved searches already; remove some first", "name")
            cur = conn.execute(
                "INSERT INTO alerts(name, query, mode, date_from, date_to, source, lang, query_lang, model, vector,"
                " webhook_url, webhook_secret, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (search.name, search.query, search.mode, f.date_from, f.date_to, f.source, f.lang, search.query_lang,
                 search.model, blob, search.webhook_url, webhook_secret if search.webhook_url else None, created),
            )
            self._bump(conn)
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            raise AlertExistsError(f"name: a saved search named {search.name!r} exists already; remove it first or pick another name") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return SavedSearch(**{**search.__dict__, "created_at": created, "id": int(cur.lastrowid)})

    def remove(self, name: str) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute("DELETE FROM alerts WHERE name = ?", (name,))
            self._bump(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if cur.rowcount == 0:
            raise AlertNotFoundError(f"name: no saved search named {name!r}")

    _COLUMNS = "id, name, query, mode, date_from, date_to, source, lang, query_lang, model, webhook_url, created_at"

    @staticmethod
    def _row(row: tuple) -> SavedSearch:
        id_, name, query, mode, df, dt, src, lang, qlang, model, url, created = row
        return SavedSearch(name, query, mode, AlertFilters(df, dt, src, lang), qlang, model, url, created, id_)

    def get(self, name: str) -> SavedSearch:
        if not self.exists():
            raise AlertNotFoundError(f"name: no saved search named {name!r}")
        row = self._conn().execute(f"SELECT {self._COLUMNS} FROM alerts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise AlertNotFoundError(f"name: no saved search named {name!r}")
        return self._row(row)

    def list(self) -> list[SavedSearch]:
        if not self.exists():
            return []
        return [self._row(r) for r in self._conn().execute(f"SELECT {self._COLUMNS} FROM alerts ORDER BY name")]

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self._conn().execute("SELECT COUNT(*) FROM alerts").fetchone()[0])

    def names(self, limit: int) -> list[str]:
        if not self.exists():
            return []
        return [r[0] for r in self._conn().execute("SELECT name FROM alerts ORDER BY name LIMIT ?", (limit,))]

    def secret(self, alert_id: int) -> str | None:
        row = self._conn().execute("SELECT webhook_secret FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return row[0] if row else None

    def matrix(self, dim: int) -> AlertMatrix:
        """Every saved search as arrays (cached until one is added or removed, by any process)."""
        version = self._version() if self.exists() else ""
        with self._matrix_lock:
            cached = self._matrix
            if cached is not None and cached[0] == version and cached[1].vectors.shape[1] == dim:
                return cached[1]
            rows = self._conn().execute(
                "SELECT id, name, query, mode, date_from, date_to, source, lang, query_lang, vector, webhook_url FROM alerts ORDER BY id"
            ).fetchall() if self.exists() else []
            n = len(rows)
            vectors = np.zeros((n, dim), np.float32)
            lo, hi = np.zeros(n, np.int32), np.zeros(n, np.int32)
            for i, row in enumerate(rows):
                if row[9] is not None and len(row[9]) == 4 * dim:
                    vectors[i] = np.frombuffer(row[9], np.float32)
                lo[i], hi[i] = AlertFilters(row[4], row[5]).bounds()
            matrix = AlertMatrix(
                ids=np.array([r[0] for r in rows], np.int64),
                names=[r[1] for r in rows],
                vectors=vectors,
                modes=[r[3] for r in rows],
                query_langs=[r[8] for r in rows],
                queries=[r[2] for r in rows],
                date_lo=lo,
                date_hi=hi,
                sources=[r[6].casefold() if r[6] else None for r in rows],
                langs=[r[7].lower() if r[7] else None for r in rows],
                webhooks=np.array([bool(r[10]) for r in rows], bool),
            )
            self._matrix = (version, matrix)
            return matrix

    # -- hits -------------------------------------------------------------------------------------

    def record(self, alert_ids: Iterable[int], hits: list[Hit], webhook_ids: set[int]) -> list[Hit]:
        """Store the hits (those already stored are skipped) and queue one webhook delivery per saved search
        with a webhook and new hits, in one transaction; returns the hits that were new."""
        if not hits:
            return []
        conn = self._conn()
        fresh: list[tuple[int, Hit]] = []
        stamp = now_iso()
        conn.execute("BEGIN IMMEDIATE")
        try:
            alert_ids = list(alert_ids)
            wanted = sorted(set(alert_ids))
            live: set[int] = set()
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                live |= {r[0] for r in conn.execute(f"SELECT id FROM alerts WHERE id IN ({','.join('?' * len(chunk))})", chunk)}
            for alert_id, hit in zip(alert_ids, hits):
                if alert_id not in live:
                    continue  # removed meanwhile
                cur = conn.execute(
                    "INSERT OR IGNORE INTO hits(alert_id, doc_id, content_hash, passage_id, title, url, date, source, lang,"
                    " answer, text, score, generation, matched_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (alert_id, hit.doc_id, hit.content_hash, hit.passage_id, hit.title, hit.url, hit.date, hit.source,
                     hit.lang, hit.answer, hit.text, hit.score, hit.generation, stamp),
                )
                if cur.rowcount:
                    fresh.append((alert_id, Hit(**{**hit.__dict__, "matched_at": stamp})))
            by_alert: dict[int, list[Hit]] = {}
            for alert_id, hit in fresh:
                by_alert.setdefault(alert_id, []).append(hit)
            for alert_id, alert_hits in by_alert.items():
                if alert_id not in webhook_ids:
                    continue
                payload = {
                    "event": "alert.hits",
                    "alert": alert_hits[0].alert,
                    "hits": [h.to_dict() for h in alert_hits],
                }
                conn.execute(
                    "INSERT INTO deliveries(alert_id, payload, status, next_at, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                    (alert_id, json.dumps(payload, ensure_ascii=False), "pending", time.time(), stamp, stamp),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return [hit for _, hit in fresh]

    def hits(self, name: str, limit: int = 50, offset: int = 0) -> tuple[int, list[Hit]]:
        """(how many hits the saved search has, the `limit` newest after `offset`)."""
        alert = self.get(name)
        conn = self._conn()
        total = conn.execute("SELECT COUNT(*) FROM hits WHERE alert_id = ?", (alert.id,)).fetchone()[0]
        rows = conn.execute(
            "SELECT doc_id, content_hash, passage_id, title, url, date, source, lang, answer, text, score, generation, matched_at"
            " FROM hits WHERE alert_id = ? ORDER BY rowid DESC LIMIT ? OFFSET ?",
            (alert.id, limit, offset),
        ).fetchall()
        return int(total), [Hit(name, *row) for row in rows]

    def hit_counts(self) -> dict[str, tuple[int, str | None]]:
        """name -> (hits, when the newest was matched)."""
        if not self.exists():
            return {}
        rows = self._conn().execute(
            "SELECT a.name, COUNT(h.doc_id), MAX(h.matched_at) FROM alerts a LEFT JOIN hits h ON h.alert_id = a.id GROUP BY a.id"
        ).fetchall()
        return {name: (int(n), last) for name, n, last in rows}

    # -- the webhook outbox -----------------------------------------------------------------------

    def reset_sending(self) -> None:
        """Deliveries a stopped process was sending go back to the queue."""
        if self.exists():
            self._conn().execute("UPDATE deliveries SET status = 'pending' WHERE status = 'sending'")

    def claim_due(self, limit: int) -> list[tuple[int, int, str, str, str, int]]:
        """Up to `limit` deliveries due now, marked `sending`: (id, alert id, url, secret, payload, attempts)."""
        if not self.exists():
            return []
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT d.id, d.alert_id, a.webhook_url, a.webhook_secret, d.payload, d.attempts FROM deliveries d"
                " JOIN alerts a ON a.id = d.alert_id WHERE d.status = 'pending' AND d.next_at <= ? ORDER BY d.next_at LIMIT ?",
                (time.time(), limit),
            ).fetchall()
            conn.executemany("UPDATE deliveries SET status = 'sending' WHERE id = ?", [(r[0],) for r in rows])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return [r for r in rows if r[2]]

    def settle(self, delivery_id: int, status: str, attempts: int, next_at: float, http_status: int | None, error: str | None) -> None:
        self._conn().execute(
            "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?, updated_at = ? WHERE id = ?",
            (status, attempts, next_at, http_status, error, now_iso(), delivery_id),
        )

    def next_due(self) -> float | None:
        if not self.exists():
            return None
        row = self._conn().execute("SELECT MIN(next_at) FROM deliveries WHERE status = 'pending'").fetchone()
        return row[0] if row and row[0] is not None else None

    def deliveries(self, name: str, limit: int = 20) -> list[Delivery]:
        alert = self.get(name)
        rows = self._conn().execute(
            "SELECT id, status, attempts, last_status, last_error, created_at, updated_at, payload FROM deliveries"
            " WHERE alert_id = ? ORDER BY id DESC LIMIT ?",
            (alert.id, limit),
        ).fetchall()
        return [
            Delivery(r[0], name, r[1], r[2], r[3], r[4], r[5], r[6], len(json.loads(r[7]).get("hits", []))) for r in rows
        ]
