"""The platform's SQL store: a SQLite file under the catalog by default, PostgreSQL by URL.

Importing the package registers every store table on :data:`METADATA`, so :func:`engine`
creates all of them whichever module asks first.
"""

from quantdesk.store.database import METADATA, close_engines, engine, mask, resolve
from quantdesk.store.trades import NetPosition, TradeHistory, apply_fill
from quantdesk.store.watchlists import Watchlists

__all__ = ["METADATA", "NetPosition", "TradeHistory", "Watchlists", "apply_fill", "close_engines", "engine", "mask",
           "resolve"]
