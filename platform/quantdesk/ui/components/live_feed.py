"""Bind one browser session to a live event hub: batches arrive on the hub's thread, updates run on the session's loop.

Bokeh documents must be changed on their own event loop, and a browser takes only so many
messages a second, so a session never handles events one by one: its hub subscription
gathers them over ``window`` seconds and hands each batch to ``handler`` in one
``add_next_tick_callback``, where the handler streams them into its sources in one go. While
an update waits for the session's loop, later batches join it rather than queue behind it. The
subscription ends with the session. Outside a served session (a notebook, a test) the handler
runs directly on the hub's thread.

Sessions of a process that follow the same hub with the same window and kinds share one
subscription and receive the same batch object while they keep up, so what a batch yields for
every session (the newest price of each instrument, the rows of a chart) can be worked out
once per batch with :func:`per_batch` instead of once per session: with fifty sessions at
tens of thousands of events a second, per-session passes over every event were the server's
limit. Handlers must therefore read a batch and never change it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any


from quantdesk.streaming.hub import DEFAULT_WINDOW, Event, hub
from quantdesk.ui.components.background import session_document

log = logging.getLogger(__name__)

Handler = Callable[[list[Event]], None]


class _Fanout:
    """One hub subscription handing each batch to every session feed with the same hub, window and kinds."""

    def __init__(self, key: tuple[str, float, frozenset[str] | None]) -> None:
        self.key = key
        self.feeds: tuple[SessionFeed, ...] = ()
        hub_name, window, kinds = key
        self.subscription = hub(hub_name).subscribe(self._deliver, window=window, kinds=kinds)

    def _deliver(self, batch: list[Event]) -> None:
        for feed in self.feeds:
            feed._receive(batch)


_FANOUTS: dict[tuple[str, float, frozenset[str] | None], _Fanout] = {}
_FANOUTS_LOCK = threading.Lock()


class SessionFeed:
    """A live hub subscription that updates one Bokeh/Panel session.

    Parameters
    ----------
    hub_name : str
        The in-process hub to follow (fed by a node in this process or by a Redis reader).
    handler : callable
        Receives each batch of events, on the session's event loop. The batch may be shared
        with other sessions: read it, never change it.
    window : float
        Seconds of events coalesced into one document update.
    kinds : iterable of str, optional
        Only these event kinds.

    Attributes
    ----------
    batches, events : int
        Updates applied and events they carried.
    last_latency : float
        Seconds from the newest event's ``ts_event`` to its document update (the last batch).
    """

    def __init__(self, hub_name: str, handler: Handler, window: float = DEFAULT_WINDOW,
                 kinds: Iterable[str] | None = None) -> None:
        self.handler = handler
        self.batches = 0
        self.events = 0
        self.last_latency = float("nan")
        self._lock = threading.Lock()
        self._waiting: list[list[Event]] | None = None  # batches of the update scheduled on the session's loop
        self._document = session_document()
        key = (hub_name, float(window), None if kinds is None else frozenset(kinds))
        with _FANOUTS_LOCK:
            fanout = _FANOUTS.get(key)
            if fanout is None:
                fanout = _FANOUTS[key] = _Fanout(key)
            fanout.feeds = (*fanout.feeds, self)
        self._fanout: _Fanout | None = fanout
        if self._document is not None:
            self._document.on_session_destroyed(lambda _context: self.close())

    def _receive(self, batch: list[Event]) -> None:
        if self._document is None:
            self._apply(batch)
            return
        with self._lock:
            if self._waiting is not None:
                # An update is scheduled but the session's loop has not run it yet (it is busy with
                # other sessions): that update takes these events too. One callback per session
                # at a time keeps a lagging server from queueing ever more small updates.
                self._waiting.append(batch)
                return
            self._waiting = [batch]
        try:
            self._document.add_next_tick_callback(self._apply_waiting)
        except Exception:  # the session is closing: its document takes no more callbacks
            self.close()

    def _apply_waiting(self) -> None:
        with self._lock:
            batches, self._waiting = self._waiting, None
        if not batches:
            return
        # One batch: the object every session got, so per-batch results are shared. Several (the
        # session lags): joined into one update, since each document update costs the server far
        # more than a pass over the events (one update per batch tripled a lagging server's lag).
        self._apply(batches[0] if len(batches) == 1 else [event for batch in batches for event in batch])

    def _apply(self, batch: list[Event]) -> None:
        self.handler(batch)
        self.batches += 1
        self.events += len(batch)
        newest = batch[-1].get("ts_event")
        if newest:
            self.last_latency = time.time() - int(newest) / 1e9

    def close(self) -> None:
        """End this session's share of the subscription (called when the session is destroyed)."""
        fanout, self._fanout = self._fanout, None
        if fanout is None:
            return
        with _FANOUTS_LOCK:
            fanout.feeds = tuple(feed for feed in fanout.feeds if feed is not self)
            if fanout.feeds:
                return
            if _FANOUTS.get(fanout.key) is fanout:
                del _FANOUTS[fanout.key]
        hub(fanout.key[0]).unsubscribe(fanout.subscription)

    @property
    def active(self) -> bool:
        """Return whether the feed still receives events."""
        return self._fanout is not None


_PER_BATCH: OrderedDict[tuple[int, str], tuple[list[Event], Any]] = OrderedDict()
_PER_BATCH_LOCK = threading.Lock()
PER_BATCH_KEPT = 256  # results of the latest batches kept: a few seconds of updates of every session


def per_batch(batch: list[Event], name: str, compute: Callable[[list[Event]], Any]) -> Any:
    """Return ``compute(batch)``, computed once for this batch object and ``name`` whichever session asks.

    The result is shared: treat it as read-only.
    """
    key = (id(batch), name)
    with _PER_BATCH_LOCK:
        found = _PER_BATCH.get(key)
        if found is not None and found[0] is batch:  # the kept reference keeps the id from being reused
            return found[1]
    result = compute(batch)
    with _PER_BATCH_LOCK:
        _PER_BATCH[key] = (batch, result)
        while len(_PER_BATCH) > PER_BATCH_KEPT:
            _PER_BATCH.popitem(last=False)
    return result


def latest_by(events: list[Event], key: str) -> dict[Any, Event]:
    """Return the last event of each value of ``key`` in a batch (e.g. the newest quote per instrument)."""
    return {event[key]: event for event in events if key in event}
