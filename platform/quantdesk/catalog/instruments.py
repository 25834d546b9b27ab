"""Nautilus instrument definitions for the listings the platform ships data for."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.currencies import USD
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import Equity, IndexInstrument, Instrument
from nautilus_trader.model.objects import Price, Quantity


def us_equity(symbol: str, venue: str) -> Equity:
    """Return a US cash equity quoted in cents and traded in single shares.

    Parameters
    ----------
    symbol : str
        Ticker, e.g. ``"AAPL"``.
    venue : str
        ISO 10383 MIC of the primary listing, e.g. ``"XNAS"`` or ``"XNYS"``.
    """
    return Equity(
        instrument_id=InstrumentId.from_str(f"{symbol}.{venue}"),
        raw_symbol=Symbol(symbol),
        currency=USD,
        price_precision=2,
        price_increment=Price.from_str("0.01"),
        lot_size=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
        # A flat 1 bp taker fee stands in for commissions and fees of a US broker.
        maker_fee=Decimal("0.0001"),
        taker_fee=Decimal("0.0001"),
    )


def us_index(symbol: str) -> IndexInstrument:
    """Return a US dollar index level (not tradeable) on the ``INDEX`` venue."""
    return IndexInstrument(
        instrument_id=InstrumentId.from_str(f"{symbol}.INDEX"),
        raw_symbol=Symbol(symbol),
        currency=USD,
        price_precision=2,
        size_precision=0,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
    )


def is_tradeable(instrument: Instrument) -> bool:
    """Return whether orders can be placed on the instrument (an index level cannot)."""
    return not isinstance(instrument, IndexInstrument)
