"""Views of a live event stream: a rolling price chart and tables built from batches of hub events.

They take events in the format of :mod:`quantdesk.streaming.events`, a batch at a time, so
the Live dashboard and a notebook feed them the same way (from a
:class:`~quantdesk.ui.components.live_feed.SessionFeed` or a hub subscription).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend the options below belong to)
import pandas as pd
from holoviews.streams import Buffer

from quantdesk.streaming.hub import Event
from quantdesk.ui.components.live_feed import per_batch

CHART_LENGTH = 2000  # points the chart keeps per line: a rolling window, so a long session stays light
FILL_COLUMNS = ["time", "client_order_id", "instrument_id", "side", "quantity", "price", "commission", "currency"]
QUOTE_COLUMNS = ["instrument_id", "bid", "ask", "last", "change", "change_percent", "time"]


def _times(events: list[Event]) -> pd.DatetimeIndex:
    # Bokeh reads naive datetimes as UTC, which the events are.
    return pd.to_datetime([int(event["ts_event"]) for event in events], unit="ns")


class PriceChart:
    """A rolling chart of one instrument: bar closes as a line, bid and ask as thin lines.

    Parameters
    ----------
    instrument_id : str
        The instrument shown, e.g. ``AAPL.XNAS``.
    length : int
        Points kept per line; older ones scroll out.

    Examples
    --------
    >>> chart = PriceChart("AAPL.XNAS")  # doctest: +SKIP
    >>> feed = SessionFeed("live", chart.update, kinds={"Bar", "QuoteTick"})  # doctest: +SKIP
    >>> chart.view()  # doctest: +SKIP
    """

    def __init__(self, instrument_id: str | None = None, length: int = CHART_LENGTH) -> None:
        self.instrument_id = instrument_id
        empty_time = pd.Series(dtype="datetime64[ns]")
        self.bars = Buffer(pd.DataFrame({"time": empty_time, "close": pd.Series(dtype=float)}), length=length, index=False)
        self.quotes = Buffer(pd.DataFrame({"time": empty_time, "bid": pd.Series(dtype=float), "ask": pd.Series(dtype=float)}),
                             length=length, index=False)

    def update(self, batch: list[Event]) -> None:
        """Append the batch's bars and quotes of the shown instrument (one send per line per batch)."""
        bars, quotes = per_batch(batch, f"chart rows {self.instrument_id}", partial(_chart_rows, self.instrument_id))
        if bars is not None:
            self.bars.send(bars)
        if quotes is not None:
            self.quotes.send(quotes)

    def select(self, instrument_id: str | None, history: Iterable[Event] = ()) -> None:
        """Show another instrument, starting from the events of ``history`` (e.g. the hub's recent ones)."""
        self.instrument_id = instrument_id
        self.bars.clear()
        self.quotes.clear()
        self.update(list(history))

    @property
    def points(self) -> int:
        """Return the number of bar closes the chart holds."""
        return len(self.bars.data)

    def view(self, height: int = 340) -> hv.DynamicMap:
        """Return the chart: one DynamicMap per buffer, overlaid."""
        label = self.instrument_id or "no instrument"
        style = {"framewise": True, "responsive": True, "height": height, "tools": ["hover"], "xlabel": "Time (UTC)"}

        def closes(data: pd.DataFrame) -> hv.Curve:
            return hv.Curve(data, "time", ("close", "Price"), label="Last (bar close)").opts(
                color="#0b5394", line_width=2, **style)

        def spread(data: pd.DataFrame) -> hv.Overlay:
            bid = hv.Curve(data, "time", ("bid", "Price"), label="Bid").opts(color="#38761d", line_width=1, alpha=0.6, **style)
            ask = hv.Curve(data, "time", ("ask", "Price"), label="Ask").opts(color="#cc0000", line_width=1, alpha=0.6, **style)
            return bid * ask

        chart = hv.DynamicMap(closes, streams=[self.bars]) * hv.DynamicMap(spread, streams=[self.quotes])
        return chart.opts(title=f"{label}: live prices", legend_position="right")

def quote_rows(instruments: Iterable[str], latest: dict[str, Event], first: dict[str, float]) -> pd.DataFrame:
    """Return one watchlist row per instrument: bid, ask, last, change since ``first`` (absolute and in percent).

    Parameters
    ----------
    instruments : iterable of str
        Rows, in order (instruments without a price yet show empty cells).
    latest : dict
        Instrument id -> its newest ``QuoteTick`` or ``Bar`` event.
    first : dict
        Instrument id -> the reference price the change is measured from.
    """
    rows = []
    for instrument_id in instruments:
        event = latest.get(instrument_id, {})
        bid, ask = event.get("bid"), event.get("ask")
        last = event.get("close", (bid + ask) / 2 if bid is not None and ask is not None else None)
        reference = first.get(instrument_id)
        change = last - reference if last is not None and reference else None
        rows.append({"instrument_id": instrument_id, "bid": bid, "ask": ask, "last": last, "change": change,
                     "change_percent": 100 * change / reference if change is not None else None,
                     "time": pd.Timestamp(int(event["ts_event"]), unit="ns", tz="UTC") if event else None})
    return pd.DataFrame(rows, columns=QUOTE_COLUMNS).round({"last": 4, "change": 4, "change_percent": 3})


def fill_rows(events: Iterable[Event]) -> pd.DataFrame:
    """Return one row per ``OrderFilled`` event, newest first."""
    rows = [{
        "time": pd.Timestamp(int(event["ts_event"]), unit="ns", tz="UTC"), "client_order_id": event["client_order_id"],
        "instrument_id": event["instrument_id"], "side": event["data"].get("order_side"),
        "quantity": float(event["data"].get("last_qty", 0)), "price": float(event["data"].get("last_px", 0)),
        "commission": event["data"].get("commission"), "currency": event["data"].get("currency"),
    } for event in events if event.get("kind") == "OrderFilled"]
    return pd.DataFrame(rows[::-1], columns=FILL_COLUMNS)


def _chart_rows(instrument_id: str | None, batch: list[Event]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Return the bar closes and the quotes of ``instrument_id`` in a batch as chart rows (None when there are none)."""
    bars = [e for e in batch if e.get("kind") == "Bar" and e.get("instrument_id") == instrument_id]
    quotes = [e for e in batch if e.get("kind") == "QuoteTick" and e.get("instrument_id") == instrument_id]
    return (
        pd.DataFrame({"time": _times(bars), "close": [e["close"] for e in bars]}) if bars else None,
        pd.DataFrame({"time": _times(quotes), "bid": [e["bid"] for e in quotes], "ask": [e["ask"] for e in quotes]})
        if quotes else None,
    )


def latest_price_events(batch: Iterable[Event]) -> dict[str, Event]:
    """Return the newest quote of each instrument in a batch (a bar when the instrument has no quote)."""
    latest: dict[str, Any] = {}
    for event in batch:
        kind = event.get("kind")
        if kind == "QuoteTick" or (kind == "Bar" and latest.get(event["instrument_id"], {}).get("kind") != "QuoteTick"):
            latest[event["instrument_id"]] = event
    return latest
