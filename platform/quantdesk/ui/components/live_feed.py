"""Bind one browser session to a live event hub: batches arrive on the hub's thread, updates run on the session's loop.

Bokeh documents must be changed on their own event loop, and a browser takes only so many
messages a second, so a session never handles events one by one: its hub subscription
gathers them over ``window`` seconds and hands each batch to ``handler`` in one
``add_next_tick_callback``, where the handler streams them into its sources in one go. While
an update waits for the session's loop, later batches join it rather than queue behind it. The
subscription ends with the session. Outside a served session (a notebook, a test) the handler
runs directly on the hub's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import panel as pn

from quantdesk.streaming.hub import DEFAULT_WINDOW, Event, Subscription, hub

log = logging.getLogger(__name__)

Handler = Callable[[list[Event]], None]


class SessionFeed:
    """A live hub subscription that updates one Bokeh/Panel session.

    Parameters
    ----------
    hub_name : str
        The in-process hub to follow (fed by a node in this process or by a Redis reader).
    handler : callable
        Receives each batch of events, on the session's event loop.
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
        self._waiting: list[Event] | None = None  # events of the update scheduled on the session's loop
        self._document = pn.state.curdoc if pn.state.curdoc is not None and pn.state.curdoc.session_context else None
        self._subscription: Subscription | None = hub(hub_name).subscribe(self._receive, window=window, kinds=kinds)
        self._hub_name = hub_name
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
                self._waiting.extend(batch)
                return
            self._waiting = list(batch)
        try:
            self._document.add_next_tick_callback(self._apply_waiting)
        except Exception:  # the session is closing: its document takes no more callbacks
            self.close()

    def _apply_waiting(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, None
        if batch:
            self._apply(batch)

    def _apply(self, batch: list[Event]) -> None:
        self.handler(batch)
        self.batches += 1
        self.events += len(batch)
        newest = batch[-1].get("ts_event")
        if newest:
            self.last_latency = time.time() - int(newest) / 1e9

    def close(self) -> None:
        """End the subscription (called when the session is destroyed)."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            hub(self._hub_name).unsubscribe(subscription)

    @property
    def active(self) -> bool:
        """Return whether the feed still receives events."""
        return self._subscription is not None


def latest_by(events: list[Event], key: str) -> dict[Any, Event]:
    """Return the last event of each value of ``key`` in a batch (e.g. the newest quote per instrument)."""
    return {event[key]: event for event in events if key in event}
