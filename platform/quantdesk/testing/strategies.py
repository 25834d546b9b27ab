"""Strategies whose results are known in advance, for testing the machinery around backtests."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy


class HoldOneYearConfig(StrategyConfig, frozen=True):
    """Parameters of :class:`HoldOneYear`.

    Parameters
    ----------
    instrument_id : InstrumentId
    bar_type : BarType
    year : int
        The calendar year to hold; outside the backtest's period the strategy never trades.
    trade_size : Decimal
        Shares bought.
    fail_after_bars : int, optional
        Raise an exception on this bar: a strategy that breaks mid-run.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    year: int
    trade_size: Decimal = Decimal(100)
    fail_after_bars: int | None = None


class HoldOneYear(Strategy):
    """Buy at the close of the year's first bar; sell at the first bar of a later year or when stopped.

    Its P&L is ``trade_size x (exit close - entry close)`` less commissions, which a test can
    compute from the bars alone, so the best ``year`` of any period is known in advance.
    """

    def __init__(self, config: HoldOneYearConfig) -> None:
        super().__init__(config)
        self._bars = 0
        self._bought = False

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self._bars += 1
        if self.config.fail_after_bars is not None and self._bars >= self.config.fail_after_bars:
            raise RuntimeError(f"HoldOneYear was told to fail after {self.config.fail_after_bars} bars")
        year = self.clock.utc_now().year
        if year == self.config.year and not self._bought:
            self._bought = True
            self._submit(OrderSide.BUY)
        elif year > self.config.year and self.portfolio.is_net_long(self.config.instrument_id):
            self._submit(OrderSide.SELL)

    def _submit(self, side: OrderSide) -> None:
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(self.config.trade_size),
            time_in_force=TimeInForce.GTC,
        )
        self.submit_order(order)

    def on_stop(self) -> None:
        self.close_all_positions(self.config.instrument_id)


class BarRecorderConfig(StrategyConfig, frozen=True):
    """Parameters of :class:`BarRecorder`: the bar type to subscribe to."""

    bar_type: BarType


class BarRecorder(Strategy):
    """Record the close and the order of every bar received, to check what a live feed delivers."""

    def __init__(self, config: BarRecorderConfig) -> None:
        super().__init__(config)
        self.closes: list[float] = []

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self.closes.append(bar.close.as_double())
