"""Put the platform's pre-trade checks in front of Nautilus's own risk engine, in live nodes and backtests alike.

Every order command in a Nautilus kernel, from any strategy, the order-entry form, the order
emulator or an execution algorithm, is sent to the message-bus endpoint ``RiskEngine.execute``.
:func:`install_gate` registers a :class:`RiskGate` at that endpoint instead, and the gate hands
each command on to the kernel's risk engine once the :class:`PreTradeChecker` accepts it. A
rejected order is denied through the risk engine's own ``OrderDenied`` path, so strategies,
the event bridge, the trade history and backtest results see the platform's reason
(the limit, the value and the threshold) exactly where they see Nautilus's own denials.

The gate keeps the checker's book current from the kernel's fill and account events; prices
come from the kernel's cache when an order is checked (the latest quote mid, else the last
trade or bar close), so quotes cost nothing on the way in.
"""

from __future__ import annotations

import datetime as dt
import math

from nautilus_trader.execution.messages import SubmitOrder, SubmitOrderList
from nautilus_trader.model.enums import OrderSide, PriceType, TradingState
from nautilus_trader.model.events import AccountState, OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Venue

from quantdesk.risk.checks import Order, PreTradeChecker

ENDPOINT = "RiskEngine.execute"
# Checks before an order has any price to be marked at are refused rather than waved through.
NO_PRICE = "no market price for {instrument} yet and the order has no limit price: the risk limits cannot be checked"


class RiskGate:
    """The message-bus endpoint that checks each new order against the platform's limits.

    Build it with :func:`install_gate`. ``decisions`` counts accepted, warned and rejected orders.

    Parameters
    ----------
    checker : PreTradeChecker
        The limits and the book they are measured on.
    kernel : nautilus_trader.system.kernel.NautilusKernel
        The kernel of a ``TradingNode`` or ``BacktestEngine``.
    """

    def __init__(self, checker: PreTradeChecker, kernel) -> None:
        self.checker = checker
        self.decisions = {"accept": 0, "warn": 0, "reject": 0}
        self._engine = kernel.risk_engine
        self._cache = kernel.cache
        self._clock = kernel.clock
        self._portfolio = kernel.portfolio
        self._day: dt.date | None = None
        self.breaker = None  # the risk monitor's CircuitBreaker, when one watches this book

    def execute(self, command) -> None:
        """Check a new order (or every order of a list); pass accepted commands on to Nautilus's risk engine."""
        if isinstance(command, SubmitOrder):
            reason = self._rejection(command.order)
            if reason is not None:
                self._engine._deny_order(command.order, reason)
                return
        elif isinstance(command, SubmitOrderList):
            for order in command.order_list.orders:
                reason = self._rejection(order)
                if reason is not None:
                    self._engine._deny_order_list(command.order_list, f"{order.client_order_id}: {reason}")
                    return
        self._engine.execute(command)

    def _rejection(self, order) -> str | None:
        """Return why ``order`` may not go, or None."""
        instrument_id = order.instrument_id
        limit_price = float(order.price) if order.has_price else None
        market = market_price(self._cache, instrument_id)
        if market is None:
            market = limit_price
        if market is None:
            self.decisions["reject"] += 1
            return NO_PRICE.format(instrument=instrument_id)
        now = self._clock.timestamp()
        self.roll_day(now)
        side = "BUY" if order.side == OrderSide.BUY else "SELL"
        if self.breaker is not None and self.breaker.tripped:
            held = self.checker.position(instrument_id.value)
            change = float(order.quantity) if side == "BUY" else -float(order.quantity)
            if abs(held + change) > abs(held) or held * (held + change) < 0:  # only closing orders go while halted
                self.decisions["reject"] += 1
                return (f"Trading is halted: the circuit breaker tripped on {self.breaker.reason}; "
                        "a risk officer must reset it")
        request = Order(instrument_id.value, order.strategy_id.value, side, float(order.quantity), market,
                        limit_price, now)
        decision = self.checker.check(request)
        self.decisions[decision.action] += 1
        return decision.reason if decision.action == "reject" else None

    def roll_day(self, now: float) -> None:
        """Start a new trading day on the checker when ``now`` (seconds, the kernel's clock) is in a new UTC day.

        Called before each check and each monitor cycle, so the daily loss counts from the
        first of them in a day (the simulated day in a backtest).
        """
        day = dt.datetime.fromtimestamp(now, dt.UTC).date()
        if day != self._day:
            if self._day is not None:
                self.checker.start_day()
            self._day = day

    def on_event(self, event) -> None:
        """Keep the checker's book current: positions from fills, equity from account states."""
        if isinstance(event, OrderFilled):
            self.checker.on_fill(
                event.instrument_id.value, event.strategy_id.value, "BUY" if event.order_side == OrderSide.BUY else "SELL",
                float(event.last_qty), float(event.last_px),
            )  # fmt: skip
        elif isinstance(event, AccountState):
            self.refresh_equity(event)

    def refresh_equity(self, state: AccountState | None = None) -> float:
        """Set the checker's equity to the account's balance plus what its positions are worth now; return it.

        A cash account paid for its positions, so their market value is added back; a margin
        account's balance holds realized P&L only, so the open positions' unrealized P&L is added.
        """
        if state is None:
            accounts = self._cache.accounts()
            if not accounts:
                return self.checker.equity
            account = accounts[0]
            balances, venue, is_cash = account.balances_total(), account.id.get_issuer(), account.is_cash_account
        else:
            balances = {balance.currency: balance.total for balance in state.balances}
            venue, is_cash = state.account_id.get_issuer(), state.account_type.name == "CASH"
        cash = sum(float(money) for money in balances.values())
        if is_cash:
            equity = cash + self.checker.net
        else:
            unrealized = self._portfolio.unrealized_pnls(Venue(venue)) or {}
            equity = cash + sum(float(money) for money in unrealized.values())
        if math.isfinite(equity):
            self.checker.set_equity(equity)
        return self.checker.equity


def market_price(cache, instrument_id: InstrumentId) -> float | None:
    """Return the latest quote mid, else the last trade or bar close, of ``instrument_id`` in a Nautilus cache."""
    for price_type in (PriceType.MID, PriceType.LAST):
        price = cache.price(instrument_id, price_type)
        if price is not None and float(price) > 0:
            return float(price)
    return None


def install_gate(kernel, checker: PreTradeChecker) -> RiskGate:
    """Register a :class:`RiskGate` at ``RiskEngine.execute`` of a built kernel and feed it the kernel's events.

    Call it after the node or engine is built and before it runs.

    Returns
    -------
    RiskGate
    """
    gate = RiskGate(checker, kernel)
    kernel.msgbus.deregister(ENDPOINT, kernel.risk_engine.execute)
    kernel.msgbus.register(ENDPOINT, gate.execute)
    kernel.msgbus.subscribe("events.order.*", gate.on_event)
    kernel.msgbus.subscribe("events.account.*", gate.on_event)
    return gate


class NautilusControls:
    """The monitor's escalation levers on a Nautilus kernel: its trading state, and closing every position."""

    def __init__(self, kernel) -> None:
        self._kernel = kernel

    def set_state(self, state: str) -> None:
        """Set Nautilus's trading state: ``active``, ``reducing`` (reduce-only) or ``halted`` (every order denied)."""
        self._kernel.risk_engine.set_trading_state(TradingState[state.upper()])

    def flatten(self) -> int:
        """Have each open position's strategy close it at the market; return how many closing orders were sent."""
        strategies = {strategy.id: strategy for strategy in self._kernel.trader.strategies()}
        sent = 0
        for position in self._kernel.cache.positions_open():
            strategy = strategies.get(position.strategy_id)
            if strategy is not None:
                strategy.close_position(position)
                sent += 1
        return sent

    def mark(self, checker: PreTradeChecker) -> None:
        """Mark every instrument the checker holds at the cache's latest price."""
        for instrument_id in checker.positions()["instrument_id"].unique():
            price = market_price(self._kernel.cache, InstrumentId.from_str(instrument_id))
            if price is not None:
                checker.on_price(instrument_id, price)
