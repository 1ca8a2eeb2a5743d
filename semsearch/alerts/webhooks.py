"""Webhook delivery: a saved search's new hits POSTed to its URL, from a background worker.

Matching only queues a delivery (a row of the alerts database, in the same transaction as the hits), so a
write never waits for a receiver, and a delivery queued by `semsearch index` in another process is sent by
the server. The worker sends each due delivery with a timeout, at most `concurrency` at once; a receiver
that fails (connection error, timeout, an answer other than 2xx) is retried with exponential backoff
(`backoff`, x2 each time) up to `attempts` times, then the delivery is marked failed and logged; its last
error shows in `GET /alerts/{name}`. Redirects are not followed.

Each request carries `X-Semsearch-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body under the saved
search's webhook secret (as GitHub's webhooks), `X-Semsearch-Event` and `X-Semsearch-Delivery`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from .. import __version__
from .store import AlertStore, now_iso

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Semsearch-Signature"
EVENT_HEADER = "X-Semsearch-Event"
DELIVERY_HEADER = "X-Semsearch-Delivery"


@dataclass(frozen=True)
class WebhookConfig:
    timeout: float = 5.0  # seconds for one POST
    attempts: int = 5  # tries before a delivery is marked failed
    backoff: float = 2.0  # seconds before the first retry, doubled each time
    concurrency: int = 4  # deliveries in flight at once
    poll: float = 1.0  # seconds between two looks for deliveries queued by other processes


def signature(secret: str, body: bytes) -> str:
    """The value of X-Semsearch-Signature for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: compare in constant time."""
    return bool(header) and hmac.compare_digest(signature(secret, body), header)


class WebhookWorker:
    """Sends the queued deliveries of one alerts database, until stopped."""

    def __init__(self, store: AlertStore, config: WebhookConfig = WebhookConfig()) -> None:
        self.store = store
        self.config = config
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="semsearch-webhook")
        self._slots = threading.Semaphore(config.concurrency)
        self._client = httpx.Client(
            timeout=config.timeout, follow_redirects=False, headers={"User-Agent": f"semsearch-webhook/{__version__}"}
        )

    def start(self) -> None:
        if self._thread is None:
            try:
                self.store.reset_sending()
            except Exception:  # noqa: BLE001 - a damaged alerts file must not stop the server
                log.exception("webhooks: cannot read the alerts database", extra={"event": "webhook_error"})
            self._thread = threading.Thread(target=self._run, name="semsearch-webhooks", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        """New deliveries were queued: look now."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._dispatch()
            except Exception:  # noqa: BLE001 - keep delivering; the reason is in the log
                log.exception("webhooks: dispatch failed", extra={"event": "webhook_error"})
            wait = self.config.poll
            try:
                due = self.store.next_due()
                if due is not None:
                    wait = max(0.01, min(wait, due - time.time()))
            except Exception:  # noqa: BLE001
                pass
            self._wake.wait(wait)
            self._wake.clear()

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            free = 0
            while self._slots.acquire(blocking=False):
                free += 1
            if not free:
                return
            claimed = self.store.claim_due(free)
            for _ in range(free - len(claimed)):
                self._slots.release()
            if not claimed:
                return
            for item in claimed:
                self._pool.submit(self._send_one, *item)

    def _send_one(self, delivery_id: int, alert_id: int, url: str, secret: str, payload: str, attempts: int) -> None:
        try:
            self._deliver(delivery_id, url, secret, payload, attempts)
        except Exception:  # noqa: BLE001
            log.exception("webhooks: delivery %d failed unexpectedly", delivery_id, extra={"event": "webhook_error"})
        finally:
            self._slots.release()
            self._wake.set()

    def _deliver(self, delivery_id: int, url: str, secret: str, payload: str, attempts: int) -> None:
        data = json.loads(payload)
        data["delivery"] = delivery_id
        data["sent_at"] = now_iso()
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret or "", body),
            EVENT_HEADER: str(data.get("event", "alert.hits")),
            DELIVERY_HEADER: str(delivery_id),
        }
        attempts += 1
        status: int | None = None
        try:
            response = self._client.post(url, content=body, headers=headers)
            status = response.status_code
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except httpx.TimeoutException:
            error = f"timed out after {self.config.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        if error is None:
            self.store.settle(delivery_id, "delivered", attempts, time.time(), status, None)
            log.info("webhook delivered", extra={"event": "webhook_delivered", "delivery": delivery_id, "alert": data.get("alert")})
            return
        if attempts >= self.config.attempts:
            self.store.settle(delivery_id, "failed", attempts, time.time(), status, error)
            log.warning(
                "webhook of saved search %r failed after %d attempt(s): %s", data.get("alert"), attempts, error,
                extra={"event": "webhook_failed", "delivery": delivery_id, "alert": data.get("alert"), "error": error},
            )
            return
        delay = self.config.backoff * 2 ** (attempts - 1)
        self.store.settle(delivery_id, "pending", attempts, time.time() + delay, status, error)
        log.info(
            "webhook attempt %d failed (%s); retrying in %.1f s", attempts, error, delay,
            extra={"event": "webhook_retry", "delivery": delivery_id, "alert": data.get("alert"), "error": error},
        )
