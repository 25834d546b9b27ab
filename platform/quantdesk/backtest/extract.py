"""Tables of a finished run's orders, fills and positions, read straight from Nautilus's objects.

Nautilus's report builders go through a dict per object and a pandas frame of
Python objects; for runs with thousands of trades that costs more than the rest of
the platform's post-processing together. Reading the few fields we keep directly
from the cached objects is an order of magnitude faster and gives plain floats.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderDenied, OrderFilled, OrderRejected
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position

ORDER_COLUMNS = [
    "client_order_id", "instrument_id", "side", "type", "quantity", "filled_qty", "avg_px",
    "status", "time_in_force", "ts_init", "ts_last", "reason",
]
FILL_COLUMNS = ["ts_event", "instrument_id", "side", "quantity", "price", "commission", "client_order_id", "trade_id"]
POSITION_COLUMNS = [
    "position_id", "instrument_id", "entry", "quantity", "open_quantity", "opened", "closed",
    "avg_px_open", "avg_px_close", "realized_pnl", "realized_return", "commissions", "is_open",
]


def _times(nanoseconds: list[int]) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(nanoseconds, dtype="int64"), unit="ns", utc=True)


def orders_table(orders: Iterable[Order]) -> pd.DataFrame:
    """Return one row per order: ids, side, type, quantities, average fill price, status, times.

    ``reason`` says why a denied (pre-trade risk) or rejected (venue) order did not trade; it is empty otherwise.
    """
    orders = sorted(orders, key=lambda o: (o.ts_init, o.client_order_id.value))
    frame = pd.DataFrame(
        {
            "client_order_id": [o.client_order_id.value for o in orders],
            "instrument_id": [o.instrument_id.value for o in orders],
            "side": [o.side_string() for o in orders],
            "type": [o.type_string() for o in orders],
            "quantity": [o.quantity.as_double() for o in orders],
            "filled_qty": [o.filled_qty.as_double() for o in orders],
            "avg_px": [o.avg_px if o.filled_qty.as_double() else np.nan for o in orders],
            "status": [o.status_string() for o in orders],
            "time_in_force": [o.tif_string() for o in orders],
            "ts_init": _times([o.ts_init for o in orders]),
            "ts_last": _times([o.ts_last for o in orders]),
            "reason": [_refusal(o) for o in orders],
        },
        columns=ORDER_COLUMNS,
    )
    return frame


def _refusal(order: Order) -> str:
    event = order.last_event
    return event.reason if isinstance(event, (OrderDenied, OrderRejected)) else ""


def fills_table(orders: Iterable[Order]) -> pd.DataFrame:
    """Return one row per fill of ``orders``, in time order; ``quantity`` is signed (negative for sells)."""
    fills = [e for o in orders for e in o.events if isinstance(e, OrderFilled)]
    fills.sort(key=lambda f: f.ts_event)  # stable: same-time fills keep their event order
    sells = np.array([f.order_side == OrderSide.SELL for f in fills], dtype=bool)
    quantity = np.array([f.last_qty.as_double() for f in fills], dtype="float64")
    return pd.DataFrame(
        {
            "ts_event": _times([f.ts_event for f in fills]),
            "instrument_id": [f.instrument_id.value for f in fills],
            "side": np.where(sells, "SELL", "BUY"),
            "quantity": np.where(sells, -quantity, quantity),
            "price": np.array([f.last_px.as_double() for f in fills], dtype="float64"),
            "commission": np.array([f.commission.as_double() for f in fills], dtype="float64"),
            "client_order_id": [f.client_order_id.value for f in fills],
            "trade_id": [f.trade_id.value for f in fills],
        },
        columns=FILL_COLUMNS,
    )


def positions_table(positions: Iterable[Position]) -> pd.DataFrame:
    """Return one row per position: every closed round trip and any open one.

    Under NETTING one position id is reused round trip after round trip; pass each round
    trip's object (``cache.position_snapshots()`` holds copies of the earlier ones).
    """
    positions = list(positions)
    positions.sort(key=lambda p: (p.ts_opened, p.ts_closed or 0))
    closed_at = [p.ts_closed if p.is_closed else None for p in positions]
    return pd.DataFrame(
        {
            "position_id": [p.id.value for p in positions],
            "instrument_id": [p.instrument_id.value for p in positions],
            "entry": ["BUY" if p.entry == OrderSide.BUY else "SELL" for p in positions],
            "quantity": [p.peak_qty.as_double() for p in positions],
            "open_quantity": [p.quantity.as_double() for p in positions],
            "opened": _times([p.ts_opened for p in positions]),
            "closed": pd.to_datetime(pd.Series(closed_at, dtype="float64"), unit="ns", utc=True).to_numpy(),
            "avg_px_open": [p.avg_px_open for p in positions],
            "avg_px_close": [p.avg_px_close if p.avg_px_close else np.nan for p in positions],
            "realized_pnl": [p.realized_pnl.as_double() if p.realized_pnl is not None else 0.0 for p in positions],
            "realized_return": [p.realized_return for p in positions],
            "commissions": [sum(m.as_double() for m in p.commissions()) for p in positions],
            "is_open": [p.is_open for p in positions],
        },
        columns=POSITION_COLUMNS,
    )


def balances_table(account, currency: str) -> pd.Series:
    """Return the account's total balance in ``currency`` after each of its state events, in time order."""
    stamps, totals = [], []
    for state in account.events:
        for balance in state.balances:
            if balance.currency.code == currency:
                stamps.append(state.ts_event)
                totals.append(balance.total.as_double())
    balances = pd.Series(np.asarray(totals, dtype="float64"), index=_times(stamps), name="balance")
    return balances.sort_index(kind="stable")
