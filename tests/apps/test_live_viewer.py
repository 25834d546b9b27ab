"""The Live Viewer in-process against a real paper node: streaming prices, order entry, the blotter, watchlists, IB."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import panel as pn
import pytest

from quantdesk.live import NodeConfig, OrderRequest, ReplayConfig
from quantdesk.live.service import LiveFeed, shared_feed, stop_shared_feed
from quantdesk.store import Watchlists
from quantdesk.streaming import hub
from quantdesk.testing import free_port
from quantdesk.ui.dashboards import LiveDashboard

INSTRUMENT = "AAPL.XNAS"
MAX_NOTIONAL = 100_000.0  # about 230 shares at the sample's prices: 100 pass, 1,000 are denied


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a generous bound so a stuck node fails instead of hanging)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture()
def feed(catalog_env: Path) -> Iterator[LiveFeed]:
    """The process's shared feed: a paper node on the session catalog with a per-order notional limit."""
    config = NodeConfig(name="paper", replay=ReplayConfig(instrument_ids=[INSTRUMENT], speed=60.0),
                        account_type="CASH", max_notional_per_order={INSTRUMENT: MAX_NOTIONAL})
    try:
        yield shared_feed(config)
    finally:
        stop_shared_feed()


@pytest.fixture()
def dashboard(feed: LiveFeed, tmp_path: Path) -> LiveDashboard:
    viewer = LiveDashboard(store_url=f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield viewer
    viewer.session_feed.close()


def test_bars_stream_into_the_chart_in_time_order(dashboard: LiveDashboard) -> None:
    assert dashboard.state == "running" and "REPLAY up" in dashboard.connections and "XNAS up" in dashboard.connections
    assert dashboard.instrument == INSTRUMENT
    wait_until(lambda: dashboard.chart.points >= 4, "four bars in the chart")
    bars = dashboard.chart.bars.data
    assert bars["time"].is_monotonic_increasing and bars["time"].is_unique
    # The chart holds exactly the bar closes the hub carried, at their event times.
    published = [e for e in hub(dashboard._feed.hub).recent({"Bar"}) if e["instrument_id"] == INSTRUMENT]
    by_time = {pd.Timestamp(e["ts_event"], unit="ns"): e["close"] for e in published}
    assert all(by_time[t] == close for t, close in zip(bars["time"], bars["close"], strict=True))
    # The watchlist row shows the newest quote and its change from the first price seen.
    wait_until(lambda: dashboard.quotes is not None and dashboard.quotes["bid"].notna().all(), "a quote in the watchlist")
    quote = [e for e in hub(dashboard._feed.hub).recent({"QuoteTick"}) if e["instrument_id"] == INSTRUMENT][-1]
    row = dashboard.quotes.set_index("instrument_id").loc[INSTRUMENT]
    if row["time"] == pd.Timestamp(quote["ts_event"], unit="ns", tz="UTC"):  # no newer quote arrived in between
        assert (row["bid"], row["ask"]) == (quote["bid"], quote["ask"])
        mid = (quote["bid"] + quote["ask"]) / 2
        assert row["change"] == pytest.approx(mid - dashboard._first[INSTRUMENT], abs=1e-4)
    dashboard.refresh()
    assert dashboard.last_data_time.endswith("UTC")
    pn.panel(dashboard).get_root()  # the whole layout renders to Bokeh models


def test_market_order_from_the_form_fills_and_shows_in_positions(dashboard: LiveDashboard, feed: LiveFeed) -> None:
    assert dashboard.to_config() == OrderRequest(INSTRUMENT, "BUY", 100, "MARKET", None, "GTC")
    dashboard.limit_price = 1.0  # a leftover limit price is not sent with a market order
    assert dashboard.to_config().price is None
    dashboard.param.trigger("submit")
    order_id = dashboard.last_order_id
    assert order_id and not dashboard.order_error
    wait_until(lambda: order_id in set(dashboard.fills["client_order_id"]), "the fill in the fills table")
    status = feed.node.order_status(order_id)
    fill = dashboard.fills.set_index("client_order_id").loc[order_id]
    assert status["status"] == "FILLED" and (fill["side"], fill["quantity"]) == ("BUY", 100.0)
    assert fill["price"] == status["avg_px"]
    wait_until(lambda: len(dashboard.positions) == 1, "the position")
    position = dashboard.positions.iloc[0]
    assert (position["instrument_id"], position["quantity"], position["avg_px_open"]) == (INSTRUMENT, 100.0, fill["price"])
    assert "unrealized_pnl" in dashboard.positions and "realized_pnl" in dashboard.positions
    # Cash paid: the USD balance fell by at least the notional (plus commission).
    usd = dashboard.account.set_index("currency").loc["USD"]
    assert usd["total"] <= 1_000_000 - 100 * fill["price"]
    wait_until(lambda: "filled 100" in dashboard.order_message, "the fill in the order status")


def test_limit_order_rests_and_is_cancelled(dashboard: LiveDashboard, feed: LiveFeed) -> None:
    wait_until(lambda: feed.node.last_quote(INSTRUMENT) is not None, "a quote")
    bid, _ = feed.node.last_quote(INSTRUMENT)
    price = round(bid * 0.8, 2)  # far below the market: it rests
    dashboard.param.update(order_type="LIMIT", limit_price=price, quantity=10)
    assert dashboard.to_config() == OrderRequest(INSTRUMENT, "BUY", 10, "LIMIT", price, "GTC")
    dashboard.param.trigger("submit")
    order_id = dashboard.last_order_id
    wait_until(lambda: order_id in set(dashboard.working_orders["client_order_id"]), "the working order")
    assert dashboard.working_orders.set_index("client_order_id").loc[order_id, "price"] == price
    assert dashboard.selected_order == order_id
    dashboard.param.trigger("cancel")
    wait_until(lambda: feed.node.order_status(order_id)["status"] == "CANCELED", "the cancel")
    wait_until(lambda: order_id not in set(dashboard.working_orders["client_order_id"]), "the working order to go")
    assert dashboard.orders.set_index("client_order_id").loc[order_id, "status"] == "CANCELED"
    assert dashboard.order_message == f"Order {order_id} is cancelled"
    dashboard.param.trigger("cancel")  # nothing left to cancel: said, not raised
    assert dashboard.order_error.startswith("Not cancelled: No working order selected")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": 0}, "Quantity 0 must be positive"),
        ({"quantity": -5}, "Quantity -5 must be positive"),
        ({"quantity": 1.5}, "Quantity 1.5 is not a multiple of AAPL.XNAS's increment 1"),
        ({"order_type": "LIMIT"}, "A limit order needs a price"),
        ({"order_type": "LIMIT", "limit_price": 100.005}, "Price 100.005 is not a multiple of AAPL.XNAS's increment 0.01"),
    ],
)
def test_bad_input_is_named_and_nothing_is_sent(dashboard: LiveDashboard, feed: LiveFeed, changes: dict, message: str) -> None:
    dashboard.param.update(**changes)
    dashboard.param.trigger("submit")
    assert dashboard.order_error.startswith("Not sent: ") and message in dashboard.order_error
    assert not dashboard.last_order_id and len(feed.node.orders()) == 0
    alerts = [pane for pane in dashboard._order_status().select(pn.pane.Alert) if pane.alert_type == "danger"]
    assert alerts and message in alerts[0].object  # an alert, not a traceback


def test_unknown_instrument_is_named(dashboard: LiveDashboard, feed: LiveFeed) -> None:
    dashboard.param.order_instrument.objects = [INSTRUMENT, "NOPE.XNAS"]  # as if the list were stale
    dashboard.order_instrument = "NOPE.XNAS"
    dashboard.param.trigger("submit")
    assert dashboard.order_error == "Not sent: Unknown instrument 'NOPE.XNAS': this node trades AAPL.XNAS"
    assert len(feed.node.orders()) == 0


def test_risk_engine_denial_is_shown_with_its_reason(dashboard: LiveDashboard, feed: LiveFeed) -> None:
    dashboard.quantity = 1000  # about 430,000 USD: over the node's 100,000 USD limit per order
    dashboard.param.trigger("submit")
    order_id = dashboard.last_order_id
    wait_until(lambda: dashboard.order_error, "the denial")
    assert dashboard.order_error.startswith(f"Order {order_id} was denied by the risk engine: NOTIONAL_EXCEEDS_MAX_PER_ORDER")
    assert feed.node.order_status(order_id)["status"] == "DENIED"
    assert order_id not in set(dashboard.fills["client_order_id"])


def test_watchlists_round_trip_through_the_store(dashboard: LiveDashboard, tmp_path: Path) -> None:
    assert dashboard.watchlist is None and list(dashboard.quotes["instrument_id"]) == [INSTRUMENT]
    dashboard.param.update(watchlist_name="  ", watchlist_instruments=[INSTRUMENT])
    dashboard.param.trigger("create_watchlist")
    assert dashboard.watchlist_message == "Not done: A watchlist needs a name: type one, e.g. 'Tech'"

    dashboard.param.update(watchlist_name="Tech", watchlist_instruments=["MSFT.XNAS", INSTRUMENT])
    dashboard.param.trigger("create_watchlist")
    assert dashboard.watchlist == "Tech" and dashboard.watchlist_message == "Created watchlist 'Tech'"
    assert list(dashboard.quotes["instrument_id"]) == ["MSFT.XNAS", INSTRUMENT]
    dashboard.param.update(watchlist_name="Tech")
    dashboard.param.trigger("create_watchlist")
    assert "exists already" in dashboard.watchlist_message

    dashboard.watchlist_instruments = [INSTRUMENT]
    dashboard.param.trigger("save_watchlist")
    assert list(dashboard.quotes["instrument_id"]) == [INSTRUMENT]

    # Another session (a new Viewer) reads the same store.
    other = LiveDashboard(store_url=dashboard.store_url)
    try:
        assert other.param.watchlist.objects == ["Tech"]
        other.watchlist = "Tech"
        assert other.watchlist_instruments == [INSTRUMENT]
        other.watchlist_instruments = ["NOPE.XNAS"]  # typed, not picked from the list
        other.param.trigger("save_watchlist")
        assert other.watchlist_message.startswith("Not done: Unknown instrument 'NOPE.XNAS': choose from AAPL.XNAS")
        other.param.trigger("delete_watchlist")
        assert other.watchlist is None and other.watchlist_message == "Deleted watchlist 'Tech'"
    finally:
        other.session_feed.close()
    assert Watchlists(dashboard.store_url).names() == []


def test_interactive_brokers_panel_says_what_is_missing(dashboard: LiveDashboard, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dashboard.ib_status.startswith("No Interactive Brokers Gateway configured: set QUANTDESK_IB_HOST")
    port = free_port()  # nothing listens there
    monkeypatch.setenv("QUANTDESK_IB_HOST", "127.0.0.1")
    monkeypatch.setenv("QUANTDESK_IB_PORT", str(port))
    dashboard.ib_search = "AAPL"
    dashboard.param.trigger("run_ib_search")
    assert dashboard.ib_status.startswith(f"No Interactive Brokers Gateway answers at 127.0.0.1:{port}")
    assert dashboard.ib_contracts is None


def test_in_redis_mode_the_blotter_follows_a_node_elsewhere_and_order_entry_says_where_it_belongs(
    catalog_env: Path, redis_service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node publishing to a real Redis (standing in for `quantdesk node run`), the dashboard following its stream."""
    from quantdesk.errors import QuantDeskError
    from quantdesk.live import LiveNode

    monkeypatch.setenv("QUANTDESK_REDIS_URL", redis_service.url)
    config = NodeConfig(name="elsewhere", replay=ReplayConfig(instrument_ids=[INSTRUMENT], speed=600.0),
                        account_type="CASH", redis_url=redis_service.url, stream_key="viewer-stream")
    stop_shared_feed()
    try:
        with LiveNode(config, hub="elsewhere") as node:
            feed = shared_feed(config)
            assert feed.node is None and feed.source is not None
            viewer = LiveDashboard(store_url=f"sqlite:///{catalog_env / 'viewer.sqlite'}")
            try:
                wait_until(lambda: INSTRUMENT in viewer._latest, "prices through Redis")
                with pytest.raises(QuantDeskError, match="another process"):
                    feed.require_node()
                order_id = node.submit_order(OrderRequest(INSTRUMENT, "BUY", 100))
                assert node.wait_for_order(order_id, until=("FILLED",))["status"] == "FILLED"
                wait_until(lambda: viewer.positions is not None and len(viewer.positions) == 1, "the position")
                position, reference = viewer.positions.iloc[0], node.positions().iloc[0]
                assert (position["quantity"], position["avg_px_open"]) == (100.0, reference["avg_px_open"])
                def filled() -> bool:
                    orders = viewer.orders
                    return orders is not None and "FILLED" in set(orders[orders["client_order_id"] == order_id]["status"])

                wait_until(filled, "the order's fill in the orders table")
                wait_until(lambda: viewer.account is not None and len(viewer.account) == 1, "the balance")
                assert viewer.account["total"].iloc[0] == pytest.approx(node.account()["total"].iloc[0])
            finally:
                viewer.session_feed.close()
    finally:
        stop_shared_feed()
