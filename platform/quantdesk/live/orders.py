"""Manual order entry: requests checked here, then submitted by a strategy inside the node, through its risk engine.

Nautilus orders belong to a strategy, so the node runs :class:`OrderEntry`, a strategy that
trades nothing by itself and submits what a trader (the Live dashboard, a notebook) asks.
Input a trader can get wrong is refused here, before anything reaches the node, with a
message naming the bad value; what passes still goes through the node's risk engine, which
may deny it (``OrderDenied`` with the reason) just as it would a strategy's order.
"""

from __future__ import annotations

import math
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.trading.strategy import Strategy

from quantdesk.errors import QuantDeskError

ORDER_TYPES = ("MARKET", "LIMIT")
SIDES = ("BUY", "SELL")
TIMES_IN_FORCE = ("GTC", "DAY", "IOC", "FOK")
ORDER_ENTRY_TAG = "MANUAL"


@dataclass(frozen=True)
class OrderRequest:
    """One order a trader asks for, checked against the instrument by :meth:`checked`.

    Attributes
    ----------
    instrument_id : str
        e.g. ``AAPL.XNAS``.
    side : str
        ``BUY`` or ``SELL``.
    quantity : float
        Positive, a multiple of the instrument's size increment (whole shares for equities).
    order_type : str
        ``MARKET`` or ``LIMIT``.
    price : float, optional
        The limit price (LIMIT only), on the instrument's price grid.
    time_in_force : str
        ``GTC``, ``DAY``, ``IOC`` or ``FOK``.
    """

    instrument_id: str
    side: str
    quantity: float
    order_type: str = "MARKET"
    price: float | None = None
    time_in_force: str = "GTC"

    def checked(self, instruments: dict[str, Instrument]) -> tuple[Instrument, Quantity, Price | None]:
        """Return the instrument, quantity and price as Nautilus objects, or raise on bad input.

        Raises
        ------
        QuantDeskError
            Naming the bad value and what to do; nothing has been sent.
        """
        instrument = instruments.get(str(self.instrument_id).strip())
        if instrument is None:
            known = ", ".join(sorted(instruments)) or "none"
            raise QuantDeskError(f"Unknown instrument {self.instrument_id!r}: this node trades {known}")
        side, order_type, tif = (str(v).upper() for v in (self.side, self.order_type, self.time_in_force))
        if side not in SIDES:
            raise QuantDeskError(f"Unknown side {self.side!r}: use BUY or SELL")
        if order_type not in ORDER_TYPES:
            raise QuantDeskError(f"Unknown order type {self.order_type!r}: use MARKET or LIMIT")
        if tif not in TIMES_IN_FORCE:
            raise QuantDeskError(f"Unknown time in force {self.time_in_force!r}: use one of {', '.join(TIMES_IN_FORCE)}")
        quantity = _on_grid(self.quantity, instrument.size_increment.as_decimal(), "quantity", instrument)
        if quantity <= 0:
            raise QuantDeskError(f"Quantity {self.quantity!r} must be positive: give the number of units to trade")
        price = None
        if order_type == "LIMIT":
            if self.price is None:
                raise QuantDeskError(f"A limit order needs a price: give the limit price for {instrument.id}")
            price_value = _on_grid(self.price, instrument.price_increment.as_decimal(), "price", instrument)
            if price_value <= 0:
                raise QuantDeskError(f"Limit price {self.price!r} must be positive")
            price = Price(price_value, instrument.price_precision)
        elif self.price is not None:
            raise QuantDeskError(f"A market order takes no price (got {self.price!r}): leave it empty or use LIMIT")
        return instrument, Quantity(quantity, instrument.size_precision), price


def _on_grid(value: object, increment: Decimal, name: str, instrument: Instrument) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise QuantDeskError(f"{name.capitalize()} {value!r} is not a number") from None
    if not number.is_finite() or (isinstance(value, float) and not math.isfinite(value)):
        raise QuantDeskError(f"{name.capitalize()} {value!r} is not a finite number")
    if number % increment != 0:
        raise QuantDeskError(
            f"{name.capitalize()} {value} is not a multiple of {instrument.id}'s increment {increment}: "
            f"round it to a multiple of {increment}"
        )
    return number


class OrderEntryConfig(StrategyConfig, frozen=True):
    """Config of :class:`OrderEntry` (no parameters: it trades only what it is asked)."""

    order_id_tag: str = ORDER_ENTRY_TAG


class OrderEntry(Strategy):
    """The strategy that owns manually entered orders. Call its methods on the node's event loop only."""

    def __init__(self, config: OrderEntryConfig | None = None) -> None:
        super().__init__(config or OrderEntryConfig())

    def on_start(self) -> None:
        # Quotes keep the cache's market current for price collars and notional checks.
        for instrument in self.cache.instruments():
            self.subscribe_quote_ticks(instrument.id)

    def submit(self, instrument: Instrument, side: str, quantity: Quantity, price: Price | None, tif: str,
               result: Future) -> None:
        """Create and submit one order; ``result`` receives its client order id."""
        try:
            order_side = OrderSide.BUY if side.upper() == "BUY" else OrderSide.SELL
            time_in_force = TimeInForce[tif.upper()]
            if price is None:
                order = self.order_factory.market(instrument.id, order_side, quantity, time_in_force=time_in_force)
            else:
                order = self.order_factory.limit(instrument.id, order_side, quantity, price, time_in_force=time_in_force)
            self.submit_order(order)
            result.set_result(str(order.client_order_id))
        except Exception as error:  # reported to the caller's thread, not swallowed by the loop
            result.set_exception(error)

    def cancel(self, client_order_id: str, result: Future) -> None:
        """Cancel one working order; ``result`` receives True, or an error when it is not working."""
        try:
            order = self.cache.order(ClientOrderId(client_order_id))
            if order is None:
                raise QuantDeskError(f"Unknown order {client_order_id!r}: no order with this id on this node")
            if not order.is_open:
                raise QuantDeskError(f"Order {client_order_id} is {order.status_string()}: only working orders can be cancelled")
            self.cancel_order(order)
            result.set_result(True)
        except Exception as error:
            result.set_exception(error)

    def on_stop(self) -> None:
        # Working manual orders stay working at a real venue; in a paper session they die with the node.
        pass

