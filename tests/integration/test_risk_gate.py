"""The platform's pre-trade limits stand in front of Nautilus's risk engine, in backtests and in a live node alike."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest

from quantdesk.backtest import run_backtest
from quantdesk.backtest.examples import demo_spec
from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.config import BacktestSpec
from quantdesk.config.risk import LimitConfig, RiskLimitsConfig
from quantdesk.errors import QuantDeskError
from quantdesk.live import LiveNode, NodeConfig, OrderRequest, ReplayConfig
from quantdesk.risk import AuditTrail
from quantdesk.testing import sample_catalog

AAPL = "AAPL.XNAS"


def with_limits(*limits: LimitConfig) -> BacktestSpec:
    return msgspec.structs.replace(demo_spec(), risk_limits=RiskLimitsConfig(limits=list(limits)))


@pytest.fixture(scope="module")
def unlimited(catalog_root: Path):
    return run_backtest(demo_spec(), catalog_root)


def test_a_backtest_order_exactly_at_the_limit_trades_and_one_unit_under_it_is_denied(catalog_root: Path,
                                                                                       unlimited) -> None:
    at = run_backtest(with_limits(LimitConfig(limit_id="max-quantity", type="order_quantity", hard=100)), catalog_root)
    pd.testing.assert_frame_equal(at.fills, unlimited.fills)  # trade_size is 100: every order passes
    assert at.summary["ending_equity"] == unlimited.summary["ending_equity"]

    under = run_backtest(with_limits(LimitConfig(limit_id="max-quantity", type="order_quantity", hard=99)),
                         catalog_root)
    assert under.fills.empty and (under.orders["status"] == "DENIED").all() and len(under.orders) > 0
    assert under.summary["ending_equity"] == under.summary["starting_capital"]
    reason = under.orders["reason"].iloc[0]
    assert reason.startswith("hard limit 'max-quantity' (order_quantity, global): value 100 > threshold 99"), reason


def test_a_gross_exposure_limit_denies_exactly_the_buys_that_would_exceed_it(catalog_root: Path, unlimited) -> None:
    cap = 5_000.0
    run = run_backtest(with_limits(LimitConfig(limit_id="book-gross", type="gross_exposure", hard=cap)), catalog_root)
    closes = bars_frame(open_catalog(catalog_root), run.spec.bar_types[0], *run.spec.period())["close"]
    orders = run.orders.assign(close=closes.reindex(run.orders["ts_init"]).to_numpy())
    assert not np.isnan(orders["close"]).any()  # orders are made at bar closes and priced there
    buys = orders[orders["side"] == "BUY"]
    # From flat, a 100-share buy makes a gross exposure of 100 x the close it is checked at.
    expected_denied = 100 * buys["close"] > cap
    assert (buys["status"] == np.where(expected_denied, "DENIED", "FILLED")).all()
    assert expected_denied.any() and not expected_denied.all()  # the limit bites sometimes, not always
    assert (orders.loc[orders["side"] == "SELL", "status"] == "FILLED").all()  # a sell only closes a position
    assert len(run.fills) < len(unlimited.fills)


def test_limits_are_part_of_the_backtest_id_and_a_spec_file_may_name_a_limits_file(tmp_path: Path) -> None:
    (tmp_path / "limits.yaml").write_text("limits:\n  - {limit_id: max-quantity, type: order_quantity, hard: 99}\n")
    (tmp_path / "spec.yaml").write_text(
        "strategy: quantdesk.strategies.ema_cross:EMACross\ninstrument_ids: [AAPL.XNAS]\nbar_spec: 1-DAY-LAST\n"
        "risk_limits: limits.yaml\n"
    )
    spec = BacktestSpec.load(tmp_path / "spec.yaml")
    assert spec.risk_limits.limits[0].hard == 99
    assert spec.id != msgspec.structs.replace(spec, risk_limits=None).id
    (tmp_path / "limits.yaml").write_text("limits:\n  - {limit_id: max-quantity, type: order_quantity}\n")
    with pytest.raises(QuantDeskError, match=r"limits.yaml', line 2: .*hard"):
        BacktestSpec.load(tmp_path / "spec.yaml")


def test_a_live_node_denies_an_order_over_a_limit_with_the_reason_and_audits_it(tmp_path: Path) -> None:
    catalog = sample_catalog(tmp_path / "catalog")
    limits = tmp_path / "limits.yaml"
    # A MARGIN account: Nautilus's own notional check would ignore the limit, the platform's does not.
    limits.write_text(
        "limits:\n"
        "  - {limit_id: aapl-notional, type: order_notional, scope: instrument, target: AAPL.XNAS,"
        " soft: 20000, hard: 50000}\n"
    )
    config = NodeConfig(name="risk-gate-test", replay=ReplayConfig(instrument_ids=[AAPL], speed=3000.0),
                        catalog=str(catalog), risk_limits=str(limits), record_trades=False)
    with LiveNode(config) as node:
        deadline = time.monotonic() + 30
        while node.last_quote(AAPL) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        bid, ask = node.last_quote(AAPL)
        price = round(bid * 0.9, 2)  # a resting limit: its notional is quantity x this price exactly
        small = node.submit_order(OrderRequest(AAPL, "BUY", 10, order_type="LIMIT", price=price))
        assert node.wait_for_order(small, until=("ACCEPTED", "DENIED"))["status"] == "ACCEPTED"
        shares = int(50_000 // price) + 1  # one share over 50,000 USD
        big = node.submit_order(OrderRequest(AAPL, "BUY", shares, order_type="LIMIT", price=price))
        status = node.wait_for_order(big, until=("ACCEPTED", "DENIED"))
        assert status["status"] == "DENIED"
        expected = f"hard limit 'aapl-notional' (order_notional, instrument AAPL.XNAS): value {shares * price:,.2f} > "
        assert status["reason"].startswith(expected + "threshold 50,000"), status["reason"]
        assert node.risk_gate.decisions["reject"] == 1
        deadline = time.monotonic() + 10
        while not len(AuditTrail(f"sqlite:///{catalog / 'quantdesk.sqlite'}").records(kind="rejection")):
            assert time.monotonic() < deadline, "the rejection never reached the audit trail"
            time.sleep(0.2)
    record = AuditTrail(f"sqlite:///{catalog / 'quantdesk.sqlite'}").records(kind="rejection").iloc[0]
    assert record["limit_id"] == "aapl-notional"


def test_a_loss_over_its_hard_level_flattens_and_halts_the_node_until_a_risk_officer_resets(tmp_path: Path) -> None:
    catalog = sample_catalog(tmp_path / "catalog")
    limits = tmp_path / "limits.yaml"
    # Buying at the ask marks the position at the mid at once: any trade loses half a spread, over 0.01 USD.
    limits.write_text("limits:\n  - {limit_id: day-loss, type: daily_loss, hard: 0.01}\n")
    config = NodeConfig(name="risk-monitor-test", replay=ReplayConfig(instrument_ids=[AAPL], speed=3000.0),
                        catalog=str(catalog), risk_limits=str(limits), risk_interval=0.2, record_trades=False)
    snapshots: list[dict] = []
    from quantdesk.streaming import hub

    subscription = hub("risk-monitor-test").subscribe(snapshots.extend, window=0.02, kinds=["RiskSnapshot"])
    try:
        with LiveNode(config) as node:
            deadline = time.monotonic() + 30
            while node.last_quote(AAPL) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            order = node.submit_order(OrderRequest(AAPL, "BUY", 100))
            assert node.wait_for_order(order, until=("FILLED", "DENIED"))["status"] == "FILLED"
            deadline = time.monotonic() + 30
            while not (snapshots and snapshots[-1]["state"] == "halted"):
                assert time.monotonic() < deadline, snapshots[-1:] or "no snapshot"
                time.sleep(0.1)
            halted = snapshots[-1]
            assert halted["breaker_tripped"] and halted["breaker_reason"].startswith("day-loss (daily_loss)")
            assert node.positions().empty or (node.positions()["quantity"] == 0).all()  # flattened
            denied = node.submit_order(OrderRequest(AAPL, "BUY", 1))
            status = node.wait_for_order(denied, until=("FILLED", "DENIED"))
            assert status["status"] == "DENIED", status
            assert status["reason"].startswith("Trading is halted: the circuit breaker tripped on day-loss"), status
            # The hook that would ask the platform's roles: only the risk officer may reset.
            node.risk_monitor.breaker.authorize = lambda actor, action, limit: actor == "risk.officer"
            with pytest.raises(QuantDeskError, match="'trader' may not reset the circuit breaker"):
                node.reset_circuit_breaker("trader")
            node.limits.set_limit(LimitConfig(limit_id="day-loss", type="daily_loss", hard=1_000_000.0),
                                  actor="risk.officer")
            node.reset_circuit_breaker("risk.officer", note="limit raised")
            again = node.submit_order(OrderRequest(AAPL, "BUY", 1))
            assert node.wait_for_order(again, until=("FILLED", "DENIED"))["status"] == "FILLED"
    finally:
        hub("risk-monitor-test").unsubscribe(subscription)
    trail = AuditTrail(f"sqlite:///{catalog / 'quantdesk.sqlite'}").records()
    halt = trail[(trail["kind"] == "escalation") & (trail["actor"] == "risk-monitor")]
    assert halt["limit_id"].iloc[0] == "day-loss"
    assert trail.loc[trail["kind"] == "limit_change", "actor"].tolist() == ["risk.officer"]
    reset = trail[trail["kind"] == "reset"]
    assert reset["actor"].tolist() == ["risk.officer"] and reset["details"].iloc[0]["note"] == "limit raised"
    assert trail.index[trail["kind"] == "reset"][0] > halt.index[0]  # in the order they happened


def test_a_node_with_dynamic_rules_scales_its_var_limit_and_streams_breach_probabilities(tmp_path: Path) -> None:
    catalog = sample_catalog(tmp_path / "catalog")
    (tmp_path / "limits.yaml").write_text(
        "limits:\n"
        "  - {limit_id: day-loss, type: daily_loss, hard: 50000}\n"
        "  - {limit_id: book-var, type: var, soft: 40000, hard: 60000}\n"
    )
    (tmp_path / "dynamic.yaml").write_text(
        "rules:\n  - {limit_id: book-var, rule: volatility, base_soft: 40000, base_hard: 60000,"
        " reference_volatility: 0.001, minimum_multiplier: 0.1}\n"
    )
    config = NodeConfig(name="risk-forecast-test", replay=ReplayConfig(instrument_ids=[AAPL], speed=3000.0),
                        catalog=str(catalog), risk_limits=str(tmp_path / "limits.yaml"),
                        dynamic_limits=str(tmp_path / "dynamic.yaml"), risk_interval=0.2, record_trades=False)
    from quantdesk.streaming import hub

    snapshots: list[dict] = []
    subscription = hub("risk-forecast-test").subscribe(snapshots.extend, window=0.02, kinds=["RiskSnapshot"])
    try:
        with LiveNode(config) as node:
            deadline = time.monotonic() + 120
            while not (snapshots and snapshots[-1]["breach_probabilities"]):
                assert time.monotonic() < deadline, node.forecast_problem or "no breach probabilities streamed"
                time.sleep(0.2)
            latest = snapshots[-1]
            assert set(latest["breach_probabilities"]) == {"day-loss", "book-var"}
            assert latest["volatility"] > 0.001 and latest["regime"] in ("low", "normal", "high")
            # AAPL's daily volatility is far above the 0.1% reference: the VaR limit tightens to its floor share.
            expected = 60_000 * max(0.001 / latest["volatility"], 0.1)
            assert node.limits.get("book-var").hard == pytest.approx(expected)
    finally:
        hub("risk-forecast-test").unsubscribe(subscription)
    change = AuditTrail(f"sqlite:///{catalog / 'quantdesk.sqlite'}").records(kind="limit_change").iloc[-1]
    assert change["actor"] == "dynamic-limits" and change["limit_id"] == "book-var"


def test_dynamic_rules_for_an_undeclared_limit_are_refused_before_the_node_starts(tmp_path: Path,
                                                                                   catalog_root: Path) -> None:
    (tmp_path / "limits.yaml").write_text("limits:\n  - {limit_id: day-loss, type: daily_loss, hard: 50000}\n")
    (tmp_path / "dynamic.yaml").write_text(
        "rules:\n  - {limit_id: book-var, rule: volatility, base_hard: 60000, reference_volatility: 0.01}\n")
    config = NodeConfig(replay=ReplayConfig(instrument_ids=[AAPL]), catalog=str(catalog_root),
                        risk_limits=str(tmp_path / "limits.yaml"), dynamic_limits=str(tmp_path / "dynamic.yaml"))
    with pytest.raises(QuantDeskError, match=r"name limits \['book-var'\] that .*limits.yaml' does not declare"):
        LiveNode(config)
