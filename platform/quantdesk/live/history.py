"""The node's trade history: every order event and fill from the event hub, written to the platform store.

The recorder is one more subscriber of the node's hub, so it sees exactly what dashboards see,
in order, in batches. A batch that cannot be written (the database is down) is kept and
retried with backoff, ahead of newer events, so nothing is lost while the node runs; the
store ignores events it already holds, so a retry never duplicates.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from quantdesk.config.settings import settings
from quantdesk.errors import QuantDeskError
from quantdesk.streaming.events import is_order_event

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)


class TradeRecorder:
    """Write the order events a hub carries to the trade history of the platform store.

    Parameters
    ----------
    hub : str
        Name of the in-process event hub (:func:`quantdesk.streaming.hub`).
    url : str, optional
        Store URL; the configured store (SQLite under the catalog root by default) when None.
    catalog : str, optional
        Catalog root holding the default SQLite store.
    window : float
        Seconds of events gathered into one write.
    """

    def __init__(self, hub: str, url: str | None = None, catalog: str | None = None, window: float = 0.2) -> None:
        from quantdesk.store.trades import TradeHistory

        if url is None and catalog is not None:  # the store beside this catalog, unless QUANTDESK_STORE_URL says otherwise
            url = dataclasses.replace(settings(), catalog_path=Path(catalog)).store_location
        self.history = TradeHistory(url)
        self.hub_name = hub
        self.window = window
        self.recorded = 0
        self.failures = 0
        self.last_error = ""
        self._backlog: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription = None

    def start(self) -> TradeRecorder:
        """Subscribe to the hub and start writing."""
        from quantdesk.streaming import hub

        self._subscription = hub(self.hub_name).subscribe(self._receive, window=self.window)
        self._thread = threading.Thread(target=self._write_loop, name=f"quantdesk-trades-{self.hub_name}", daemon=True)
        self._thread.start()
        return self

    def _receive(self, batch: list[dict[str, Any]]) -> None:
        events = [event for event in batch if is_order_event(event)]
        if events:
            with self._lock:
                self._backlog.extend(events)
            self._wake.set()

    def _write_loop(self) -> None:
        attempt = 0
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            while self._backlog:
                with self._lock:
                    batch = list(self._backlog)
                try:
                    self.history.record(batch)
                except QuantDeskError as error:  # the store is unreachable or refused the batch: keep it, retry
                    self.failures += 1
                    self.last_error = str(error)
                    log.warning("trade history write failed (%s); retrying", error)
                    if self._stop.wait(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]) and attempt >= len(RETRY_SECONDS):
                        return
                    attempt += 1
                    continue
                attempt = 0
                with self._lock:
                    for _ in batch:
                        self._backlog.popleft()
                self.recorded += len(batch)
            if self._stop.is_set():
                return

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every event received so far is written.

        Raises
        ------
        QuantDeskError
            When the store cannot take them within ``timeout`` seconds (they stay queued).
        """
        deadline = time.monotonic() + timeout
        if self._subscription is not None and hasattr(self._subscription, "flush"):
            self._subscription.flush(timeout)
        while self._backlog:
            if time.monotonic() > deadline:
                raise QuantDeskError(f"{len(self._backlog)} order events are not yet in the trade history: {self.last_error}")
            self._wake.set()
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, unsubscribe and end the writer thread."""
        if self._subscription is not None:
            from quantdesk.streaming import hub

            try:
                self.flush(timeout)
            except QuantDeskError as error:
                log.error("stopping with unwritten trade history: %s", error)
            hub(self.hub_name).unsubscribe(self._subscription)
            self._subscription = None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
