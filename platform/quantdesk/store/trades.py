"""Append-only history of live order events and fills, readable after a restart.

The streaming layer hands :meth:`TradeHistory.record` plain JSON-ready dicts, one per
Nautilus order event::

    {"event_id": "5c1f...", "kind": "OrderFilled", "ts_event": 1718000000000000000,
     "trader_id": "TRADER-001", "strategy_id": "EMACross-000", "instrument_id": "AAPL.XNAS",
     "client_order_id": "O-20240610-0001", "data": {...every other field...}}

``data`` of an ``OrderFilled`` event must also hold ``trade_id``, ``order_side``
(``"BUY"``/``"SELL"``), ``last_qty``, ``last_px``, ``commission``, ``currency`` and
``venue_order_id``; ``position_id`` is optional. Fills are copied into their own typed table.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, Column, Double, Engine, Index, Integer, String, Table, Text, select

from quantdesk.errors import QuantDeskError
from quantdesk.store.database import METADATA, engine, insert_ignoring_duplicates, translate_errors

# SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
_SEQUENCE = BigInteger().with_variant(Integer, "sqlite")

ORDER_EVENTS = Table(
    "order_events",
    METADATA,
    # Insertion order is the order the node produced the events in (the recorder writes them so).
    Column("sequence", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("event_id", String, nullable=False, unique=True),
    Column("kind", String, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Column("trader_id", String, nullable=False),
    Column("strategy_id", String, nullable=False),
    Column("instrument_id", String, nullable=False),
    Column("client_order_id", String, nullable=False),
    Column("data", Text, nullable=False),
    Column("ts_recorded", BigInteger, nullable=False),
    Index("ix_order_events_ts_event", "ts_event"),
    Index("ix_order_events_client_order_id", "client_order_id"),
)

FILLS = Table(
    "fills",
    METADATA,
    Column("sequence", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("event_id", String, nullable=False, unique=True),
    Column("ts_event", BigInteger, nullable=False),
    Column("trader_id", String, nullable=False),
    Column("strategy_id", String, nullable=False),
    Column("instrument_id", String, nullable=False),
    Column("client_order_id", String, nullable=False),
    Column("venue_order_id", String, nullable=False),
    Column("trade_id", String, nullable=False),
    Column("position_id", String, nullable=True),
    Column("order_side", String, nullable=False),
    Column("last_qty", Double, nullable=False),
    Column("last_px", Double, nullable=False),
    Column("commission", Double, nullable=False),
    Column("currency", String, nullable=False),
    Index("ix_fills_ts_event", "ts_event"),
)

EVENT_KEYS = ("event_id", "kind", "ts_event", "trader_id", "strategy_id", "instrument_id", "client_order_id", "data")
FILL_TEXT_KEYS = ("trade_id", "currency", "venue_order_id")
FILL_NUMBER_KEYS = ("last_qty", "last_px", "commission")
SIDES = ("BUY", "SELL")

EVENT_COLUMNS = ["ts_event", "event_id", "kind", "trader_id", "strategy_id", "instrument_id", "client_order_id", "data"]
FILL_COLUMNS = [
    "ts_event", "event_id", "trade_id", "trader_id", "strategy_id", "instrument_id", "client_order_id",
    "venue_order_id", "position_id", "order_side", "last_qty", "last_px", "commission", "currency",
]  # fmt: skip
ORDER_COLUMNS = [
    "client_order_id", "trader_id", "strategy_id", "instrument_id", "status", "side", "order_type",
    "quantity", "price", "time_in_force", "filled_quantity", "average_fill_price", "reason",
    "last_event", "last_event_time",
]  # fmt: skip
POSITION_COLUMNS = ["instrument_id", "strategy_id", "net_quantity", "average_price", "realized_pnl", "last_fill_time"]

# Order status after each event kind, as Nautilus names it (fills are decided by quantity).
STATUS_AFTER = {
    "OrderInitialized": "INITIALIZED",
    "OrderDenied": "DENIED",
    "OrderEmulated": "EMULATED",
    "OrderReleased": "RELEASED",
    "OrderSubmitted": "SUBMITTED",
    "OrderAccepted": "ACCEPTED",
    "OrderRejected": "REJECTED",
    "OrderCanceled": "CANCELED",
    "OrderExpired": "EXPIRED",
    "OrderTriggered": "TRIGGERED",
    "OrderPendingUpdate": "PENDING_UPDATE",
    "OrderPendingCancel": "PENDING_CANCEL",
}
# These end a pending request and put the order back where it was before it.
RESOLVES_PENDING = ("OrderUpdated", "OrderModifyRejected", "OrderCancelRejected")

_UNSET = "the streaming layer must send every key of the trade-history event format (quantdesk.store.trades)"


@dataclass(frozen=True)
class NetPosition:
    """A net position under the average-cost method.

    Attributes
    ----------
    quantity : float
        Signed net quantity: positive long, negative short, 0 flat.
    average_price : float
        Average open price of the net quantity; NaN when flat.
    realized_pnl : float
        Profit booked by reducing fills, in price units times quantity (no multiplier, no commission).
    """

    quantity: float = 0.0
    average_price: float = math.nan
    realized_pnl: float = 0.0


def apply_fill(position: NetPosition, side: str, quantity: float, price: float) -> NetPosition:
    """Return ``position`` after a fill of ``quantity`` at ``price`` on ``side`` ("BUY" or "SELL").

    A fill in the direction of the position (or from flat) moves the average price to the
    quantity-weighted mean. A fill against it books ``(price - average) * reduced * sign`` and
    keeps the average; one larger than the position closes it and opens the rest at ``price``.
    """
    if side not in SIDES:
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    signed = quantity if side == "BUY" else -quantity
    held = position.quantity
    if held == 0 or (held > 0) == (signed > 0):
        total = held + signed
        average = price if held == 0 else (abs(held) * position.average_price + quantity * price) / abs(total)
        return NetPosition(total, average, position.realized_pnl)
    direction = 1.0 if held > 0 else -1.0
    reduced = min(quantity, abs(held))
    realized = position.realized_pnl + (price - position.average_price) * reduced * direction
    remaining = held + signed
    # Float sums of lot sizes (0.1 + 0.2 - 0.3) must still land on flat.
    if abs(remaining) <= 1e-9 * max(abs(held), quantity):
        return NetPosition(0.0, math.nan, realized)
    if (remaining > 0) == (held > 0):
        return NetPosition(remaining, position.average_price, realized)
    return NetPosition(remaining, price, realized)


class TradeHistory:
    """Append-only store of live order events and fills (SQLite file by default, PostgreSQL by URL).

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL of the store; default ``QUANTDESK_STORE_URL`` or ``<catalog>/quantdesk.sqlite``.

    Raises
    ------
    QuantDeskError
        When the store cannot be reached or created.
    """

    def __init__(self, url: str | None = None) -> None:
        self._engine: Engine = engine(url)

    @property
    def url(self) -> str:
        """Return the store's URL with the password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    def record(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Store a batch of order events in one transaction and return how many were new.

        Events whose ``event_id`` is already stored (a replay) are skipped, so recording a
        batch twice stores it once. Nothing is ever updated or deleted.

        Raises
        ------
        QuantDeskError
            When an event lacks a key or has a bad value (the message names the event and the
            key; nothing of the batch is stored), or the store is unreachable.
        """
        recorded_at = time.time_ns()
        event_rows: dict[str, dict[str, Any]] = {}
        fill_rows: dict[str, dict[str, Any]] = {}
        for position, item in enumerate(events):
            row, fill = _rows(item, position, recorded_at)
            # The first copy of an id repeated inside a batch wins, as a replay would.
            if row["event_id"] not in event_rows:
                event_rows[row["event_id"]] = row
                if fill is not None:
                    fill_rows[row["event_id"]] = fill
        if not event_rows:
            return 0
        insert_events = insert_ignoring_duplicates(self._engine, ORDER_EVENTS, "event_id")
        with translate_errors(self._engine), self._engine.begin() as connection:
            stored = connection.execute(insert_events.returning(ORDER_EVENTS.c.event_id), list(event_rows.values()))
            new = {event_id for (event_id,) in stored}
            new_fills = [fill for event_id, fill in fill_rows.items() if event_id in new]
            if new_fills:
                insert_fills = insert_ignoring_duplicates(self._engine, FILLS, "event_id")
                connection.execute(insert_fills, new_fills)
        return len(new)

    def order_events(
        self,
        start: Any = None,
        end: Any = None,
        instrument_id: str | None = None,
        strategy_id: str | None = None,
    ) -> pd.DataFrame:
        """Return stored order events in the order the node produced them, ``data`` decoded to dicts.

        Parameters
        ----------
        start, end : str, datetime or pandas.Timestamp, optional
            Inclusive bounds on ``ts_event``; naive times are UTC.
        instrument_id, strategy_id : str, optional
            Keep only events of this instrument / strategy.
        """
        query = _filtered(ORDER_EVENTS, EVENT_COLUMNS, start, end, instrument_id=instrument_id, strategy_id=strategy_id)
        frame = self._frame(query, EVENT_COLUMNS)
        frame["data"] = frame["data"].map(json.loads)
        return frame

    def fills(
        self,
        start: Any = None,
        end: Any = None,
        instrument_id: str | None = None,
        strategy_id: str | None = None,
    ) -> pd.DataFrame:
        """Return stored fills in the order the node produced them, one row per ``OrderFilled`` event.

        Parameters
        ----------
        start, end : str, datetime or pandas.Timestamp, optional
            Inclusive bounds on ``ts_event``; naive times are UTC.
        instrument_id, strategy_id : str, optional
            Keep only fills of this instrument / strategy.
        """
        query = _filtered(FILLS, FILL_COLUMNS, start, end, instrument_id=instrument_id, strategy_id=strategy_id)
        return self._frame(query, FILL_COLUMNS)

    def orders(self, instrument_id: str | None = None, strategy_id: str | None = None) -> pd.DataFrame:
        """Return one row per order with its latest status, terms, fills and reason.

        ``status`` uses Nautilus's names (ACCEPTED, PARTIALLY_FILLED, FILLED, CANCELED, ...);
        ``side``, ``order_type``, ``quantity``, ``price`` and ``time_in_force`` are the latest
        values any event of the order carried; ``reason`` is the latest rejection, denial or
        cancel reason. An order whose quantity was never recorded counts as partially filled.
        """
        events = self.order_events(instrument_id=instrument_id, strategy_id=strategy_id)
        rows = [order_summary(group.to_dict("records")) for _, group in events.groupby("client_order_id", sort=False)]
        return pd.DataFrame(rows, columns=ORDER_COLUMNS).astype({"last_event_time": "datetime64[ns, UTC]"})

    def positions(self) -> pd.DataFrame:
        """Return the net position per instrument and strategy, from fills by the average-cost method.

        Columns: ``net_quantity`` (signed), ``average_price`` (NaN when flat), ``realized_pnl``
        (price units times quantity, before commissions) and ``last_fill_time``.
        """
        fills = self.fills()
        rows = []
        for (instrument_id, strategy_id), group in fills.groupby(["instrument_id", "strategy_id"], sort=True):
            position = NetPosition()
            for side, quantity, price in zip(group["order_side"], group["last_qty"], group["last_px"], strict=True):
                position = apply_fill(position, side, quantity, price)
            rows.append(
                [instrument_id, strategy_id, position.quantity, position.average_price,
                 position.realized_pnl, group["ts_event"].iloc[-1]]
            )  # fmt: skip
        return pd.DataFrame(rows, columns=POSITION_COLUMNS).astype({"last_fill_time": "datetime64[ns, UTC]"})

    def _frame(self, query: Any, columns: list[str]) -> pd.DataFrame:
        with translate_errors(self._engine), self._engine.connect() as connection:
            records = connection.execute(query).mappings().all()
        frame = pd.DataFrame([dict(r) for r in records], columns=columns)
        frame["ts_event"] = pd.to_datetime(frame["ts_event"].astype("int64"), unit="ns", utc=True)
        return frame


def _rows(event: Mapping[str, Any], position: int, recorded_at: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Validate one event and return its ``order_events`` row and, for a fill, its ``fills`` row."""
    if not isinstance(event, Mapping):
        raise QuantDeskError(f"Event #{position} of the batch is a {type(event).__name__}, not a dict: {_UNSET}")
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise QuantDeskError(f"Event #{position} of the batch has no 'event_id' (a non-empty string): {_UNSET}")
    for key in EVENT_KEYS:
        if key not in event:
            raise QuantDeskError(f"Order event {event_id!r} has no {key!r}: {_UNSET}")
    extra = sorted(set(event) - set(EVENT_KEYS))
    if extra:
        raise QuantDeskError(f"Order event {event_id!r} has unknown key {extra[0]!r}: put extra fields under 'data'")
    for key in ("kind", "trader_id", "strategy_id", "instrument_id", "client_order_id"):
        if not isinstance(event[key], str) or not event[key]:
            raise QuantDeskError(f"Order event {event_id!r} has {key}={event[key]!r}: it must be a non-empty string")
    ts_event = event["ts_event"]
    if not isinstance(ts_event, numbers.Integral) or isinstance(ts_event, bool) or ts_event < 0:
        raise QuantDeskError(
            f"Order event {event_id!r} has ts_event={ts_event!r}: it must be whole nanoseconds since the epoch"
        )
    data = event["data"]
    if not isinstance(data, Mapping):
        raise QuantDeskError(f"Order event {event_id!r} has data={data!r}: it must be a dict")
    try:
        data_text = json.dumps(dict(data), sort_keys=True)
    except (TypeError, ValueError) as error:
        raise QuantDeskError(f"Order event {event_id!r} has 'data' that is not JSON ({error}): send plain values") from None
    common = {key: event[key] for key in ("event_id", "trader_id", "strategy_id", "instrument_id", "client_order_id")}
    row = {**common, "kind": event["kind"], "ts_event": int(ts_event), "data": data_text, "ts_recorded": recorded_at}
    if event["kind"] != "OrderFilled":
        return row, None
    return row, {**common, "ts_event": int(ts_event), **_fill_fields(event_id, data)}


def _fill_fields(event_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    for key in (*FILL_TEXT_KEYS, "order_side", *FILL_NUMBER_KEYS):
        if key not in data:
            raise QuantDeskError(f"Order event {event_id!r} (OrderFilled) has no {key!r} in 'data': {_UNSET}")
    fields: dict[str, Any] = {}
    for key in FILL_TEXT_KEYS:
        if not isinstance(data[key], str) or not data[key]:
            raise QuantDeskError(f"Order event {event_id!r} has {key}={data[key]!r}: it must be a non-empty string")
        fields[key] = data[key]
    if data["order_side"] not in SIDES:
        raise QuantDeskError(f"Order event {event_id!r} has order_side={data['order_side']!r}: use 'BUY' or 'SELL'")
    fields["order_side"] = data["order_side"]
    for key in FILL_NUMBER_KEYS:
        value = data[key]
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or (key != "commission" and number <= 0):
            raise QuantDeskError(f"Order event {event_id!r} has {key}={value!r}: it must be a positive finite number")
        fields[key] = number
    position_id = data.get("position_id")
    fields["position_id"] = None if position_id is None else str(position_id)
    return fields


def _filtered(table: Table, columns: list[str], start: Any, end: Any, **equal: str | None) -> Any:
    query = select(*(table.c[name] for name in columns))
    if start is not None:
        query = query.where(table.c.ts_event >= _nanoseconds("start", start))
    if end is not None:
        query = query.where(table.c.ts_event <= _nanoseconds("end", end))
    for name, value in equal.items():
        if value is not None:
            query = query.where(table.c[name] == value)
    # Arrival order, not ts_event: a paper venue stamps its events with the market data clock,
    # so an order's fill can carry an earlier ts_event than its own OrderInitialized.
    return query.order_by(table.c.sequence)


def _nanoseconds(name: str, value: Any) -> int:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise QuantDeskError(f"{name}={value!r} is not a time: pass an ISO date/time or a pandas Timestamp")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def order_summary(events: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Return one order's :data:`ORDER_COLUMNS` row from its events (trade-history format) in arrival order."""
    terms: dict[str, Any] = {"side": None, "order_type": None, "quantity": math.nan, "price": math.nan,
                             "time_in_force": None}  # fmt: skip
    status, before_pending, reason = None, None, None
    filled, notional = 0.0, 0.0
    for event in events:
        kind, data = event["kind"], event["data"]
        # Nautilus's events name the side order_side and keep a limit price among the order's options.
        options = data.get("options")
        fields = {**(options if isinstance(options, Mapping) else {}), **data}
        fields.setdefault("side", fields.get("order_side"))
        for key in terms:
            if fields.get(key) is not None:
                terms[key] = _number(fields[key]) if key in ("quantity", "price") else str(fields[key])
        if data.get("reason") is not None:
            reason = str(data["reason"])
        if kind == "OrderFilled":
            filled += float(data["last_qty"])
            notional += float(data["last_qty"]) * float(data["last_px"])
            complete = filled >= terms["quantity"] * (1 - 1e-9)  # False while quantity is NaN
            status = "FILLED" if complete else "PARTIALLY_FILLED"
        elif kind in STATUS_AFTER:
            if STATUS_AFTER[kind].startswith("PENDING") and not (status or "").startswith("PENDING"):
                before_pending = status
            status = STATUS_AFTER[kind]
        elif kind in RESOLVES_PENDING and (status or "").startswith("PENDING"):
            status = before_pending
    last = events[-1]
    return [
        last["client_order_id"], last["trader_id"], last["strategy_id"], last["instrument_id"], status,
        terms["side"], terms["order_type"], terms["quantity"], terms["price"], terms["time_in_force"],
        filled, notional / filled if filled else math.nan, reason, last["kind"], last["ts_event"],
    ]  # fmt: skip
