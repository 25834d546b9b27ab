"""The risk monitor: each cycle measures the whole book against every limit, raises alerts and escalates.

A cycle (every 5 seconds in a live node) marks the book, recomputes exposures, equity, the
day's P&L, drawdown and VaR/ES, and each limit's utilization (its value over its hard level).
Limits that measure a single order (quantity, notional, price collar, order rate) are checked
before each order by :class:`~quantdesk.risk.checks.PreTradeChecker` and have no book value.

Escalation, from mild to severe:

1. **warn**: a soft level is crossed. An alert names the limit, the value and the level.
2. **block**: a hard level of an exposure-type limit is crossed. New orders that add risk are
   blocked (Nautilus's trading state ``REDUCING``); orders that reduce it still go. Trading
   resumes on its own once no hard level is crossed.
3. **halt**: a hard level of a loss-type limit (:attr:`EscalationPolicy.halt_types`: daily
   loss, drawdown, VaR, expected shortfall by default) is crossed. The circuit breaker trips:
   the book is flattened (reducing orders only), then trading is ``HALTED``. Only
   :meth:`CircuitBreaker.reset` by an authorized person, audited, lets trading start again.

Every escalation and reset is written to the audit trail; alerts are not repeated while a
limit stays at the same level.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from quantdesk.config.risk import BOOK_TYPES, LimitConfig
from quantdesk.errors import QuantDeskError
from quantdesk.risk.audit import AuditRecord
from quantdesk.risk.checks import PreTradeChecker, readable_number

if TYPE_CHECKING:
    from quantdesk.risk.audit import AuditTrail
    from quantdesk.risk.forecast import RiskForecaster
    from quantdesk.risk.measures import ScenarioMatrix

STATES = ("active", "reducing", "halted")
# Limits that measure one order: the pre-trade checker's job, not the monitor's.
ORDER_TYPES = frozenset({"order_quantity", "order_notional", "price_collar", "order_rate"})


class TradingControls(Protocol):
    """What the monitor needs from a trading system to escalate (a Nautilus kernel in practice)."""

    def set_state(self, state: str) -> None:
        """Set ``active``, ``reducing`` (orders that reduce positions only) or ``halted`` (no orders)."""

    def flatten(self) -> int:
        """Send orders that close every open position; return how many were sent."""


@dataclass(frozen=True)
class EscalationPolicy:
    """Which hard breaches halt trading, and whether a halt flattens the book first.

    Attributes
    ----------
    halt_types : tuple of str
        Limit types whose hard level trips the circuit breaker; other types only block.
    flatten_on_halt : bool
        Close every position when the breaker trips (then halt once flat).
    """

    halt_types: tuple[str, ...] = BOOK_TYPES
    flatten_on_halt: bool = True


@dataclass(frozen=True)
class LimitStatus:
    """One limit measured on the book: ``utilization`` is value / hard level (value / soft without a hard level)."""

    limit_id: str
    type: str
    scope: str
    target: str | None
    value: float
    soft: float | None
    hard: float | None
    utilization: float
    level: str  # "ok", "soft" or "hard"


@dataclass(frozen=True)
class Alert:
    """A limit that moved to a worse level this cycle, and what the monitor did about it."""

    ts_event: int
    limit_id: str
    level: str  # "soft", "hard", or "predicted" for a breach the model expects
    action: str  # "warn", "block" or "halt"
    message: str


@dataclass(frozen=True)
class MonitorSnapshot:
    """Everything one cycle measured; :meth:`as_event` is its streaming form."""

    ts_event: int
    equity: float
    day_pnl: float
    drawdown: float
    gross_exposure: float
    net_exposure: float
    leverage: float
    value_at_risk: float | None
    expected_shortfall: float | None
    exposures: pd.DataFrame
    limits: tuple[LimitStatus, ...]
    state: str
    breaker_tripped: bool
    breaker_reason: str | None
    alerts: tuple[Alert, ...] = ()
    seconds: float = 0.0
    breach_probabilities: dict[str, float] = field(default_factory=dict)
    volatility: float | None = None
    regime: str | None = None

    def limits_frame(self) -> pd.DataFrame:
        """Return the limit statuses as a table, most used first."""
        columns = list(LimitStatus.__dataclass_fields__)
        frame = pd.DataFrame([status.__dict__ for status in self.limits], columns=columns)
        return frame.sort_values("utilization", ascending=False, kind="stable").reset_index(drop=True)

    def as_event(self) -> dict[str, Any]:
        """Return the snapshot as a hub event (``kind`` ``RiskSnapshot``, JSON-ready)."""
        return {
            "kind": "RiskSnapshot", "ts_event": self.ts_event, "equity": self.equity, "day_pnl": self.day_pnl,
            "drawdown": self.drawdown, "gross_exposure": self.gross_exposure, "net_exposure": self.net_exposure,
            "leverage": self.leverage, "value_at_risk": self.value_at_risk,
            "expected_shortfall": self.expected_shortfall, "state": self.state,
            "breaker_tripped": self.breaker_tripped, "breaker_reason": self.breaker_reason,
            "exposures": self.exposures.to_dict("records"), "limits": [s.__dict__ for s in self.limits],
            "alerts": [a.__dict__ for a in self.alerts], "breach_probabilities": self.breach_probabilities,
            "volatility": self.volatility, "regime": self.regime,
        }  # fmt: skip


class CircuitBreaker:
    """Trips on a halting breach and stays tripped until an authorized person resets it.

    Parameters
    ----------
    audit : AuditTrail, optional
        Where trips and resets are recorded.
    authorize : callable, optional
        ``authorize(actor, "reset", None) -> bool``; anyone may reset when None.
    """

    def __init__(self, audit: AuditTrail | None = None,
                 authorize: Callable[[str, str, LimitConfig | None], bool] | None = None) -> None:
        self.audit = audit
        self.authorize = authorize
        self.tripped = False
        self.reason: str | None = None
        self.since: int | None = None
        self._lock = threading.Lock()

    def trip(self, reason: str, limit_id: str | None = None, ts_event: int | None = None) -> bool:
        """Trip the breaker (audited); return False when it was already tripped."""
        with self._lock:
            if self.tripped:
                return False
            self.tripped, self.reason, self.since = True, reason, ts_event or time.time_ns()
        if self.audit is not None:
            self.audit.append([AuditRecord("escalation", "risk-monitor", limit_id,
                                           {"action": "halt", "reason": reason}, self.since)])
        return True

    def reset(self, actor: str, note: str = "") -> None:
        """Reset a tripped breaker so trading may resume (audited).

        Raises
        ------
        QuantDeskError
            When the breaker is not tripped, or ``actor`` may not reset it.
        """
        if not isinstance(actor, str) or not actor.strip():
            raise QuantDeskError(f"actor={actor!r}: name the risk officer who resets the circuit breaker")
        if self.authorize is not None and not self.authorize(actor, "reset", None):
            raise QuantDeskError(f"{actor!r} may not reset the circuit breaker: ask a risk officer")
        with self._lock:
            if not self.tripped:
                raise QuantDeskError("The circuit breaker is not tripped: there is nothing to reset")
            reason = self.reason
            self.tripped, self.reason, self.since = False, None, None
        if self.audit is not None:
            self.audit.record("reset", actor, None, {"tripped_for": reason, "note": note})


@dataclass
class RiskMonitor:
    """Measure the checker's book against its limits each cycle; alert and escalate.

    Parameters
    ----------
    checker : PreTradeChecker
        The book and limits (the same object that checks orders, so a block applies at once).
    scenarios : ScenarioMatrix, optional
        Daily asset returns for VaR/ES of the book; without them VaR and ES limits are not measured.
    confidence : float
        VaR/ES confidence level.
    horizon : int
        VaR/ES horizon in days.
    method : {"historical", "parametric"}
        Which VaR/ES the ``var`` and ``expected_shortfall`` limits compare with.
    policy : EscalationPolicy
    breaker : CircuitBreaker
    controls : TradingControls, optional
        How to block, flatten and halt; without them the monitor only reports.
    on_alert : callable, optional
        Called with each new :class:`Alert`.
    forecaster : RiskForecaster, optional
        Breach probabilities of the loss limits each cycle (an alert when one reaches the
        model's threshold), and the book's volatility and regime; refreshed elsewhere.
    """

    checker: PreTradeChecker
    scenarios: ScenarioMatrix | None = None
    confidence: float = 0.99
    horizon: int = 1
    method: str = "historical"
    policy: EscalationPolicy = field(default_factory=EscalationPolicy)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    controls: TradingControls | None = None
    on_alert: Callable[[Alert], None] | None = None
    forecaster: RiskForecaster | None = None
    state: str = "active"
    last: MonitorSnapshot | None = None
    _levels: dict[str, str] = field(default_factory=dict)
    _predicted: set[str] = field(default_factory=set)

    def cycle(self, ts_event: int | None = None) -> MonitorSnapshot:
        """Run one cycle on the checker's current book and return what it measured."""
        started = time.perf_counter()
        ts_event = ts_event or time.time_ns()
        checker = self.checker
        checker.resync()
        positions = checker.positions()
        var = es = None
        if self.scenarios is not None and not positions.empty:
            by_asset = positions.groupby("instrument_id")["exposure"].sum()
            held = by_asset[by_asset.index.isin(self.scenarios.assets)]
            if len(held):
                estimate = self.scenarios.estimate(held, self.confidence, self.horizon, methods=(self.method,))
                var, es = estimate[self.method].value_at_risk, estimate[self.method].expected_shortfall
                checker.set_risk(var, es)
        elif self.scenarios is not None:
            var = es = 0.0
            checker.set_risk(0.0, 0.0)
        measures = BookMeasures(checker, positions)
        summary = measures.summary
        statuses = tuple(
            status for limit in checker.book.limits
            if (status := _status(limit, measures.value(limit, var, es))) is not None
        )  # fmt: skip
        alerts = self._escalate(statuses, ts_event)
        probabilities, volatility, regime = {}, None, None
        if self.forecaster is not None:
            predicted = self.forecaster.probabilities({status.limit_id: status.utilization for status in statuses})
            probabilities = {str(limit_id): float(p) for limit_id, p in predicted.items()}
            alerts += self._predicted_alerts(probabilities, ts_event)
            if self.forecaster.outlook is not None:
                volatility, regime = self.forecaster.outlook.volatility, self.forecaster.outlook.regime
        exposures = _exposures(positions)
        snapshot = MonitorSnapshot(
            ts_event, summary.equity, summary.equity - summary.day_start_equity,
            _ratio(summary.peak_equity - summary.equity, summary.peak_equity), summary.gross_exposure,
            summary.net_exposure, summary.leverage, var, es, exposures, statuses, self.state, self.breaker.tripped,
            self.breaker.reason, alerts, time.perf_counter() - started, probabilities, volatility, regime,
        )  # fmt: skip
        self.last = snapshot
        return snapshot

    def reset(self, actor: str, note: str = "") -> None:
        """Reset the circuit breaker (audited) and let trading resume; see :meth:`CircuitBreaker.reset`."""
        self.breaker.reset(actor, note)
        self._set_state("active")

    def _escalate(self, statuses: tuple[LimitStatus, ...], ts_event: int) -> tuple[Alert, ...]:
        alerts = []
        halting = [s for s in statuses if s.level == "hard" and s.type in self.policy.halt_types]
        blocking = [s for s in statuses if s.level == "hard" and s.type not in self.policy.halt_types]
        for status in statuses:
            before = self._levels.get(status.limit_id, "ok")
            self._levels[status.limit_id] = status.level
            if _rank(status.level) <= _rank(before):
                continue  # alert on the way up only
            action = "warn" if status.level == "soft" else ("halt" if status in halting else "block")
            message = (f"{status.level} level of {status.limit_id!r} ({status.type}) crossed: value "
                       f"{readable_number(status.value)} against {status.level} "
                       f"{readable_number(getattr(status, status.level))}")
            alerts.append(Alert(ts_event, status.limit_id, status.level, action, message))
        if halting and not self.breaker.tripped:
            first = halting[0]
            self.breaker.trip(f"{first.limit_id} ({first.type}) at {readable_number(first.value)} over its hard "
                              f"level {readable_number(first.hard)}", first.limit_id, ts_event)
            if self.controls is not None and self.policy.flatten_on_halt:
                self._set_state("reducing")
                self.controls.flatten()
        if self.breaker.tripped:
            flat = self.checker.summary().open_positions == 0
            self._set_state("halted" if flat or not self.policy.flatten_on_halt else "reducing")
        else:
            self._set_state("reducing" if blocking else "active")
        if self.checker.audit is not None and alerts:
            self.checker.audit.append([
                AuditRecord("breach" if a.level == "soft" else "escalation", "risk-monitor", a.limit_id,
                            {"action": a.action, "message": a.message}, ts_event)
                for a in alerts
            ])  # fmt: skip
        if self.on_alert is not None:
            for alert in alerts:
                self.on_alert(alert)
        return tuple(alerts)

    def _predicted_alerts(self, probabilities: dict[str, float], ts_event: int) -> tuple[Alert, ...]:
        """Warn once when a limit's breach probability reaches the model's threshold (again after it fell back)."""
        threshold = self.forecaster.model.threshold if self.forecaster.model is not None else 1.0
        alerts = []
        for limit_id, probability in probabilities.items():
            if probability >= threshold and limit_id not in self._predicted:
                alerts.append(Alert(ts_event, limit_id, "predicted", "warn",
                                    f"breach of {limit_id!r} predicted: probability {probability:.1%} within the "
                                    f"next interval (alert threshold {threshold:.1%})"))
        self._predicted = {limit_id for limit_id, p in probabilities.items() if p >= threshold}
        if alerts and self.checker.audit is not None:
            self.checker.audit.append([AuditRecord("breach", "risk-monitor", a.limit_id,
                                                   {"action": "predicted", "message": a.message}, ts_event)
                                       for a in alerts])
        if self.on_alert is not None:
            for alert in alerts:
                self.on_alert(alert)
        return tuple(alerts)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self.controls is not None:
                self.controls.set_state(state)


class BookMeasures:
    """The book's aggregates by instrument, sector and strategy, computed once per cycle; each limit is then a lookup.

    For a scope that covers several instruments, a per-instrument measure (position,
    concentration by instrument) is the largest over them. A strategy's exposures are over
    its own positions, as the pre-trade checker keeps them; other scopes net the instrument.
    """

    def __init__(self, checker: PreTradeChecker, positions: pd.DataFrame) -> None:
        self.summary = checker.summary()
        sectors = checker.book.config.instrument_sectors
        by_instrument = positions.groupby("instrument_id")[["quantity", "exposure"]].sum()
        self.quantity = by_instrument["quantity"].abs()
        self.exposure = by_instrument["exposure"]
        self.sector_of = self.exposure.index.map(sectors)
        self.sector_quantity = self.quantity.groupby(self.sector_of).max()
        self.sector_gross = self.exposure.abs().groupby(self.sector_of).sum()
        self.sector_net = self.exposure.groupby(self.sector_of).sum()
        self.sector_largest = self.exposure.abs().groupby(self.sector_of).max()
        by_strategy = positions.assign(gross=positions["exposure"].abs(), held=positions["quantity"].abs())
        grouped = by_strategy.groupby("strategy_id")
        self.strategy_quantity = grouped["held"].max()
        self.strategy_gross = grouped["gross"].sum()
        self.strategy_net = grouped["exposure"].sum()
        self.strategy_largest = grouped["gross"].max()

    def value(self, limit: LimitConfig, var: float | None = None, es: float | None = None) -> float | None:
        """Return what ``limit`` measures on the book as it stands (None for order limits, or VaR without scenarios)."""
        kind, summary = limit.type, self.summary
        if kind in ORDER_TYPES:
            return None
        if kind == "daily_loss":
            return max(0.0, summary.day_start_equity - summary.equity)
        if kind == "drawdown":
            return max(0.0, _ratio(summary.peak_equity - summary.equity, summary.peak_equity))
        if kind == "var":
            return var
        if kind == "expected_shortfall":
            return es
        quantity, gross, net, largest = self._slice(limit.scope, limit.target)
        if kind == "position":
            return quantity
        if kind == "gross_exposure":
            return gross
        if kind == "net_exposure":
            return abs(net)
        if kind == "leverage":
            return _ratio(gross, summary.equity)
        if kind == "concentration":
            book_gross = summary.gross_exposure
            if book_gross <= (limit.minimum_gross or 0.0):
                return 0.0
            if limit.by == "sector":
                return self._largest_sector(limit) / book_gross
            return largest / book_gross
        raise QuantDeskError(f"The monitor does not measure limit type {kind!r}")  # a new type must be added here

    def _slice(self, scope: str, target: str | None) -> tuple[float, float, float, float]:
        """Return (largest |quantity|, gross, net, largest |exposure|) of the scope's slice of the book."""
        if scope == "global":
            return (_max(self.quantity), self.summary.gross_exposure, self.summary.net_exposure,
                    _max(self.exposure.abs()))
        if scope == "instrument":
            exposure = float(self.exposure.get(target, 0.0))
            return float(self.quantity.get(target, 0.0)), abs(exposure), exposure, abs(exposure)
        if scope == "sector":
            return (float(self.sector_quantity.get(target, 0.0)), float(self.sector_gross.get(target, 0.0)),
                    float(self.sector_net.get(target, 0.0)), float(self.sector_largest.get(target, 0.0)))
        return (float(self.strategy_quantity.get(target, 0.0)), float(self.strategy_gross.get(target, 0.0)),
                float(self.strategy_net.get(target, 0.0)), float(self.strategy_largest.get(target, 0.0)))

    def _largest_sector(self, limit: LimitConfig) -> float:
        if limit.scope == "sector":
            return float(self.sector_gross.get(limit.target, 0.0))
        if limit.scope == "instrument":  # the instrument's own sector
            sector = self.sector_of[self.exposure.index.get_loc(limit.target)] if limit.target in self.exposure.index \
                else None
            return float(self.sector_gross.get(sector, 0.0)) if sector is not None else 0.0
        return _max(self.sector_gross)


def book_value(limit: LimitConfig, checker: PreTradeChecker, positions: pd.DataFrame, var: float | None = None,
               es: float | None = None) -> float | None:
    """Return what ``limit`` measures on the checker's book (see :class:`BookMeasures`; one-off use)."""
    return BookMeasures(checker, positions).value(limit, var, es)


def _max(values: pd.Series) -> float:
    return float(values.max()) if len(values) else 0.0


def _status(limit: LimitConfig, value: float | None) -> LimitStatus | None:
    if value is None:
        return None
    tolerance = 1e-9
    level = "ok"
    if limit.hard is not None and value > limit.hard * (1 + tolerance) + tolerance:
        level = "hard"
    elif limit.soft is not None and value > limit.soft * (1 + tolerance) + tolerance:
        level = "soft"
    reference = limit.hard if limit.hard is not None else limit.soft
    utilization = _ratio(value, reference) if reference else (math.inf if value > 0 else 0.0)
    return LimitStatus(limit.limit_id, limit.type, limit.scope, limit.target, float(value), limit.soft, limit.hard,
                       utilization, level)


def _exposures(positions: pd.DataFrame) -> pd.DataFrame:
    columns = ["instrument_id", "sector", "quantity", "price", "exposure"]
    if positions.empty:
        return pd.DataFrame(columns=columns)
    grouped = positions.groupby("instrument_id", sort=True).agg(
        sector=("sector", "first"), quantity=("quantity", "sum"), price=("price", "last"), exposure=("exposure", "sum")
    )
    return grouped.reset_index()[columns]


def _rank(level: str) -> int:
    return ("ok", "soft", "hard").index(level)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else (math.inf if numerator > 0 else 0.0)
