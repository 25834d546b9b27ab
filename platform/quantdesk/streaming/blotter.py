"""Orders, open positions and balances folded from a node's events, for processes that cannot ask the node.

A dashboard beside the node reads these from the node itself (``LiveNode.orders()`` and so
on). A dashboard following a node's Redis stream has only its events; :class:`Blotter` keeps
the same three tables from them, in the same columns:

- orders from the order events, summarised as the trade history does
  (:func:`quantdesk.store.trades.order_summary`);
- open positions from Nautilus's own position events (quantity, average open price and
  realized P&L as the node computed them), valued at the latest quote: the bid for a long
  position, the ask for a short one, as the node values them;
- balances from the latest ``AccountState`` of each account.

It knows what happened since it started following: orders and positions from before that
appear with their next event.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from quantdesk.store.trades import ORDER_COLUMNS, order_summary
from quantdesk.streaming.events import MARKET_KINDS, is_order_event
from quantdesk.streaming.hub import Event

ORDER_TABLE = ["client_order_id", "strategy_id", "instrument_id", "side", "type", "quantity", "price", "time_in_force",
               "status", "filled_qty", "avg_px", "is_open", "ts_last"]
POSITION_TABLE = ["instrument_id", "strategy_id", "side", "quantity", "avg_px_open", "realized_pnl", "unrealized_pnl"]
ACCOUNT_TABLE = ["venue", "currency", "total", "locked", "free"]
# Nautilus's open order states (Order.is_open): at the venue and not yet done.
OPEN_STATUSES = frozenset({"ACCEPTED", "TRIGGERED", "PENDING_UPDATE", "PENDING_CANCEL", "PARTIALLY_FILLED"})
# The trade history's column names -> the node's (LiveNode.orders()).
_ORDER_NAMES = {"order_type": "type", "filled_quantity": "filled_qty", "average_fill_price": "avg_px",
                "last_event_time": "ts_last"}


class Blotter:
    """Fold a node's trading events into its orders, open positions and balances (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[str, list[Event]] = {}
        self._positions: dict[str, Event] = {}  # position id -> its latest event
        self._balances: dict[str, Event] = {}  # account id -> its latest AccountState

    def apply(self, events: Iterable[Event]) -> None:
        """Take a batch of events in arrival order; market data and unknown kinds are ignored."""
        with self._lock:
            for event in events:
                kind = event.get("kind", "")
                if kind in MARKET_KINDS:  # most of the traffic: skipped first
                    continue
                if is_order_event(event):
                    self._orders.setdefault(event["client_order_id"], []).append(event)
                elif kind.startswith("Position") and event.get("position_id"):
                    if kind == "PositionClosed":
                        self._positions.pop(event["position_id"], None)
                    else:
                        self._positions[event["position_id"]] = event
                elif kind == "AccountState" and event.get("account_id"):
                    self._balances[event["account_id"]] = event

    def orders(self) -> pd.DataFrame:
        """Return every order seen, in the columns of ``LiveNode.orders()``."""
        with self._lock:
            summaries = [order_summary(events) for events in self._orders.values()]
        frame = pd.DataFrame(summaries, columns=ORDER_COLUMNS).rename(columns=_ORDER_NAMES)
        frame["is_open"] = frame["status"].isin(OPEN_STATUSES)
        frame["ts_last"] = pd.to_datetime(frame["ts_last"].astype("int64"), unit="ns", utc=True)
        frame["avg_px"] = frame["avg_px"].where(frame["filled_qty"] > 0)
        return frame[ORDER_TABLE]

    def positions(self, quotes: Mapping[str, Event] | None = None) -> pd.DataFrame:
        """Return the open positions in the columns of ``LiveNode.positions()``, valued at ``quotes``.

        ``quotes`` maps an instrument id to its latest ``QuoteTick`` event; without one the
        unrealized P&L is NaN. It is in price units times quantity: instruments whose contract
        multiplier is not 1 would need the multiplier, which events do not carry.
        """
        quotes = quotes or {}
        with self._lock:
            latest = list(self._positions.values())
        rows = []
        for event in latest:
            quantity = float(event["signed_qty"])
            if quantity == 0:
                continue
            average = float(event["avg_px_open"])
            quote = quotes.get(event["instrument_id"])
            mark = None if quote is None or "bid" not in quote else (quote["bid"] if quantity > 0 else quote["ask"])
            rows.append({
                "instrument_id": event["instrument_id"], "strategy_id": event["strategy_id"], "side": event["side"],
                "quantity": quantity, "avg_px_open": average, "realized_pnl": _amount(event.get("realized_pnl")),
                "unrealized_pnl": (mark - average) * quantity if mark is not None else math.nan,
            })  # fmt: skip
        return pd.DataFrame(rows, columns=POSITION_TABLE)

    def account(self) -> pd.DataFrame:
        """Return the latest balances of every account, in the columns of ``LiveNode.account()``."""
        with self._lock:
            states = list(self._balances.values())
        rows = [
            {"venue": state["account_id"].rsplit("-", 1)[0], "currency": balance["currency"],
             "total": _amount(balance["total"]), "locked": _amount(balance["locked"]), "free": _amount(balance["free"])}
            for state in states for balance in state.get("balances") or ()
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=ACCOUNT_TABLE)


def _amount(value: Any) -> float:
    """Return the number of a Nautilus amount: ``"-35.99 USD"``, ``"956701.67"`` or a plain number."""
    if value is None:
        return 0.0
    if isinstance(value, str):
        value = value.split(" ", 1)[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
