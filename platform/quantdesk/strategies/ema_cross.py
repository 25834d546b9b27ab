"""Exponential moving average crossover: long when the fast EMA is above the slow one."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.config import PositiveInt, StrategyConfig
from nautilus_trader.indicators import ExponentialMovingAverage
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy


class EMACrossConfig(StrategyConfig, frozen=True):
    """Parameters of :class:`EMACross`.

    Parameters
    ----------
    instrument_id : InstrumentId
        Instrument to trade.
    bar_type : BarType
        Bars that drive the averages.
    trade_size : Decimal
        Quantity of each entry, in the instrument's units (shares for equities).
    fast_period : int
        Bars in the fast EMA.
    slow_period : int
        Bars in the slow EMA; must exceed ``fast_period``.
    allow_short : bool
        Go short on a downward cross instead of only closing the long (needs a MARGIN account).
    close_positions_on_stop : bool
        Flatten at the last price when the strategy stops (the end of a backtest); when False,
        positions stay open and the result carries their unrealized P&L.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    trade_size: Decimal = Decimal(100)
    fast_period: PositiveInt = 10
    slow_period: PositiveInt = 20
    allow_short: bool = False
    close_positions_on_stop: bool = True

    def __post_init__(self) -> None:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period {self.fast_period} must be smaller than slow_period {self.slow_period}"
            )


class EMACross(Strategy):
    """Trade the crossings of a fast and a slow exponential moving average with market orders.

    An upward cross opens (or flips to) a long of ``trade_size``; a downward cross closes
    the long, and when ``allow_short`` is set, opens a short. Positions are closed on stop unless
    ``close_positions_on_stop`` is False.
    """

    def __init__(self, config: EMACrossConfig) -> None:
        super().__init__(config)
        self.fast = ExponentialMovingAverage(config.fast_period)
        self.slow = ExponentialMovingAverage(config.slow_period)
        self.instrument: Instrument | None = None
        self._fast_above: bool | None = None

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            self.log.error(f"No instrument {self.config.instrument_id} in the cache")
            self.stop()
            return
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if not self.indicators_initialized():
            return
        fast_above = self.fast.value > self.slow.value
        crossed = self._fast_above is not None and fast_above != self._fast_above
        self._fast_above = fast_above
        if not crossed:
            return
        net = self.portfolio.net_position(self.config.instrument_id)
        target = self.config.trade_size if fast_above else (-self.config.trade_size if self.config.allow_short else 0)
        self._trade(Decimal(target) - Decimal(net))

    def _trade(self, quantity: Decimal) -> None:
        if quantity == 0:
            return
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=OrderSide.BUY if quantity > 0 else OrderSide.SELL,
            quantity=self.instrument.make_qty(abs(quantity)),
            time_in_force=TimeInForce.GTC,
        )
        self.submit_order(order)

    def on_stop(self) -> None:
        self.cancel_all_orders(self.config.instrument_id)
        if self.config.close_positions_on_stop:
            self.close_all_positions(self.config.instrument_id)

    def on_reset(self) -> None:
        self.fast.reset()
        self.slow.reset()
        self._fast_above = None
