"""The risk monitor: book values of every limit type by hand, VaR from scenarios, alerts once, escalation and the breaker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.risk import (
    AuditTrail, CircuitBreaker, LimitBook, LimitConfig, PreTradeChecker, RiskLimitsConfig, RiskMonitor,
    ScenarioMatrix, book_value,
)  # fmt: skip

SECTORS = {"AAPL.XNAS": "Technology", "MSFT.XNAS": "Technology", "XOM.XNYS": "Energy"}


class RecordingControls:
    """Trading controls that remember what the monitor asked for (the live node's are tested in integration)."""

    def __init__(self, checker: PreTradeChecker | None = None) -> None:
        self.states: list[str] = []
        self.flattened = 0
        self.checker = checker

    def set_state(self, state: str) -> None:
        self.states.append(state)

    def flatten(self) -> int:
        self.flattened += 1
        return 0


def make_checker(*limits: LimitConfig, audit: AuditTrail | None = None) -> PreTradeChecker:
    checker = PreTradeChecker(LimitBook(RiskLimitsConfig(instrument_sectors=SECTORS, limits=list(limits)), audit=audit),
                              equity=100_000.0, audit=audit)  # fmt: skip
    # Alpha: long 300 AAPL at 100 and long 100 MSFT at 50; Beta: short 200 XOM at 50.
    checker.load_positions([("AAPL.XNAS", "Alpha", 300.0, 100.0), ("MSFT.XNAS", "Alpha", 100.0, 50.0),
                            ("XOM.XNYS", "Beta", -200.0, 50.0)])  # fmt: skip
    return checker


def value(limit: LimitConfig, checker: PreTradeChecker, var: float | None = None) -> float | None:
    return book_value(limit, checker, checker.positions(), var, None)


def test_book_values_of_every_type_equal_hand_computations() -> None:
    checker = make_checker()
    checker.set_equity(95_000.0)  # down 5,000 from the day's start and from the peak
    cases = [
        (LimitConfig(limit_id="p", type="position", hard=1), 300),  # the largest position
        (LimitConfig(limit_id="pi", type="position", scope="instrument", target="XOM.XNYS", hard=1), 200),
        (LimitConfig(limit_id="g", type="gross_exposure", hard=1), 30_000 + 5_000 + 10_000),
        (LimitConfig(limit_id="gs", type="gross_exposure", scope="sector", target="Technology", hard=1), 35_000),
        (LimitConfig(limit_id="gb", type="gross_exposure", scope="strategy", target="Beta", hard=1), 10_000),
        (LimitConfig(limit_id="n", type="net_exposure", hard=1), 25_000),
        (LimitConfig(limit_id="l", type="leverage", hard=1), 45_000 / 95_000),
        (LimitConfig(limit_id="c", type="concentration", hard=1), 30_000 / 45_000),
        (LimitConfig(limit_id="cs", type="concentration", by="sector", hard=1), 35_000 / 45_000),
        (LimitConfig(limit_id="c0", type="concentration", minimum_gross=50_000, hard=1), 0.0),
        (LimitConfig(limit_id="d", type="daily_loss", hard=1), 5_000),
        (LimitConfig(limit_id="dd", type="drawdown", hard=1), 0.05),
    ]
    for limit, expected in cases:
        assert value(limit, checker) == pytest.approx(expected), limit.limit_id
    assert value(LimitConfig(limit_id="v", type="var", hard=1), checker, var=1234.0) == 1234.0
    for order_type in ("order_quantity", "order_notional", "price_collar", "order_rate"):
        assert value(LimitConfig(limit_id="o", type=order_type, hard=1), checker) is None


def test_the_cycle_measures_var_of_the_held_book_from_the_scenarios() -> None:
    rng = np.random.default_rng(7)
    returns = pd.DataFrame(rng.normal(0, 0.01, (500, 3)), columns=list(SECTORS))
    checker = make_checker(LimitConfig(limit_id="var", type="var", hard=10_000.0))
    snapshot = RiskMonitor(checker, scenarios=ScenarioMatrix(returns), confidence=0.99).cycle()
    pnl = returns.to_numpy() @ np.array([30_000.0, 5_000.0, -10_000.0])
    k = int(np.ceil(500 * 0.01))  # the k-th worst day (risk.measures' convention)
    worst = np.sort(pnl)[:k]
    assert snapshot.value_at_risk == pytest.approx(-worst[-1])
    assert snapshot.expected_shortfall == pytest.approx(-worst.mean())
    assert checker.value_at_risk == snapshot.value_at_risk  # pre-trade VaR limits see the same figure
    status = snapshot.limits[0]
    assert status.utilization == pytest.approx(snapshot.value_at_risk / 10_000.0) and status.level == "ok"


def test_a_soft_level_alerts_once_and_again_only_after_it_was_clear(tmp_path: Path) -> None:
    audit = AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")
    checker = make_checker(LimitConfig(limit_id="gross", type="gross_exposure", soft=40_000, hard=60_000), audit=audit)
    alerts = []
    monitor = RiskMonitor(checker, controls=RecordingControls(), on_alert=alerts.append)
    first = monitor.cycle()
    assert [(a.limit_id, a.level, a.action) for a in first.alerts] == [("gross", "soft", "warn")]
    assert first.alerts[0].message == "soft level of 'gross' (gross_exposure) crossed: value 45,000 against soft 40,000"
    assert monitor.cycle().alerts == ()  # still soft: no repeat
    checker.on_fill("AAPL.XNAS", "Alpha", "SELL", 300, 100.0)  # gross 15,000: clear
    assert monitor.cycle().limits[0].level == "ok"
    checker.on_fill("AAPL.XNAS", "Alpha", "BUY", 300, 100.0)
    assert len(monitor.cycle().alerts) == 1
    assert len(alerts) == 2 and monitor.state == "active"
    assert list(audit.records(kind="breach")["limit_id"]) == ["gross", "gross"]


def test_a_hard_exposure_breach_blocks_new_risk_until_the_book_is_back_within_it() -> None:
    controls = RecordingControls()
    checker = make_checker(LimitConfig(limit_id="gross", type="gross_exposure", hard=40_000))
    monitor = RiskMonitor(checker, controls=controls)
    snapshot = monitor.cycle()
    assert snapshot.state == "reducing" and snapshot.alerts[0].action == "block"
    assert not monitor.breaker.tripped and controls.flattened == 0
    checker.on_fill("XOM.XNYS", "Beta", "BUY", 200, 50.0)  # gross 35,000
    assert monitor.cycle().state == "active"
    assert controls.states == ["reducing", "active"]


def test_a_hard_loss_breach_trips_the_breaker_flattens_then_halts_until_a_reset(tmp_path: Path) -> None:
    audit = AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")
    checker = make_checker(LimitConfig(limit_id="loss", type="daily_loss", soft=1_000, hard=4_000), audit=audit)
    controls = RecordingControls()
    officers = {"risk.officer"}
    monitor = RiskMonitor(checker, controls=controls,
                          breaker=CircuitBreaker(audit, authorize=lambda actor, action, limit: actor in officers))
    checker.set_equity(95_500.0)  # lost 4,500 today
    snapshot = monitor.cycle()
    assert snapshot.breaker_tripped and snapshot.state == "reducing" and controls.flattened == 1
    assert snapshot.breaker_reason == "loss (daily_loss) at 4,500 over its hard level 4,000"
    assert snapshot.alerts[0].action == "halt"
    for instrument, strategy, side, quantity, price in (("AAPL.XNAS", "Alpha", "SELL", 300, 100.0),
                                                         ("MSFT.XNAS", "Alpha", "SELL", 100, 50.0),
                                                         ("XOM.XNYS", "Beta", "BUY", 200, 50.0)):
        checker.on_fill(instrument, strategy, side, quantity, price)
    assert monitor.cycle().state == "halted"  # flat: nothing more may trade
    assert controls.flattened == 1  # flattened once, not every cycle
    with pytest.raises(QuantDeskError, match="'trader' may not reset the circuit breaker"):
        monitor.reset("trader")
    assert monitor.breaker.tripped
    checker.start_day()  # a new day: the loss counts from here
    monitor.reset("risk.officer", note="new day")
    assert monitor.state == "active" and not monitor.breaker.tripped and controls.states[-1] == "active"
    assert monitor.cycle().state == "active"
    with pytest.raises(QuantDeskError, match="not tripped"):
        monitor.reset("risk.officer")
    kinds = audit.records()["kind"].tolist()
    assert kinds.count("escalation") >= 1 and kinds[-1] == "reset"
    assert audit.records(kind="reset")["details"].iloc[0]["note"] == "new day"


def test_a_snapshot_streams_as_plain_json() -> None:
    import json

    checker = make_checker(LimitConfig(limit_id="gross", type="gross_exposure", soft=40_000, hard=60_000))
    event = RiskMonitor(checker).cycle().as_event()
    decoded = json.loads(json.dumps(event))
    assert decoded["kind"] == "RiskSnapshot" and decoded["limits"][0]["limit_id"] == "gross"
    assert {row["instrument_id"] for row in decoded["exposures"]} == set(SECTORS)
