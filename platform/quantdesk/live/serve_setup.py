"""Panel server setup script (``panel serve --setup``): start the live feed with the server, not with its first viewer.

``quantdesk up`` passes this file to the Panel server, so the paper node (or, with
``QUANTDESK_REDIS_URL``, the reader of a node's Redis stream) runs as soon as the server
does. It starts on a thread: a node that cannot start (a catalog without minute bars, say)
must not keep the other dashboards from being served; the Live dashboard shows the reason.
"""

from __future__ import annotations

import atexit
import sys
import threading

from quantdesk.errors import QuantDeskError
from quantdesk.live.service import shared_feed, stop_shared_feed


def _start() -> None:
    try:
        feed = shared_feed()
    except QuantDeskError as error:
        print(f"quantdesk: the live feed did not start: {error}", file=sys.stderr, flush=True)
        return
    print(f"quantdesk: live feed running ({feed.mode})", flush=True)


# Flushes the trade history and stops the node's clients when the server exits normally.
atexit.register(stop_shared_feed)
threading.Thread(target=_start, name="quantdesk-live-feed-start", daemon=True).start()
