"""In-process event hub: one publisher side (a node's bridge, a Redis reader), many coalescing subscribers.

A live node can publish tens of thousands of events a second, while a browser session can
take a few hundred updates a second at most. The hub therefore hands each subscriber its
events in batches: one dispatcher thread moves everything published into every
subscription, and a subscription's callback runs at most once per its ``window`` (tens of
milliseconds for a dashboard session), with every event since the last call, in order.
Nothing is dropped on the way; a subscriber that wants only the latest price keeps only
the last event of each batch itself.

Publishing is a lock-free ``deque.append`` so the node's event loop never waits for a
subscriber; market data waits for the dispatcher's next tick (a few milliseconds), while
urgent events (fills and other trading events) wake it at once. Callbacks run on the
dispatcher thread and must return quickly (a dashboard schedules its document update on its
own event loop, the trade recorder queues a write).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from quantdesk.errors import QuantDeskError

log = logging.getLogger(__name__)

Event = dict[str, Any]
Callback = Callable[[list[Event]], None]

DEFAULT_WINDOW = 0.05  # seconds: 20 updates a second per dashboard session
TICK = 0.005  # the dispatcher's wake-up period when there is nothing to deliver
RECENT = 20_000  # events kept for subscribers that arrive late (a dashboard opened mid-session)


class Subscription:
    """One subscriber's queue and delivery window; made by :meth:`EventHub.subscribe`."""

    def __init__(self, hub: EventHub, callback: Callback, window: float, kinds: frozenset[str] | None) -> None:
        self.hub = hub
        self.callback = callback
        self.window = window
        self.kinds = kinds
        self.pending: list[Event] = []
        self.delivered = 0  # hub sequence number up to which this subscription has been served
        self.last_call = 0.0
        self.errors = 0
        self.active = True

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every event published before this call has been handed to the callback.

        Raises
        ------
        QuantDeskError
            When that takes longer than ``timeout`` seconds (the hub is stopped or a callback hangs).
        """
        target = self.hub.published
        deadline = time.monotonic() + timeout
        while self.delivered < target and self.active:
            if time.monotonic() > deadline:
                raise QuantDeskError(
                    f"Hub {self.hub.name!r}: {target - self.delivered} events not delivered within {timeout:.0f} s"
                )
            self.hub.wake()
            time.sleep(0.001)


class EventHub:
    """Fan events out to subscribers in coalesced batches.

    Parameters
    ----------
    name : str
        Names the hub in messages and in the :func:`hub` registry.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.published = 0  # events published since the hub was made
        self._incoming: deque[Event] = deque()
        self._recent: deque[Event] = deque(maxlen=RECENT)
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ publishing

    def publish(self, event: Event, urgent: bool = False) -> None:
        """Queue one event for every subscriber (thread-safe, never blocks).

        Parameters
        ----------
        event : dict
        urgent : bool
            Wake the dispatcher now instead of at its next tick. Fills and other trading events
            are urgent: a trader waits on them, and the tick would add up to 5 ms. Market data
            is not: waking per quote would cost the publisher a lock per event and split the
            stream into tiny batches.
        """
        self._incoming.append(event)
        self.published += 1
        if urgent:
            self._wake.set()

    def publish_many(self, events: Iterable[Event]) -> None:
        """Queue several events in order and wake the dispatcher (a batch is worth delivering now)."""
        for event in events:
            self._incoming.append(event)
            self.published += 1
        self._wake.set()

    def recent(self, kinds: Iterable[str] | None = None, limit: int | None = None) -> list[Event]:
        """Return the latest delivered events (at most the last 20,000), oldest first, optionally of some kinds only."""
        with self._lock:
            events = list(self._recent)
        if kinds is not None:
            wanted = set(kinds)
            events = [event for event in events if event.get("kind") in wanted]
        return events[-limit:] if limit else events

    def forget_recent(self) -> None:
        """Drop the kept history: the next :meth:`recent` starts with events published after this call.

        For a hub whose source changes (a new node): a session opened later must not be shown
        the previous node's orders and positions.
        """
        with self._lock:
            self._recent.clear()

    # ------------------------------------------------------------------ subscribing

    def subscribe(self, callback: Callback, window: float = DEFAULT_WINDOW, kinds: Iterable[str] | None = None) -> Subscription:
        """Call ``callback(batch)`` with new events at most once per ``window`` seconds.

        Parameters
        ----------
        callback : callable
            Receives a non-empty list of events, oldest first. It runs on the hub's thread and
            must return quickly; an exception is logged and the subscription carries on.
        window : float
            Seconds over which events are gathered into one call (0: as soon as they arrive).
        kinds : iterable of str, optional
            Only events whose ``kind`` is one of these (e.g. ``{"QuoteTick", "Bar"}``).
        """
        if window < 0:
            raise QuantDeskError(f"Subscription window {window} is negative: use seconds >= 0")
        subscription = Subscription(self, callback, window, None if kinds is None else frozenset(kinds))
        with self._lock:
            subscription.delivered = self.published - len(self._incoming)
            self._subscriptions = [*self._subscriptions, subscription]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._dispatch, name=f"quantdesk-hub-{self.name}", daemon=True)
                self._thread.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (events still pending for it are dropped)."""
        subscription.active = False
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]

    @property
    def subscribers(self) -> int:
        """Return the number of active subscriptions."""
        return len(self._subscriptions)

    def wake(self) -> None:
        """Ask the dispatcher to deliver now rather than at its next tick."""
        self._wake.set()

    # ------------------------------------------------------------------ dispatching

    def _dispatch(self) -> None:
        while True:
            self._wake.wait(TICK)
            self._wake.clear()
            batch = self._drain()
            with self._lock:
                subscriptions = self._subscriptions
                if batch:
                    self._recent.extend(batch)
                if not subscriptions and not self._incoming:
                    self._thread = None  # a later subscribe starts a new dispatcher
                    return
            served = self.published - len(self._incoming)
            now = time.monotonic()
            # Each kinds filter runs once per drained batch, however many sessions share it.
            by_kinds: dict[frozenset[str] | None, list[Event]] = {None: batch}
            for subscription in subscriptions:
                if batch:
                    wanted = by_kinds.get(subscription.kinds)
                    if wanted is None:
                        kinds = subscription.kinds
                        wanted = by_kinds[kinds] = [e for e in batch if e.get("kind") in kinds]
                    subscription.pending.extend(wanted)
                self._deliver(subscription, now, served)

    def _drain(self) -> list[Event]:
        incoming, batch = self._incoming, []
        while incoming:
            batch.append(incoming.popleft())
        return batch

    def _deliver(self, subscription: Subscription, now: float, served: int) -> None:
        if not subscription.pending:
            subscription.delivered = served
            return
        if now - subscription.last_call < subscription.window:
            return
        events, subscription.pending = subscription.pending, []
        subscription.last_call = now
        try:
            subscription.callback(events)
        except Exception:  # one broken subscriber must not stop the others
            subscription.errors += 1
            log.exception("hub %r: a subscriber's callback failed on %d events", self.name, len(events))
        subscription.delivered = served


_HUBS: dict[str, EventHub] = {}
_HUBS_LOCK = threading.Lock()


def hub(name: str = "paper") -> EventHub:
    """Return the process's event hub called ``name``, making it on first use."""
    with _HUBS_LOCK:
        found = _HUBS.get(name)
        if found is None:
            found = _HUBS[name] = EventHub(name)
        return found
