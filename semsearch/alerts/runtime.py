"""What a server process runs for saved searches: the store, the matcher of new commits, the webhook worker."""

from __future__ import annotations

import logging
from pathlib import Path

from ..store.reader import IndexReader
from .consumer import AlertsConsumer, CatchUp
from .store import AlertStore
from .webhooks import WebhookConfig, WebhookWorker

log = logging.getLogger(__name__)


class AlertsRuntime:
    def __init__(self, index_dir: str | Path, webhooks: WebhookConfig = WebhookConfig()) -> None:
        self.store = AlertStore(index_dir)
        self.consumer = AlertsConsumer(index_dir, self.store)
        self.worker = WebhookWorker(self.store, webhooks)

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def on_commit(self, reader: object) -> CatchUp | None:
        """A newer commit is served: match its unmatched written segments (read from `reader` when it is a
        whole IndexReader; a sharded view's segments live on its shards, so they are opened here). Never
        raises: a failure must not fail the write or the reopen that called it (the next commit catches up)."""
        try:
            result = self.consumer.catch_up(reader if isinstance(reader, IndexReader) else None)
        except Exception:  # noqa: BLE001 - logged; the cursor was not advanced, so nothing is lost
            log.exception("alerts: matching a new commit failed", extra={"event": "alerts_failed"})
            return None
        if result is not None and result.hits:
            self.worker.notify()
        return result
