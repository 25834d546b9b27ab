"""Pre-trade checks: every applicable limit, evaluated on the book as the order would leave it.

The checker keeps the book's aggregates (gross and net exposure of the book, of each sector
and of each strategy) up to date as fills and prices arrive, so an order changes one
instrument's term of each sum and a check costs O(1) per limit however many positions are
open. It knows nothing of Nautilus: plain strings and floats go in, a small frozen
:class:`Decision` comes out, so the same object serves the live node, backtests and the
order-entry form.

How each limit is measured (the scope picks the orders a limit applies to; for exposure,
position and leverage limits it also picks the slice of the book that is measured):

* ``order_quantity``, ``order_notional`` (quantity x limit price, else the market price) and
  ``price_collar`` (|limit - market| / market, limit orders only) measure the order alone.
* ``position``: absolute net quantity of the order's instrument after the order (the
  strategy's own position for a strategy scope).
* ``gross_exposure``, ``net_exposure``, ``leverage`` (gross / equity): over the whole book, the
  strategy's positions, the instrument, or the sector's instruments, after the order.
* ``concentration``: the order's instrument's (or its sector's, ``by: sector``) share of the
  whole book's gross exposure after the order.
* ``daily_loss``, ``drawdown``, ``var``, ``expected_shortfall``: the book as it is; above the
  level they block orders that grow the instrument's position and let reducing orders through.
* ``order_rate``: orders of the scope accepted in the sliding window, plus this one.

Exposure-type limits block an order only when it makes the measure worse, so an order that
reduces an over-limit book still passes. Positions are marked at the order's market price.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from quantdesk.config.risk import UNITS, LimitConfig
from quantdesk.errors import QuantDeskError
from quantdesk.risk.limits import LimitBook

if TYPE_CHECKING:
    from quantdesk.risk.audit import AuditRecord, AuditTrail

SIDES = ("BUY", "SELL")
# A value equal to a level is within it; this absorbs the rounding of incrementally kept sums.
RELATIVE_TOLERANCE = 1e-9
ACTIONS = ("accept", "warn", "reject")


@dataclass(frozen=True, slots=True)
class Order:
    """An order about to be sent, in plain values.

    Attributes
    ----------
    instrument_id, strategy_id : str
        Where it trades and who sends it (``OrderEntry-MANUAL`` for the order-entry form).
    side : {"BUY", "SELL"}
    quantity : float
        Positive quantity.
    market_price : float
        Current market price of the instrument (last, mid or the side's quote).
    limit_price : float, optional
        The order's limit price; None for a market order.
    timestamp : float, optional
        Seconds since the epoch (the simulated clock in a backtest); None: now.
    """

    instrument_id: str
    strategy_id: str
    side: str
    quantity: float
    market_price: float
    limit_price: float | None = None
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class Breach:
    """A limit level the order would cross.

    Attributes
    ----------
    limit_id, limit_type, scope : str
    target : str or None
        Strategy, instrument or sector of the scope.
    level : {"soft", "hard"}
    value : float
        What the order would cause (see the module notes for each type's measure).
    threshold : float
        The crossed level.
    """

    limit_id: str
    limit_type: str
    scope: str
    target: str | None
    level: str
    value: float
    threshold: float

    def describe(self) -> str:
        """Return one sentence naming the limit, the value and the threshold."""
        scope = self.scope if self.target is None else f"{self.scope} {self.target}"
        return (f"{self.level} limit {self.limit_id!r} ({self.limit_type}, {scope}): "
                f"value {readable_number(self.value)} > threshold {readable_number(self.threshold)} ({UNITS[self.limit_type]})")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a pre-trade check.

    Attributes
    ----------
    action : {"accept", "warn", "reject"}
        ``warn``: only soft levels crossed, the order may go; ``reject``: a hard level crossed.
    breaches : tuple of Breach
        Hard breaches first, then soft ones; empty when accepted.
    reason : str
        The breaches as readable sentences ("" when accepted).
    """

    action: str
    breaches: tuple[Breach, ...] = ()
    reason: str = ""

    @property
    def accepted(self) -> bool:
        """Return True when the order may be sent (accepted or warned)."""
        return self.action != "reject"


@dataclass(frozen=True, slots=True)
class BookSummary:
    """The checker's view of the book, for monitors and dashboards."""

    gross_exposure: float
    net_exposure: float
    leverage: float
    equity: float
    day_start_equity: float
    peak_equity: float
    value_at_risk: float
    expected_shortfall: float
    open_positions: int
    sector_gross: dict[str, float]
    sector_net: dict[str, float]
    strategy_gross: dict[str, float]


class _Effect:
    """The book before and after one order: computed once, read by every limit."""

    __slots__ = (
        "order", "quantity", "notional", "price", "position_before", "position_after", "strategy_position_before",
        "strategy_position_after", "exposure_before", "exposure_after", "gross_before", "gross_after", "net_before",
        "net_after", "sector_gross_before", "sector_gross_after", "sector_net_before", "sector_net_after",
        "strategy_gross_before", "strategy_gross_after", "strategy_net_before", "strategy_net_after", "increases",
        "timestamp", "checker",
    )  # fmt: skip


class _Compiled:
    """A limit ready to be evaluated: levels as floats, its measure as a function."""

    __slots__ = ("limit", "limit_id", "type", "scope", "target", "soft", "hard", "soft_tolerance", "hard_tolerance",
                 "lowest", "measure", "window", "factor", "by_sector", "minimum_gross", "times")  # fmt: skip

    def __init__(self, limit: LimitConfig, times: deque[float] | None) -> None:
        self.limit = limit
        self.limit_id, self.type, self.scope, self.target = limit.limit_id, limit.type, limit.scope, limit.target
        self.soft = math.inf if limit.soft is None else float(limit.soft)
        self.hard = math.inf if limit.hard is None else float(limit.hard)
        self.soft_tolerance = RELATIVE_TOLERANCE * max(1.0, abs(self.soft)) if limit.soft is not None else 0.0
        self.hard_tolerance = RELATIVE_TOLERANCE * max(1.0, abs(self.hard)) if limit.hard is not None else 0.0
        self.lowest = min(self.soft + self.soft_tolerance, self.hard + self.hard_tolerance)
        self.measure = MEASURES[limit.type]
        self.window = 1.0 if limit.window_seconds is None else float(limit.window_seconds)
        self.factor = 100.0 if limit.unit == "percent" else 10_000.0
        self.by_sector = limit.by == "sector"
        self.minimum_gross = 0.0 if limit.minimum_gross is None else float(limit.minimum_gross)
        self.times = times if times is not None else deque()


class PreTradeChecker:
    """Check orders against the active limits of a :class:`LimitBook`, keeping the book's state incrementally.

    Parameters
    ----------
    book : LimitBook
        The limits; an edit or reload of the book is picked up by the next check.
    equity : float
        Current account equity (leverage, daily loss and drawdown use it).
    day_start_equity, peak_equity : float, optional
        Equity when the trading day started and its running peak (default ``equity``).
    audit : AuditTrail, optional
        Where :meth:`flush_audit` writes the breaches and rejections checks collected.

    Attributes
    ----------
    equity, day_start_equity, peak_equity : float
        Set through :meth:`set_equity` and :meth:`start_day`.
    value_at_risk, expected_shortfall : float
        The book's latest, set through :meth:`set_risk` (0 until then).
    gross, net : float
        The book's gross and net exposure, kept current by :meth:`on_fill` and :meth:`on_price`.

    Notes
    -----
    Not thread-safe: call every method from one thread (the node's event loop), or hold a lock.
    The sums drift by rounding over millions of updates; :meth:`resync` (e.g. each monitor
    cycle) recounts them.

    Examples
    --------
    >>> checker = PreTradeChecker(book, equity=1_000_000)  # doctest: +SKIP
    >>> checker.on_fill("AAPL.XNAS", "EMACross-000", "BUY", 100, 190.0)  # doctest: +SKIP
    >>> decision = checker.check(Order("AAPL.XNAS", "EMACross-000", "BUY", 50, 191.0))  # doctest: +SKIP
    >>> decision.action, decision.reason  # doctest: +SKIP
    """

    def __init__(self, book: LimitBook, equity: float, day_start_equity: float | None = None,
                 peak_equity: float | None = None, audit: AuditTrail | None = None) -> None:
        self.book = book
        self.audit = audit
        self.equity = float(equity)
        self.day_start_equity = self.equity if day_start_equity is None else float(day_start_equity)
        self.peak_equity = max(self.equity, self.day_start_equity if peak_equity is None else float(peak_equity))
        self.value_at_risk = 0.0
        self.expected_shortfall = 0.0
        self._prices: dict[str, float] = {}
        self._positions: dict[str, float] = {}
        self._exposures: dict[str, float] = {}
        self._strategy_positions: dict[tuple[str, str], float] = {}
        self._holders: dict[str, set[str]] = {}
        self.gross = 0.0
        self.net = 0.0
        self._sector_gross: dict[str, float] = {}
        self._sector_net: dict[str, float] = {}
        self._strategy_gross: dict[str, float] = {}
        self._strategy_net: dict[str, float] = {}
        self._pending: list[AuditRecord] = []
        self._compiled: list[_Compiled] = []
        self._scratch = _Effect()
        self._scratch.checker = self
        self._version = -1
        self._compile()

    # --- state ---------------------------------------------------------------------------

    def load_positions(self, positions: Iterable[tuple[str, str, float, float]]) -> None:
        """Replace the book with ``(instrument_id, strategy_id, signed quantity, price)`` rows.

        Rows of one instrument and strategy add up; ``frame[[...]].itertuples(index=False)`` fits.
        """
        self._prices.clear()
        self._positions.clear()
        self._strategy_positions.clear()
        self._holders.clear()
        for instrument_id, strategy_id, quantity, price in positions:
            price = _positive(price, f"price of {instrument_id}")
            self._prices[instrument_id] = price
            key = (strategy_id, instrument_id)
            self._strategy_positions[key] = self._strategy_positions.get(key, 0.0) + float(quantity)
            self._positions[instrument_id] = self._positions.get(instrument_id, 0.0) + float(quantity)
        for (strategy_id, instrument_id), quantity in list(self._strategy_positions.items()):
            if quantity == 0:
                del self._strategy_positions[(strategy_id, instrument_id)]
            else:
                self._holders.setdefault(instrument_id, set()).add(strategy_id)
        for instrument_id in [i for i, quantity in self._positions.items() if quantity == 0]:
            del self._positions[instrument_id]
        self.resync()

    def on_price(self, instrument_id: str, price: float) -> None:
        """Mark ``instrument_id`` at ``price``: its exposure and every sum holding it move by the difference."""
        price = _positive(price, f"price of {instrument_id}")
        old = self._prices.get(instrument_id)
        self._prices[instrument_id] = price
        if old is None or old == price:
            return
        quantity = self._positions.get(instrument_id)
        if quantity is not None:
            self._shift(instrument_id, self._sectors.get(instrument_id), self._exposures[instrument_id], quantity * price)
        # Strategies may hold offsetting positions in an instrument the book holds flat.
        for strategy_id in self._holders.get(instrument_id, ()):
            held = self._strategy_positions[(strategy_id, instrument_id)]
            self._shift_strategy(strategy_id, held * old, held * price)

    def on_fill(self, instrument_id: str, strategy_id: str, side: str, quantity: float, price: float) -> None:
        """Apply a fill: the instrument is marked at the fill price, then the positions move."""
        signed = _signed(side, quantity)
        self.on_price(instrument_id, price)
        price = self._prices[instrument_id]
        held = self._positions.get(instrument_id, 0.0)
        after = _flat_if_tiny(held + signed, held, signed)
        exposure_before = self._exposures.get(instrument_id, 0.0)
        self._shift(instrument_id, self._sectors.get(instrument_id), exposure_before, after * price)
        if after == 0:
            self._positions.pop(instrument_id, None)
            self._exposures.pop(instrument_id, None)
        else:
            self._positions[instrument_id] = after
        key = (strategy_id, instrument_id)
        own = self._strategy_positions.get(key, 0.0)
        own_after = _flat_if_tiny(own + signed, own, signed)
        self._shift_strategy(strategy_id, own * price, own_after * price)
        if own_after == 0:
            self._strategy_positions.pop(key, None)
            self._holders.get(instrument_id, set()).discard(strategy_id)
        else:
            self._strategy_positions[key] = own_after
            self._holders.setdefault(instrument_id, set()).add(strategy_id)

    def set_equity(self, equity: float) -> None:
        """Set the account equity; the peak follows it up."""
        self.equity = float(equity)
        self.peak_equity = max(self.peak_equity, self.equity)

    def start_day(self, equity: float | None = None) -> None:
        """Start a trading day: the daily loss counts from ``equity`` (default the current equity)."""
        if equity is not None:
            self.set_equity(equity)
        self.day_start_equity = self.equity

    def set_risk(self, value_at_risk: float | None = None, expected_shortfall: float | None = None) -> None:
        """Set the book's latest VaR and/or expected shortfall (positive amounts of money)."""
        if value_at_risk is not None:
            self.value_at_risk = float(value_at_risk)
        if expected_shortfall is not None:
            self.expected_shortfall = float(expected_shortfall)

    def resync(self) -> None:
        """Recompute every sum from the positions and prices (drops rounding that incremental updates gathered)."""
        self._exposures = {i: q * self._prices[i] for i, q in self._positions.items()}
        self.gross = sum(abs(e) for e in self._exposures.values())
        self.net = sum(self._exposures.values())
        self._sector_gross, self._sector_net = {}, {}
        for instrument_id, exposure in self._exposures.items():
            sector = self._sectors.get(instrument_id)
            if sector is not None:
                self._sector_gross[sector] = self._sector_gross.get(sector, 0.0) + abs(exposure)
                self._sector_net[sector] = self._sector_net.get(sector, 0.0) + exposure
        self._strategy_gross, self._strategy_net = {}, {}
        for (strategy_id, instrument_id), quantity in self._strategy_positions.items():
            exposure = quantity * self._prices[instrument_id]
            self._strategy_gross[strategy_id] = self._strategy_gross.get(strategy_id, 0.0) + abs(exposure)
            self._strategy_net[strategy_id] = self._strategy_net.get(strategy_id, 0.0) + exposure

    def summary(self) -> BookSummary:
        """Return the book's exposures, equity and risk as the checker sees them."""
        return BookSummary(
            self.gross, self.net, _ratio(self.gross, self.equity), self.equity, self.day_start_equity,
            self.peak_equity, self.value_at_risk, self.expected_shortfall, len(self._positions),
            dict(self._sector_gross), dict(self._sector_net), dict(self._strategy_gross),
        )  # fmt: skip

    def position(self, instrument_id: str) -> float:
        """Return the book's net quantity of ``instrument_id`` (0 when flat)."""
        return self._positions.get(instrument_id, 0.0)

    def positions(self) -> pd.DataFrame:
        """Return one row per open position: instrument, strategy, quantity, price, exposure, sector."""
        rows = [
            (instrument_id, strategy_id, quantity, self._prices[instrument_id],
             quantity * self._prices[instrument_id], self._sectors.get(instrument_id))
            for (strategy_id, instrument_id), quantity in self._strategy_positions.items()
        ]  # fmt: skip
        columns = ["instrument_id", "strategy_id", "quantity", "price", "exposure", "sector"]
        return pd.DataFrame(rows, columns=columns)

    # --- checks --------------------------------------------------------------------------

    def check(self, order: Order) -> Decision:
        """Evaluate every limit that applies to ``order`` and decide.

        An order that is not rejected counts toward the order-rate windows from its timestamp;
        its breaches (and a rejection's) are queued for the audit trail (:meth:`flush_audit`).

        Raises
        ------
        QuantDeskError
            When the order's side, quantity or prices are not usable.
        """
        if self._version != self.book.version:
            self._compile()
        instrument_id, strategy_id = order.instrument_id, order.strategy_id
        by_instrument = self._applicable.get(strategy_id)
        if by_instrument is None:
            by_instrument = self._applicable[strategy_id] = {}
        applicable = by_instrument.get(instrument_id)
        if applicable is None:
            applicable = by_instrument[instrument_id] = self._select(strategy_id, instrument_id)
        effect = self._effect(order)
        # The common path allocates nothing: breaches are sorted out only when a level is crossed.
        crossed = None
        for compiled in applicable[0]:
            value = compiled.measure(compiled, effect)
            if value > compiled.lowest:
                if crossed is None:
                    crossed = []
                crossed.append((compiled, value))
        if crossed is None:
            for compiled in applicable[1]:
                compiled.times.append(effect.timestamp)
            return ACCEPTED
        hard = [_breach(c, "hard", v, c.hard) for c, v in crossed if v > c.hard + c.hard_tolerance]
        soft = [_breach(c, "soft", v, c.soft) for c, v in crossed if v <= c.hard + c.hard_tolerance]
        if not hard:
            for compiled in applicable[1]:
                compiled.times.append(effect.timestamp)
        breaches = (*hard, *soft)
        decision = Decision("reject" if hard else "warn", breaches, "; ".join(b.describe() for b in breaches))
        if self.audit is not None:
            self._queue(order, decision, effect.timestamp)
        return decision

    def flush_audit(self) -> int:
        """Write the breaches and rejections queued by checks to the audit trail; return how many.

        Call it off the order path (a timer, the monitor's cycle): the write takes milliseconds.
        """
        pending, self._pending = self._pending, []
        if self.audit is None or not pending:
            return 0
        return self.audit.append(pending)

    # --- internals -----------------------------------------------------------------------

    def _compile(self) -> None:
        """Take the book's active limits and sector map (one snapshot) and index the limits by scope."""
        version = self.book.version
        config = self.book.config
        previous = {c.limit_id: c.times for c in self._compiled}
        self._compiled = [_Compiled(limit, previous.get(limit.limit_id)) for limit in config.limits]
        self._sectors = dict(config.instrument_sectors)
        self._by_scope: dict[tuple[str, str | None], list[_Compiled]] = {}
        for compiled in self._compiled:
            self._by_scope.setdefault((compiled.scope, compiled.target), []).append(compiled)
        # strategy -> instrument -> (limits that apply, the order-rate ones among them)
        self._applicable: dict[str, dict[str, tuple[tuple[_Compiled, ...], tuple[_Compiled, ...]]]] = {}
        self._version = version
        self.resync()  # sector sums follow the (possibly new) sector map

    def _select(self, strategy_id: str, instrument_id: str) -> tuple[tuple[_Compiled, ...], tuple[_Compiled, ...]]:
        sector = self._sectors.get(instrument_id)
        found = [
            *self._by_scope.get(("global", None), ()),
            *self._by_scope.get(("strategy", strategy_id), ()),
            *self._by_scope.get(("instrument", instrument_id), ()),
            *(self._by_scope.get(("sector", sector), ()) if sector is not None else ()),
        ]
        return tuple(found), tuple(c for c in found if c.type == "order_rate")

    def _effect(self, order: Order) -> _Effect:
        signed = _signed(order.side, order.quantity)
        price = _positive(order.market_price, f"market price of {order.instrument_id}")
        instrument_id, strategy_id = order.instrument_id, order.strategy_id
        # One scratch object reused by every check: no allocation for the collector to chase.
        effect = self._scratch
        effect.order = order
        effect.quantity = abs(signed)
        effect.price = price
        limit_price = order.limit_price
        effect.notional = effect.quantity * (price if limit_price is None else limit_price)
        effect.timestamp = time.time() if order.timestamp is None else order.timestamp
        held = self._positions.get(instrument_id, 0.0)
        effect.position_before, effect.position_after = held, held + signed
        effect.increases = abs(held + signed) > abs(held)
        before = self._exposures.get(instrument_id, 0.0)
        after = (held + signed) * price
        effect.exposure_before, effect.exposure_after = before, after
        gross_change, net_change = abs(after) - abs(before), after - before
        effect.gross_before, effect.gross_after = self.gross, self.gross + gross_change
        effect.net_before, effect.net_after = self.net, self.net + net_change
        sector = self._sectors.get(instrument_id)
        if sector is None:
            # An instrument outside the sector map is its own slice for sector measures.
            effect.sector_gross_before, effect.sector_gross_after = abs(before), abs(after)
            effect.sector_net_before, effect.sector_net_after = before, after
        else:
            sector_gross, sector_net = self._sector_gross.get(sector, 0.0), self._sector_net.get(sector, 0.0)
            effect.sector_gross_before, effect.sector_gross_after = sector_gross, sector_gross + gross_change
            effect.sector_net_before, effect.sector_net_after = sector_net, sector_net + net_change
        own = self._strategy_positions.get((strategy_id, instrument_id), 0.0)
        effect.strategy_position_before, effect.strategy_position_after = own, own + signed
        own_before = own * self._prices.get(instrument_id, price)
        own_after = (own + signed) * price
        # Other strategies' holdings of the instrument move with the new price too.
        strategy_gross = self._strategy_gross.get(strategy_id, 0.0)
        strategy_net = self._strategy_net.get(strategy_id, 0.0)
        effect.strategy_gross_before = strategy_gross
        effect.strategy_gross_after = strategy_gross + abs(own_after) - abs(own_before)
        effect.strategy_net_before, effect.strategy_net_after = strategy_net, strategy_net + own_after - own_before
        return effect

    def _shift(self, instrument_id: str, sector: str | None, before: float, after: float) -> None:
        self._exposures[instrument_id] = after
        self.gross += abs(after) - abs(before)
        self.net += after - before
        if sector is not None:
            self._sector_gross[sector] = self._sector_gross.get(sector, 0.0) + abs(after) - abs(before)
            self._sector_net[sector] = self._sector_net.get(sector, 0.0) + after - before

    def _shift_strategy(self, strategy_id: str, before: float, after: float) -> None:
        self._strategy_gross[strategy_id] = self._strategy_gross.get(strategy_id, 0.0) + abs(after) - abs(before)
        self._strategy_net[strategy_id] = self._strategy_net.get(strategy_id, 0.0) + after - before

    def _queue(self, order: Order, decision: Decision, timestamp: float) -> None:
        from quantdesk.risk.audit import AuditRecord

        facts = {"instrument_id": order.instrument_id, "side": order.side, "quantity": order.quantity,
                 "market_price": order.market_price, "limit_price": order.limit_price}  # fmt: skip
        stamp = int(timestamp * 1e9)
        for breach in decision.breaches:
            kind = "rejection" if breach.level == "hard" else "breach"
            details = {"level": breach.level, "type": breach.limit_type, "scope": breach.scope,
                       "target": breach.target, "value": _plain(breach.value), "threshold": breach.threshold,
                       "reason": breach.describe(), "order": facts}  # fmt: skip
            self._pending.append(AuditRecord(kind, order.strategy_id, breach.limit_id, details, stamp))


ACCEPTED = Decision("accept")


def _breach(compiled: _Compiled, level: str, value: float, threshold: float) -> Breach:
    return Breach(compiled.limit_id, compiled.type, compiled.scope, compiled.target, level, value, threshold)


# --- measures: the value after the order, or NOT_WORSE when the order does not make it worse ---
# (a float, not a tuple: no allocation per limit and check)

NOT_WORSE = -math.inf


def _order_quantity(limit: _Compiled, effect: _Effect) -> float:
    return effect.quantity


def _order_notional(limit: _Compiled, effect: _Effect) -> float:
    return effect.notional


def _price_collar(limit: _Compiled, effect: _Effect) -> float:
    limit_price = effect.order.limit_price
    if limit_price is None:
        return NOT_WORSE
    return abs(limit_price - effect.price) / effect.price * limit.factor


def _position(limit: _Compiled, effect: _Effect) -> float:
    if limit.scope == "strategy":
        before, after = abs(effect.strategy_position_before), abs(effect.strategy_position_after)
    else:
        before, after = abs(effect.position_before), abs(effect.position_after)
    return after if after > before else NOT_WORSE


def _gross_exposure(limit: _Compiled, effect: _Effect) -> float:
    scope = limit.scope
    if scope == "global":
        before, after = effect.gross_before, effect.gross_after
    elif scope == "strategy":
        before, after = effect.strategy_gross_before, effect.strategy_gross_after
    elif scope == "instrument":
        before, after = abs(effect.exposure_before), abs(effect.exposure_after)
    else:
        before, after = effect.sector_gross_before, effect.sector_gross_after
    return after if after > before else NOT_WORSE


def _net_exposure(limit: _Compiled, effect: _Effect) -> float:
    scope = limit.scope
    if scope == "global":
        before, after = effect.net_before, effect.net_after
    elif scope == "strategy":
        before, after = effect.strategy_net_before, effect.strategy_net_after
    elif scope == "instrument":
        before, after = effect.exposure_before, effect.exposure_after
    else:
        before, after = effect.sector_net_before, effect.sector_net_after
    return abs(after) if abs(after) > abs(before) else NOT_WORSE


def _leverage(limit: _Compiled, effect: _Effect) -> float:
    gross = _gross_exposure(limit, effect)
    return NOT_WORSE if gross == NOT_WORSE else _ratio(gross, effect.checker.equity)


def _concentration(limit: _Compiled, effect: _Effect) -> float:
    if effect.gross_after <= limit.minimum_gross:
        return NOT_WORSE
    if limit.by_sector:
        before, after = effect.sector_gross_before, effect.sector_gross_after
    else:
        before, after = abs(effect.exposure_before), abs(effect.exposure_after)
    share_after = after / effect.gross_after
    share_before = before / effect.gross_before if effect.gross_before > 0 else 0.0
    return share_after if share_after > share_before else NOT_WORSE


def _daily_loss(limit: _Compiled, effect: _Effect) -> float:
    checker = effect.checker
    return checker.day_start_equity - checker.equity if effect.increases else NOT_WORSE


def _drawdown(limit: _Compiled, effect: _Effect) -> float:
    checker = effect.checker
    peak = checker.peak_equity
    if not effect.increases:
        return NOT_WORSE
    return (peak - checker.equity) / peak if peak > 0 else 0.0


def _value_at_risk(limit: _Compiled, effect: _Effect) -> float:
    return effect.checker.value_at_risk if effect.increases else NOT_WORSE


def _expected_shortfall(limit: _Compiled, effect: _Effect) -> float:
    return effect.checker.expected_shortfall if effect.increases else NOT_WORSE


def _order_rate(limit: _Compiled, effect: _Effect) -> float:
    times, start = limit.times, effect.timestamp - limit.window
    while times and times[0] <= start:
        times.popleft()
    return float(len(times) + 1)


MEASURES: dict[str, Callable[[_Compiled, _Effect], float]] = {
    "order_quantity": _order_quantity,
    "order_notional": _order_notional,
    "position": _position,
    "gross_exposure": _gross_exposure,
    "net_exposure": _net_exposure,
    "concentration": _concentration,
    "leverage": _leverage,
    "daily_loss": _daily_loss,
    "drawdown": _drawdown,
    "var": _value_at_risk,
    "expected_shortfall": _expected_shortfall,
    "order_rate": _order_rate,
    "price_collar": _price_collar,
}


def _signed(side: str, quantity: float) -> float:
    if side == "BUY":
        sign = 1.0
    elif side == "SELL":
        sign = -1.0
    else:
        raise QuantDeskError(f"Order side {side!r} is unknown: use 'BUY' or 'SELL'")
    if not (quantity > 0 and math.isfinite(quantity)):
        raise QuantDeskError(f"Order quantity {quantity!r} must be a positive finite number")
    return sign * quantity


def _positive(price: float, what: str) -> float:
    if not (price > 0 and math.isfinite(price)):
        raise QuantDeskError(f"The {what} is {price!r}: give a positive finite price")
    return float(price)


def _flat_if_tiny(after: float, before: float, change: float) -> float:
    # Float sums of lot sizes (0.1 + 0.2 - 0.3) must still land on flat.
    return 0.0 if abs(after) <= 1e-9 * max(abs(before), abs(change)) else after


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return math.inf if numerator > 0 else 0.0


def readable_number(value: float) -> str:
    """Return ``value`` with thousands separators and up to ten significant digits (50,302.26; 0.05)."""
    return format(value, ",.10g") if math.isfinite(value) else str(value)


def _plain(value: float) -> float | str:
    """Return ``value`` fit for JSON (infinite leverage on zero equity becomes a string)."""
    return value if math.isfinite(value) else str(value)
