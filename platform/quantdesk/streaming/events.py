"""The one event format dashboards, the trade history and Redis consumers share: plain JSON-ready dicts.

Every event has ``kind`` (the Nautilus class name: ``QuoteTick``, ``Bar``, ``OrderFilled``,
``PositionOpened``, ``AccountState`` ...) and ``ts_event`` (nanoseconds since the epoch, UTC).

- ``QuoteTick``: ``instrument_id``, ``bid``, ``ask``, ``bid_size``, ``ask_size`` (floats).
- ``Bar``: ``bar_type``, ``instrument_id``, ``open``, ``high``, ``low``, ``close``, ``volume``.
- Order events (``Order*``): the trade-history format of :mod:`quantdesk.store.trades`:
  ``event_id``, ``trader_id``, ``strategy_id``, ``instrument_id``, ``client_order_id`` and
  ``data`` with every other field; a fill's ``commission`` is a number in ``currency``.
- Anything else (positions, account states): Nautilus's own ``to_dict`` fields, ``type``
  renamed to ``kind``.

The same functions read an in-process Nautilus object and a payload that came through
Redis (Nautilus's JSON serializer writes ``to_dict`` with a ``type`` key), so a dashboard
sees identical events whichever way they travelled.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.model.data import Bar, QuoteTick

from quantdesk.streaming.hub import Event

ORDER_KEYS = ("event_id", "trader_id", "strategy_id", "instrument_id", "client_order_id")
MARKET_KINDS = frozenset({"QuoteTick", "Bar"})


def quote_event(quote: QuoteTick) -> Event:
    """Return the event of a Nautilus quote (read field by field: quotes are most of the traffic)."""
    return {
        "kind": "QuoteTick", "ts_event": quote.ts_event, "instrument_id": quote.instrument_id.value,
        "bid": quote.bid_price.as_double(), "ask": quote.ask_price.as_double(),
        "bid_size": quote.bid_size.as_double(), "ask_size": quote.ask_size.as_double(),
    }  # fmt: skip


def bar_event(bar: Bar) -> Event:
    """Return the event of a Nautilus bar."""
    return {
        "kind": "Bar", "ts_event": bar.ts_event, "bar_type": str(bar.bar_type),
        "instrument_id": bar.bar_type.instrument_id.value, "open": bar.open.as_double(),
        "high": bar.high.as_double(), "low": bar.low.as_double(), "close": bar.close.as_double(),
        "volume": bar.volume.as_double(),
    }  # fmt: skip


def nautilus_event(obj: Any) -> Event:
    """Return the event of any Nautilus object that has ``to_dict`` (data or event)."""
    if isinstance(obj, QuoteTick):
        return quote_event(obj)
    if isinstance(obj, Bar):
        return bar_event(obj)
    return event_from_dict(type(obj).to_dict(obj))


def event_from_dict(values: dict[str, Any]) -> Event:
    """Return the event of a Nautilus ``to_dict`` mapping (from an object, or decoded from Redis)."""
    # The node's serializer writes timestamps as strings; in-process ``to_dict`` gives ints.
    values = {key: int(value) if key.startswith("ts_") and isinstance(value, str) else value
              for key, value in values.items()}
    kind = str(values.pop("type", values.pop("kind", "")))
    if kind == "QuoteTick":
        return {"kind": kind, "ts_event": int(values["ts_event"]), "instrument_id": values["instrument_id"],
                "bid": float(values["bid_price"]), "ask": float(values["ask_price"]),
                "bid_size": float(values["bid_size"]), "ask_size": float(values["ask_size"])}  # fmt: skip
    if kind == "Bar":
        return {"kind": kind, "ts_event": int(values["ts_event"]), "bar_type": values["bar_type"],
                "instrument_id": values["bar_type"].split("-", 1)[0],
                **{key: float(values[key]) for key in ("open", "high", "low", "close", "volume")}}  # fmt: skip
    if kind.startswith("Order") and "client_order_id" in values:
        return _order_event(kind, values)
    return {"kind": kind, "ts_event": int(values.get("ts_event") or values.get("ts_init") or 0), **values}


def _order_event(kind: str, values: dict[str, Any]) -> Event:
    event = {key: values.pop(key, None) for key in ORDER_KEYS}
    event["kind"] = kind
    event["ts_event"] = int(values.pop("ts_event", 0) or 0)
    # Nautilus writes money as "0.50 USD"; the trade history keeps the number (the currency is its own field).
    commission = values.get("commission")
    if isinstance(commission, str):
        amount, _, currency = commission.partition(" ")
        values["commission"] = float(amount)
        values.setdefault("currency", currency or None)
    event["data"] = values
    return event


def is_order_event(event: Event) -> bool:
    """Return whether ``event`` is an order event (and so belongs in the trade history)."""
    return str(event.get("kind", "")).startswith("Order") and event.get("client_order_id") is not None
