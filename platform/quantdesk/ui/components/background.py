"""Run a dashboard's long work off the server's event loop, and apply its outcome on the session's own loop.

A Panel server runs every session on one event loop: a solver or a model fit there freezes
every page it serves, streaming ones included. Bokeh models may only change on their session's
loop, under its lock, so the outcome comes back as a callback on the next tick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import panel as pn
from bokeh.document import Document

from quantdesk.errors import QuantDeskError

Updates = dict[str, Any]


def session_document() -> Document | None:
    """Return the Bokeh document of the session being served, or None outside a server (a notebook, a test)."""
    document = pn.state.curdoc
    return document if document is not None and document.session_context is not None else None


def on_session(document: Document | None, callback: Callable[[], None]) -> None:
    """Call ``callback`` on ``document``'s next tick, or at once when there is no served session."""
    if document is None:
        callback()
    else:
        document.add_next_tick_callback(callback)


def stopped(error: Exception) -> Updates:
    """Return the ``message``/``error`` updates that say why work stopped (a one-line message, not a traceback)."""
    if isinstance(error, QuantDeskError):
        text = f"Stopped: {error}"
    else:
        text = f"Stopped by an unexpected {type(error).__name__}: {error}"
    return {"message": text, "error": text}


def run_in_background(work: Callable[[], Updates], finish: Callable[[Updates], None], name: str,
                      failed: Callable[[Exception], Updates] = stopped) -> None:
    """Run ``work`` on a thread, then ``finish`` with its updates (or ``failed``'s) on the session's loop."""
    document = session_document()

    def run() -> None:
        try:
            updates = work()
        except Exception as error:  # a dashboard must say what broke, not die silently in a thread
            updates = failed(error)
        on_session(document, lambda: finish(updates))

    threading.Thread(target=run, name=name, daemon=True).start()
