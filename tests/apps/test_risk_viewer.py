"""The Risk Viewer in-process against a real paper node with the packaged limits: snapshots, VaR history, edits, breaker."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models import Title

from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.live import LiveNode, NodeConfig, OrderRequest, ReplayConfig
from quantdesk.live.config import DEFAULT_LIMITS
from quantdesk.live.service import LiveFeed, shared_feed, stop_shared_feed
from quantdesk.risk import read_export
from quantdesk.ui.dashboards import RiskDashboard

INSTRUMENT = "AAPL.XNAS"


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a generous bound so a stuck node fails instead of hanging)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def node_config(name: str = "paper", **changes: object) -> NodeConfig:
    return NodeConfig(name=name, replay=ReplayConfig(instrument_ids=[INSTRUMENT], speed=600.0),
                      risk_limits=str(DEFAULT_LIMITS), risk_interval=0.2, record_trades=False, **changes)


@pytest.fixture()
def feed(catalog_env: Path) -> Iterator[LiveFeed]:
    """The process's shared feed: a paper node on the session catalog with the packaged limits, cycling fast."""
    try:
        yield shared_feed(node_config())
    finally:
        stop_shared_feed()


@pytest.fixture()
def dashboard(feed: LiveFeed) -> Iterator[RiskDashboard]:
    viewer = RiskDashboard()
    yield viewer
    viewer.session_feed.close()


def holding(dashboard: RiskDashboard, quantity: float) -> bool:
    exposures = (dashboard.snapshot or {}).get("exposures", [])
    return [(row["instrument_id"], row["quantity"]) for row in exposures] == [(INSTRUMENT, quantity)]


def test_a_snapshot_shows_utilization_exposure_and_the_var_history_of_the_book(
    dashboard: RiskDashboard, feed: LiveFeed, catalog_env: Path
) -> None:
    # Before any trade: every packaged limit is listed, and the VaR history stands in an index for the flat book.
    assert list(dashboard.limits["limit_id"])[:2] == ["order-quantity", "order-notional"] and len(dashboard.limits) == 14
    wait_until(lambda: dashboard.snapshot is not None, "the first snapshot")
    assert dashboard.var_source.startswith("The book is flat: a ") and "SPX.INDEX" in dashboard.var_source

    node = feed.node
    wait_until(lambda: node.last_quote(INSTRUMENT) is not None, "a quote")
    order = node.submit_order(OrderRequest(INSTRUMENT, "BUY", 300))
    assert node.wait_for_order(order, until=("FILLED", "DENIED"))["status"] == "FILLED"
    wait_until(lambda: holding(dashboard, 300.0), "the position in a snapshot")

    snapshot = dashboard.snapshot
    exposure = snapshot["exposures"][0]
    assert exposure["exposure"] == pytest.approx(300 * exposure["price"]) and exposure["sector"] == "Technology"
    limits = dashboard.limits.set_index("limit_id")
    # The position limit's utilization is its quantity over the hard level of 3,000 shares, by hand.
    assert limits.loc["aapl-position", "value"] == 300 and limits.loc["aapl-position", "utilization"] == pytest.approx(0.1)
    assert limits.loc["aapl-position", "level"] == "ok"
    measured = {row["limit_id"]: row for row in snapshot["limits"]}
    gross = measured["book-gross"]["value"]
    assert limits.loc["book-gross", "utilization"] == pytest.approx(gross / 2_000_000)
    assert limits.loc["order-rate", "level"] == "per order" and math.isnan(limits.loc["order-rate", "value"])
    # A single-instrument book over 100,000 USD is wholly concentrated: the soft level of 0.6 warns.
    assert limits.loc["instrument-share", "level"] == "soft"
    wait_until(lambda: dashboard.alerts is not None and "instrument-share" in set(dashboard.alerts["limit_id"]),
               "the concentration alert in the feed")
    alert = dashboard.alerts.set_index("limit_id").loc["instrument-share"]
    assert (alert["level"], alert["action"]) == ("soft", "warn")

    # The VaR history now measures the book: 300 shares' P&L on AAPL's daily closes, VaR from the 250 days before.
    wait_until(lambda: dashboard.var_source.startswith("Hypothetical P&L of the current book (AAPL.XNAS"), "the book's VaR")
    closes = bars_frame(open_catalog(catalog_env), f"{INSTRUMENT}-1-DAY-LAST-EXTERNAL")["close"]
    value = dashboard.history.exposures[INSTRUMENT]
    assert value == pytest.approx(300 * exposure["price"], rel=0.05)  # marked at a price of the replay, moments ago
    pnl = closes.pct_change().dropna() * value
    frame = dashboard.var_frame
    pd.testing.assert_series_equal(frame["profit_and_loss"], pnl.iloc[250:], check_names=False, check_freq=False)
    window = pnl.iloc[-251:-1].to_numpy()
    third_worst = np.sort(window)[2]  # ceil(250 x 1%) = 3: the third-worst day of the 250 before the last
    assert frame["value_at_risk"].iloc[-1] == pytest.approx(-third_worst)
    assert frame["expected_shortfall"].iloc[-1] == pytest.approx(-np.sort(window)[:3].mean())
    exceptions = int((frame["profit_and_loss"].iloc[-250:] < -frame["value_at_risk"].iloc[-250:]).sum())
    backtest = dashboard.backtest.set_index("figure")["value"]
    assert backtest["Exceptions (loss above VaR)"] == str(exceptions)
    # Basel's table: 0-4 exceptions in 250 days green, 5-9 yellow, 10 or more red.
    assert dashboard.zone == ("green" if exceptions <= 4 else "yellow" if exceptions <= 9 else "red")

    # Breach probabilities of the loss limits for the next day, from a replay of the same book through the closes.
    dashboard.param.trigger("estimate_breach")
    assert not dashboard.breach_message and not dashboard.breach_running
    outlook = dashboard.breach.set_index("limit_id")
    assert list(outlook.index) == ["daily-loss", "drawdown", "value-at-risk"]
    assert outlook["probability"].between(0, 1).all()
    assert list(outlook["alert"]) == list(outlook["probability"] >= 0.05)
    as_of = pd.Timestamp(dashboard.breach_quality.split("latest close, ")[1][:10], tz="UTC")
    before = pnl[pnl.index.normalize() <= as_of]
    assert before.index[-1].normalize() == as_of
    # By hand: the day's loss over 50,000, and tomorrow's VaR (the 3rd-worst of the 250 days to the close) over 60,000.
    assert outlook.loc["daily-loss", "utilization"] == pytest.approx(max(0.0, -before.iloc[-1]) / 50_000)
    assert outlook.loc["value-at-risk", "utilization"] == pytest.approx(-np.sort(before.iloc[-250:])[2] / 60_000)
    assert "precision" in dashboard.breach_quality and "ROC AUC" in dashboard.breach_quality

    dashboard.session_feed.close()  # no more updates from the hub's thread while the layout renders
    root = pn.panel(dashboard).get_root()
    titles = {model.text for model in root.select({"type": Title})}
    assert "Limit utilization" in titles and any(title.startswith("VaR/ES history") for title in titles), titles


def test_a_limit_edited_in_the_form_is_active_and_audited(dashboard: RiskDashboard, feed: LiveFeed) -> None:
    start = int(dashboard.audit["sequence"].max()) if len(dashboard.audit) else 0
    dashboard.load_limit("book-gross")
    assert (dashboard.limit_type, dashboard.scope, dashboard.soft, dashboard.hard) == ("gross_exposure", "global",
                                                                                       1_500_000, 2_000_000)
    dashboard.hard = 3_000_000.0
    dashboard.param.trigger("save")
    assert dashboard.limit_message.startswith("Not saved: actor=''")  # nobody named: nothing changes
    assert feed.node.limits.get("book-gross").hard == 2_000_000

    dashboard.actor = "risk.officer"
    assert dashboard.to_config().description == "sum of |quantity x price| over every position"  # kept from the file
    dashboard.param.trigger("save")
    assert dashboard.limit_message == "Saved limit 'book-gross': soft 1500000.0, hard 3000000.0"
    assert feed.node.limits.get("book-gross").hard == 3_000_000
    assert dashboard.limits.set_index("limit_id").loc["book-gross", "hard"] == 3_000_000
    row = dashboard.audit.iloc[0]
    assert (row["kind"], row["actor"], row["limit_id"]) == ("limit_change", "risk.officer", "book-gross")
    details = json.loads(row["details"])
    assert (details["before"]["hard"], details["after"]["hard"]) == (2_000_000, 3_000_000)

    dashboard.param.update(limit_id="msft-position", limit_type="position", scope="instrument", target="MSFT.XNAS",
                           soft=None, hard=500.0)
    dashboard.param.trigger("save")
    assert dashboard.limit_message == ("Not saved: Bad limits: limit 'msft-position' names unknown instrument "
                                       "'MSFT.XNAS': use a known instrument id (AAPL.XNAS)")
    alerts = [pane for pane in dashboard._messages().select(pn.pane.Alert) if pane.alert_type == "danger"]
    assert len(alerts) == 1 and "MSFT.XNAS" in alerts[0].object

    dashboard.param.update(limit_id="aapl-small", target=INSTRUMENT, soft=100.0, hard=50.0)
    dashboard.param.trigger("save")
    assert dashboard.limit_message == "Not saved: Limit 'aapl-small': soft=100.0 is above hard=50.0: the warning must come first"
    dashboard.soft = 20.0
    dashboard.param.trigger("save")
    assert "aapl-small" in set(dashboard.limits["limit_id"])
    dashboard.param.trigger("remove")
    assert dashboard.limit_message == "Removed limit 'aapl-small'"
    assert "aapl-small" not in {limit.limit_id for limit in feed.node.limits.limits}

    # Without a daily loss, drawdown or VaR limit there is nothing to predict, and the view says so.
    for limit_id in ("daily-loss", "drawdown", "value-at-risk", "expected-shortfall"):
        dashboard.limit_id = limit_id
        dashboard.param.trigger("remove")
    dashboard.param.trigger("estimate_breach")
    assert dashboard.breach_message == ("No breach probabilities: No limit of type daily_loss, drawdown, var with a hard "
                                        "level: breach probabilities are estimated for those; add one")

    mine = dashboard.audit[dashboard.audit["sequence"] > start].iloc[4:]  # before the four removals
    assert list(mine["limit_id"]) == ["aapl-small", "aapl-small", "book-gross"]  # newest first: removed, added, changed
    # The downloads are the trail's own exports, every record in them.
    for suffix in ("csv", "json"):
        path = Path(dashboard._trail.url.removeprefix("sqlite:///")).parent / f"downloaded.{suffix}"
        path.write_bytes(dashboard._export(suffix).getvalue())
        exported = read_export(path)
        path.unlink()
        assert list(exported["sequence"]) == list(dashboard._trail.records()["sequence"])
        assert set(mine["sequence"]) <= set(exported["sequence"])


def test_breaker_trips_on_a_loss_shows_in_the_view_and_is_reset_with_a_name(
    dashboard: RiskDashboard, feed: LiveFeed
) -> None:
    dashboard.param.trigger("reset")
    assert dashboard.breaker_message == "Not reset: actor='': name the risk officer who resets the circuit breaker"
    dashboard.actor = "risk.officer"
    dashboard.param.trigger("reset")
    assert dashboard.breaker_message == "Not reset: The circuit breaker is not tripped: there is nothing to reset"
    alerts = [pane for pane in dashboard._messages().select(pn.pane.Alert) if pane.alert_type == "danger"]
    assert len(alerts) == 1 and alerts[0].object == dashboard.breaker_message

    # Any trade loses half a spread at once: a daily loss limit of one cent trips the breaker.
    dashboard.param.update(limit_id="daily-loss", limit_type="daily_loss", scope="global", target="", soft=None, hard=0.01)
    dashboard.param.trigger("save")
    node = feed.node
    wait_until(lambda: node.last_quote(INSTRUMENT) is not None, "a quote")
    order = node.submit_order(OrderRequest(INSTRUMENT, "BUY", 100))
    assert node.wait_for_order(order, until=("FILLED", "DENIED"))["status"] == "FILLED"
    wait_until(lambda: dashboard.snapshot["state"] == "halted", "the halt")
    assert dashboard.snapshot["breaker_tripped"] and dashboard.snapshot["breaker_reason"].startswith("daily-loss (daily_loss)")
    text, colour = dashboard.status()
    assert colour == "danger" and text.startswith("**Circuit breaker tripped** · trading halted · daily-loss")
    wait_until(lambda: "halt" in set(dashboard.alerts["action"]), "the halt in the alerts feed")

    dashboard.param.update(soft=25_000.0, hard=50_000.0)
    dashboard.param.trigger("save")
    dashboard.note = "limit restored"
    dashboard.param.trigger("reset")
    assert dashboard.breaker_message == "Circuit breaker reset by risk.officer: trading may resume"
    reset = dashboard.audit.iloc[0]
    assert (reset["kind"], reset["actor"], json.loads(reset["details"])["note"]) == ("reset", "risk.officer",
                                                                                    "limit restored")
    wait_until(lambda: dashboard.snapshot["state"] == "active" and not dashboard.snapshot["breaker_tripped"],
               "trading to resume")


def test_in_redis_mode_snapshots_stream_and_changes_are_left_to_where_the_node_runs(
    catalog_env: Path, redis_service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node publishing to a real Redis (standing in for `quantdesk node run`), the dashboard following its stream."""
    monkeypatch.setenv("QUANTDESK_REDIS_URL", redis_service.url)
    config = node_config(name="elsewhere", redis_url=redis_service.url, stream_key="risk-viewer-stream")
    stop_shared_feed()
    try:
        with LiveNode(config, hub="elsewhere") as node:
            feed = shared_feed(config)
            assert feed.node is None
            viewer = RiskDashboard()
            try:
                wait_until(lambda: viewer.snapshot is not None, "a snapshot through Redis")
                assert len(viewer.limits) == 10  # the limits measured on the book; order limits stay with the node
                viewer.actor = "risk.officer"
                viewer.param.trigger("reset")
                assert viewer.breaker_message.startswith("Not reset: The node runs in another process")
                viewer.param.update(limit_id="book-gross", hard=1.0)
                viewer.param.trigger("save")
                assert viewer.limit_message.startswith("Not saved: The node runs in another process")
                assert node.limits.get("book-gross").hard == 2_000_000
                # The audit log is the store's trail, where the node writes it.
                changed = msgspec.structs.replace(node.limits.get("book-net"), soft=1_100_000.0)
                node.limits.set_limit(changed, actor="risk.officer")
                viewer.refresh_audit()
                newest = viewer.audit.iloc[0]
                assert (newest["kind"], newest["actor"], newest["limit_id"]) == ("limit_change", "risk.officer", "book-net")
            finally:
                viewer.session_feed.close()
    finally:
        stop_shared_feed()
